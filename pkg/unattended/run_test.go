package unattended

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
)

// TestRunKeepsLogs runs a capture, then a restore and a verification,
// as the kernel command line would, between two loop devices and a
// repository directory: each job leaves its log in the repository's logs
// directory, with its disk by path, and Logf says where.
func TestRunKeepsLogs(t *testing.T) {
	testutil.Root(t)
	src := testutil.Sparse(t, "src.img", 64<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+40M", "-t1:8300", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "40M")
	srcDev := testutil.Loop(t, src, 0)
	tgtDev := testutil.Loop(t, testutil.Sparse(t, "tgt.img", 64<<20), 0)
	repoDir := filepath.Join(t.TempDir(), "repo")
	var said []string
	cfg := Config{Env: ops.Env{Tool: "lifeboat test"}, Logf: func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }}
	p := &Plan{Jobs: []string{JobCapture}, Repo: RepoSpec{Dir: repoDir}, Image: "fleet", Source: DiskSpec{Path: srcDev}}
	if err := Run(context.Background(), p, cfg); err != nil {
		t.Fatal(err)
	}
	p = &Plan{Jobs: []string{JobRestore, JobVerify}, Repo: RepoSpec{Dir: repoDir}, Image: "fleet", Target: DiskSpec{Path: tgtDev}}
	if err := Run(context.Background(), p, cfg); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(repoDir, "logs", "*.log"))
	if err != nil || len(logs) != 3 {
		t.Fatalf("logs %q, %v; want 3", logs, err)
	}
	ops := map[string]joblog.Summary{}
	for _, l := range logs {
		s, err := joblog.ReadSummary(l)
		if err != nil {
			t.Fatal(err)
		}
		ops[s.Op] = s
		if !strings.Contains(strings.Join(said, "\n"), "log saved in "+l) {
			t.Errorf("Logf never said where %s is:\n%s", l, strings.Join(said, "\n"))
		}
	}
	if s := ops["capture"]; s.Result != "ok" || s.Source == nil || s.Source.Path != srcDev {
		t.Errorf("capture log %+v", s)
	}
	if s := ops["restore"]; s.Result != "ok" || s.Target == nil || s.Target.Path != tgtDev {
		t.Errorf("restore log %+v", s)
	}
	if s := ops["verify"]; s.Result != "ok" {
		t.Errorf("verify log %+v", s)
	}
	if b, _ := os.ReadFile(logs[0]); !strings.Contains(string(b), "result: ok") {
		t.Errorf("log %s:\n%s", logs[0], b)
	}
}
