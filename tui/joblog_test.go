package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
)

// TestJobsKeepLogs captures a disk through the UI: the job's summary says
// its log is in the repository's logs directory, and the log there ends
// with the result. The repository is then offered read-only (a read-only
// bind mount of it): a verification of the image says its log went to the
// system's temporary directory, and why.
func TestJobsKeepLogs(t *testing.T) {
	testutil.Root(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	a := gptDisk(t, "laptop.img", 1)
	repoDir := filepath.Join(t.TempDir(), "repo")
	h := start(t, Config{Files: []string{a}, Repos: []string{repoDir}})

	h.toCaptureSummary(a, repoDir, "laptop")
	h.key(tcell.KeyEnter)
	s := h.waitFor("finished in", "The job's log is in")
	logs, err := filepath.Glob(filepath.Join(repoDir, "logs", "*-capture-laptop.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("logs in the repository: %q, %v\n%s", logs, err, s)
	}
	if !strings.Contains(squeeze(s), logs[0]) {
		t.Errorf("the summary does not name the log %s:\n%s", logs[0], s)
	}
	sum, err := joblog.ReadSummary(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if sum.Op != "capture" || sum.Result != "ok" || sum.Source == nil || sum.Source.Path != a {
		t.Errorf("capture log summary %+v", sum)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	h.stopUI()

	ro := filepath.Join(t.TempDir(), "ro")
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
	h = start(t, Config{Repos: []string{ro}})
	h.waitFor("Disks")
	h.typeText("i")
	h.waitFor("laptop")
	h.typeText("v")
	s = h.waitFor("chunks present and intact", "The job's log is in", "read-only file system")
	if !strings.Contains(squeeze(s), filepath.Join(tmp, "lifeboat-logs")+"/") || !strings.Contains(squeeze(s), "-verify-laptop.log") {
		t.Errorf("the verify summary does not name a log in lifeboat-logs:\n%s", s)
	}
	vl, err := filepath.Glob(filepath.Join(tmp, "lifeboat-logs", "*-verify-laptop.log"))
	if err != nil || len(vl) != 1 {
		t.Fatalf("verify logs in %s: %q, %v", tmp, vl, err)
	}
	if sum, err := joblog.ReadSummary(vl[0]); err != nil || sum.Result != "ok" || sum.Op != "verify" {
		t.Errorf("verify log summary %+v, %v", sum, err)
	}
}

// TestFoundRepositoryTakesLogs restores an image from a repository the
// finder found on a disk (mounted read-only to look): the UI makes it
// writable for the job's log, as for a capture, and the log is on the disk

// foundRepoDisk makes an ext4 USB-disk-like loop device holding a
// repository in lifeboat/ with src captured as each of names, unmounted,
// and a finder that looks at it alone; mnt is a directory to mount it on
// afterwards.
func foundRepoDisk(t *testing.T, src string, names ...string) (dev, mnt string, find *repofind.Finder) {
	t.Helper()
	usb := testutil.Sparse(t, "usb.img", 256<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "STICK", usb)
	dev = testutil.Loop(t, usb, 0)
	mnt = t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	for _, n := range names {
		job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: src, Repo: filepath.Join(mnt, "lifeboat"), Name: n})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := job.Run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		job.Close()
	}
	testutil.Run(t, "umount", mnt)
	name := filepath.Base(dev)
	find = &repofind.Finder{
		MountRoot: filepath.Join(t.TempDir(), "mnt"),
		Filter:    func(d inventory.Disk) bool { return d.Name == name },
	}
	return dev, mnt, find
}

// when the UI has stopped and unmounted it.
func TestFoundRepositoryTakesLogs(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 7)
	b := testutil.Sparse(t, "spare.img", 64<<20)
	dev, mnt, find := foundRepoDisk(t, a, "first")
	name := filepath.Base(dev)
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Files: []string{a, b}, Find: find})
	h.waitFor(name, "repo")
	h.typeText("i")
	h.waitFor("found on "+dev+" (ext4)", "first")
	h.typeText("r")
	h.waitFor("2/3 choose the disk")
	h.selectTarget(b)
	h.waitFor("DESTROY", "Type spare.img")
	h.typeText("spare.img")
	h.key(tcell.KeyEnter)
	s := h.waitFor("finished in", "The job's log is in")
	if strings.Contains(s, "Not in the repository") {
		t.Errorf("the log did not go to the found repository:\n%s", s)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	h.stopUI()

	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	logs, err := filepath.Glob(filepath.Join(mnt, "lifeboat", "logs", "*-restore-first.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("restore logs on %s: %q, %v", dev, logs, err)
	}
	if sum, err := joblog.ReadSummary(logs[0]); err != nil || sum.Result != "ok" || sum.Target == nil || sum.Target.Path != b {
		t.Errorf("restore log summary %+v, %v", sum, err)
	}
}

// TestLogGoesToBootStick verifies an image in a repository that cannot be
// written (a read-only bind mount) while a repository the finder found is
// on the disk Lifeboat booted from (the stick's data partition, here a
// loop device named a boot device): the log goes to the stick, made
// writable for it, and the summary says why it is not in the repository.
func TestLogGoesToBootStick(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 9)
	repoDir := filepath.Join(t.TempDir(), "repo")
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: a, Repo: repoDir, Name: "office"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	job.Close()
	ro := filepath.Join(t.TempDir(), "ro")
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

	stick := testutil.Sparse(t, "stick.img", 256<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "LIFEBOAT", stick)
	dev := testutil.Loop(t, stick, 0)
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	if _, err := repo.Create(filepath.Join(mnt, "lifeboat")); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "umount", mnt)

	name := filepath.Base(dev)
	src := inventory.DefaultSource()
	src.BootDevices = []string{name}
	find := &repofind.Finder{
		MountRoot: filepath.Join(t.TempDir(), "mnt"),
		Source:    src,
		Filter:    func(d inventory.Disk) bool { return d.Name == name },
	}
	h := start(t, Config{Env: ops.Env{Inventory: src}, Repos: []string{ro}, Find: find})
	h.waitFor(name)
	h.typeText("i")
	h.waitFor("found on "+dev+" (ext4)", "office")
	h.typeText("v")
	s := h.waitFor("chunks present and intact", "The job's log is in", "/lifeboat/logs/", "read-only")
	if !strings.Contains(squeeze(s), filepath.Join(ro, "logs")+":read-only") {
		t.Errorf("the summary does not say why the log is not in %s:\n%s", ro, s)
	}
	h.key(tcell.KeyEnter)
	h.key(tcell.KeyEscape)
	h.waitFor("q quit")
	h.stopUI()

	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	logs, err := filepath.Glob(filepath.Join(mnt, "lifeboat", "logs", "*-verify-office.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("verify logs on the stick %s: %q, %v\n%s", dev, logs, err, s)
	}
	if sum, err := joblog.ReadSummary(logs[0]); err != nil || sum.Result != "ok" || sum.Repo != ro {
		t.Errorf("verify log summary %+v, %v", sum, err)
	}
}

