package ops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"golang.org/x/sys/unix"
)

// testNow is a fixed start time for logs made by hand.
var testNow = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// readLog reads a log file.
func readLog(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantLines fails the test for each of want that the log lacks.
func wantLines(t *testing.T, what, log string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("the %s log lacks %q:\n%s", what, w, log)
		}
	}
}

// TestJobLogs captures a GPT disk with an ext4 file system (a sparse
// file) into a repository, restores it onto a new file and verifies it,
// each with its log: every log goes into the repository's logs directory,
// is written as the job goes (the header is in the file before the job
// runs) and ends with its result and a summary. The repository is then
// made read-only (a read-only bind mount of it): a verification's log goes
// to the fallback directory and says why.
func TestJobLogs(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := testutil.Sparse(t, "src.img", 64<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+40M", "-t1:8300", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "40M")
	repoDir := filepath.Join(dir, "repo")
	fallback := filepath.Join(dir, "fallback")

	cj, err := PrepareCapture(Env{Tool: "lifeboat test"}, CaptureRequest{Source: src, Repo: repoDir, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer cj.Close()
	l, err := cj.StartLog(LogDirs(repoDir, fallback))
	if err != nil {
		t.Fatal(err)
	}
	if l.NotIn != "" || filepath.Dir(l.Path()) != filepath.Join(repoDir, "logs") {
		t.Errorf("the capture's log is %s (not in the repository because %q), want it in %s/logs", l.Path(), l.NotIn, repoDir)
	}
	// Written as it goes: a crash now would leave the beginning.
	wantLines(t, "started capture", readLog(t, l.Path()), "capture of laptop", "source: "+src, "repository: "+repoDir)
	tr := &progress.Tracker{}
	l.Follow(tr)
	m, err := cj.Run(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	LogCaptured(l, m)
	p, err := l.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	log := readLog(t, p)
	t.Logf("the capture's log, %s:\n%s", p, log)
	wantLines(t, "capture", log, "image id: "+m.ID.String(), "partition 1: ext4", "stage: ", "stage done: ", "result: ok", "summary: {")
	sum, err := joblog.ReadSummary(p)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Op != "capture" || sum.Image != "laptop" || sum.ImageID != m.ID.String() || sum.Result != "ok" ||
		sum.Source == nil || sum.Source.Path != src || sum.Source.Size != 64<<20 || len(sum.Stages) == 0 || sum.Repo != repoDir {
		t.Errorf("capture summary %+v", sum)
	}

	tgt := filepath.Join(dir, "restored.img")
	rj, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "laptop", Target: tgt, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rj.Close()
	l, err = rj.StartLog(LogDirs(repoDir, fallback))
	if err != nil {
		t.Fatal(err)
	}
	tr = &progress.Tracker{}
	l.Follow(tr)
	res, err := rj.Run(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	LogRestored(l, res)
	if p, err = l.Finish(nil); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "restore", readLog(t, p), "restore of laptop", "target: "+tgt, "image id: "+m.ID.String(), "plan: keep layout", "wrote ", "verified: ", "result: ok")
	if sum, err = joblog.ReadSummary(p); err != nil {
		t.Fatal(err)
	}
	if sum.Target == nil || sum.Target.Path != tgt || sum.Result != "ok" {
		t.Errorf("restore summary %+v", sum)
	}
	if filepath.Dir(p) != filepath.Join(repoDir, "logs") {
		t.Errorf("the restore's log is %s, want it in the repository", p)
	}

	// The repository, read-only.
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(repoDir, ro, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	if err := unix.Mount("", ro, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	req := VerifyRequest{Repo: ro, Name: "laptop"}
	l, err = StartVerifyLog(LogDirs(ro, fallback), req)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(l.Path()) != fallback || l.NotIn != filepath.Join(ro, "logs")+": read-only file system" {
		t.Errorf("with the repository read-only the log is %s (not in the repository because %q), want it in %s because the file system is read-only", l.Path(), l.NotIn, fallback)
	}
	vr, err := Verify(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	LogVerified(l, vr)
	if p, err = l.Finish(nil); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "verify", readLog(t, p), "verify of laptop", "chunks: ", "0 problems", "result: ok")
	if ents, err := os.ReadDir(filepath.Join(repoDir, "logs")); err != nil || len(ents) != 2 {
		t.Errorf("the repository holds %d logs (%v), want the capture's and the restore's", len(ents), err)
	}
}

// TestJobLogFailure: a job that fails says so at the end of its log, and
// when no directory can be written Create says why for each.
func TestJobLogFailure(t *testing.T) {
	dir := t.TempDir()
	l, err := joblog.Create([]string{dir}, "restore", "../odd name", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(l.Path()) != dir || strings.Contains(filepath.Base(l.Path()), "/") {
		t.Errorf("log %s, want a file directly in %s", l.Path(), dir)
	}
	l.Warn("the target's partition table could not be read")
	p, err := l.Finish(context.Canceled)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := joblog.ReadSummary(p)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Result != "cancelled" || sum.Warnings != 1 {
		t.Errorf("summary %+v, want cancelled with 1 warning", sum)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := joblog.Create([]string{filepath.Join(notDir, "logs")}, "capture", "x", testNow); err == nil || !strings.Contains(err.Error(), notDir) {
		t.Errorf("Create under a file: %v, want an error naming it", err)
	}
}
