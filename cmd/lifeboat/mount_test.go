package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// buildLifeboat builds the lifeboat command, for tests of what runs in a
// process of its own (a background mount).
func buildLifeboat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lifeboat")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// leftOf lists what is left of a mount at dir: mounts under it, loop
// devices over its disk file, processes naming it.
func leftOf(dir string) []string {
	var left []string
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			left = append(left, "mount "+f[4])
		}
	}
	loops, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, p := range loops {
		if b, _ := os.ReadFile(p); strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/") {
			left = append(left, "loop "+p)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(dir)) {
			left = append(left, "process "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}

// waitGone waits a few seconds for everything of a mount at dir to go
// (driver daemons exit a moment after their unmount), then fails with what
// is left.
func waitGone(t *testing.T, dir string) {
	t.Helper()
	var left []string
	for i := 0; i < 50; i++ {
		if left = leftOf(dir); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left of the mount at %s: %v", dir, left)
}

// TestMountAndFiles: an image of a disk with six kinds of file systems
// mounted in the background shows every file as it was; files ls and cp
// read it without a mount of the user's own; a delete of the image waits
// while it is mounted; umount leaves nothing; a mount process killed with
// SIGKILL is cleaned up by umount; a foreground mount ends on Ctrl-C.
func TestMountAndFiles(t *testing.T) {
	testutil.Root(t)
	src, parts := testutil.FilledDisk(t, "filled.img")
	repoDir := filepath.Join(t.TempDir(), "repo")
	if r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "golden", src); r.code != 0 {
		t.Fatal(r)
	}
	bin := buildLifeboat(t)
	dir := filepath.Join(t.TempDir(), "golden")

	mountBG := func() mountResult {
		t.Helper()
		out, err := exec.Command(bin, "mount", "--repo", repoDir, "--name", "golden", "--background", "--json", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("mount --background: %v\n%s", err, out)
		}
		var res mountResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res
	}
	umount := func() {
		t.Helper()
		if out, err := exec.Command(bin, "umount", dir).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v\n%s", err, out)
		}
		waitGone(t, dir)
	}

	res := mountBG()
	if len(res.Parts) != len(parts) {
		t.Fatalf("mounted %+v", res.Parts)
	}
	for i, p := range parts {
		if res.Parts[i].Error != "" {
			t.Errorf("partition %d: %s", p.Number, res.Parts[i].Error)
			continue
		}
		testutil.CompareTree(t, p.Files, res.Parts[i].Path, p.FSType)
	}
	if r := lifeboat(t, "", "delete", "--repo", repoDir, "--name", "golden", "--yes"); r.code == 0 || r.err == nil || !strings.Contains(r.err.Error(), "browse of image golden") {
		t.Errorf("delete while mounted: %v", r)
	}
	umount()
	if out, err := exec.Command(bin, "umount", dir).CombinedOutput(); err == nil {
		t.Errorf("umount of nothing succeeded: %s", out)
	}

	// files, on the NTFS partition.
	ntfs := parts[3]
	var big testutil.FileInfo
	for _, f := range ntfs.Files {
		if f.Size > big.Size {
			big = f
		}
	}
	r := lifeboat(t, "", "files", "ls", "--repo", repoDir, "--name", "golden")
	if r.code != 0 || !strings.Contains(r.stdout, `"LBNTFS"`) {
		t.Errorf("files ls of the partitions: %v", r)
	}
	r = lifeboat(t, "", "files", "ls", "--repo", repoDir, "--name", "golden", "--part", "4", "/"+filepath.Dir(big.Path))
	if r.code != 0 || !strings.Contains(r.stdout, filepath.Base(big.Path)) {
		t.Errorf("files ls: %v", r)
	}
	out := t.TempDir()
	r = lifeboat(t, "", "files", "cp", "--repo", repoDir, "--name", "golden", "--part", "4", big.Path, out)
	if r.code != 0 {
		t.Fatal(r)
	}
	if sum := testutil.HashFile(t, filepath.Join(out, filepath.Base(big.Path)), -1); sum != big.SHA256 {
		t.Errorf("files cp: %s, want %s", sum, big.SHA256)
	}
	r = lifeboat(t, "", "files", "cp", "--repo", repoDir, "--name", "golden", "--part", "5", "-r", "/", filepath.Join(out, "xfs"))
	if r.code != 0 {
		t.Fatal(r)
	}
	testutil.CompareTree(t, parts[4].Files, filepath.Join(out, "xfs"), "xfs")

	// Killed.
	res = mountBG()
	if err := syscall.Kill(res.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && syscall.Kill(res.PID, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	umount()

	// In the foreground, until Ctrl-C.
	cmd := exec.Command(bin, "mount", "--repo", repoDir, "--name", "golden", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var shown []string
	for sc.Scan() {
		shown = append(shown, sc.Text())
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	if !strings.Contains(strings.Join(shown, "\n"), "1-LBEXT4-ext4") {
		t.Errorf("mount printed %q", shown)
	}
	if _, err := os.Stat(filepath.Join(dir, "6-LBBTRFS-btrfs", parts[5].Files[len(parts[5].Files)-1].Path)); err != nil {
		t.Error(err)
	}
	cmd.Process.Signal(os.Interrupt)
	go func() { // the rest of the output
		for sc.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Errorf("foreground mount after Ctrl-C: %v\n%s", err, stderr.String())
	}
	waitGone(t, dir)
}