// squeeze is the screen's text with every blank and box line taken out,
// so that a path the screen wrapped over lines reads whole.
func squeeze(screen string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '║' || r == '│' {
			return -1
		}
		return r
	}, screen)
}

// TestManageFoundRepository: the finder mounts the repositories it finds
// read-only; a note, a delete and a prune there make it writable first
// (they failed with "read-only file system" before).
func TestManageFoundRepository(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 7)
	dev, mnt, find := foundRepoDisk(t, a, "first", "second")
	name := filepath.Base(dev)
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Files: []string{a}, Find: find})
	h.waitFor(name, "repo")
	h.typeText("i")
	h.waitFor("found on "+dev+" (ext4)", "first", "second", "d delete")
	h.typeText("n")
	h.waitFor("Image note", "Note:")
	h.typeText("kept for the audit")
	h.key(tcell.KeyEnter)
	h.waitFor("kept for the audit", "d delete")
	h.typeText("d")
	h.waitFor("Delete image", "Type the image's name")
	s := h.text()
	img := "first"
	if strings.Contains(s, "Delete image second") {
		img = "second"
	}
	h.typeText(img)
	h.key(tcell.KeyEnter)
	h.waitFor("Image "+img+" deleted", "Reclaimed")
	h.key(tcell.KeyEnter)
	h.waitFor("d delete")
	h.stopUI()

	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	r, err := repo.Open(filepath.Join(mnt, "lifeboat"))
	if err != nil {
		t.Fatal(err)
	}
	names, _ := r.Images()
	if len(names) != 1 || names[0] == img {
		t.Fatalf("images on %s after deleting %s: %v", dev, img, names)
	}
}
