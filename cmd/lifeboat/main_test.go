package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

const MiB = 1 << 20

type result struct {
	code           int
	stdout, stderr string
	err            error
}

func lifeboat(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{exitCode(err), out.String(), errb.String(), err}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, err %v\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
}

// demoDisk makes a small GPT disk with an ext4 partition and data in a
// partition without a file system (read whole, so a restore is
// byte-identical: the ext4's free space is zeros).
func demoDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "src.img")
	f, _ := os.Create(p)
	f.Truncate(48 * MiB)
	f.Close()
	testutil.Run(t, "sgdisk", "-n1:0:+8M", "-t1:ef00", "-n2:0:0", p)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", fmt.Sprintf("offset=%d", 9*MiB), p, "30M")
	testutil.WriteAt(t, p, bytes.Repeat([]byte("payload "), 300000), 2*MiB)
	return p
}

func TestUsageAndHelp(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"help"}, exitOK, "Exit codes"},
		{[]string{"help", "restore"}, exitOK, "--verify"},
		{[]string{"version"}, exitOK, "lifeboat"},
		{[]string{"capture", "--name", "x", "/dev/null"}, exitUsage, "no repository"},
		{[]string{"capture", "--repo", "r", "x.img"}, exitUsage, "no image name"},
		{[]string{"capture", "--repo", "r", "--name", "../x", "x.img"}, exitUsage, "image name"},
		{[]string{"capture", "--repo", "r", "--name", "x", "--level", "max", "x.img"}, exitUsage, "--level"},
		{[]string{"capture", "--repo", "r", "--name", "x", "--extent-size", "3M", "x.img"}, exitUsage, "--extent-size"},
		{[]string{"restore", "--repo", "r", "--name", "x"}, exitUsage, "one TARGET"},
		{[]string{"verify", "--repo", "r", "--name", "x", "extra"}, exitUsage, "--target"},
	}
	for _, c := range cases {
		r := lifeboat(t, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr+fmt.Sprint(r.err), c.want) {
			t.Errorf("lifeboat %q: want exit %d mentioning %q, got %s", c.args, c.code, c.want, r)
		}
	}
}

func TestCaptureRestoreVerifyFiles(t *testing.T) {
	dir := t.TempDir()
	src := demoDisk(t, dir)
	repoDir := filepath.Join(dir, "repo")
	t.Setenv("LIFEBOAT_REPO", repoDir)

	r := lifeboat(t, "", "capture", "--name", "demo", src)
	if r.code != 0 || !strings.Contains(r.stdout, "dedup ratio") || !strings.Contains(r.stdout, "stored new") ||
		!strings.Contains(r.stdout, "used blocks (ext block bitmaps)") || !strings.Contains(r.stdout, "every sector: no file system recognised") {
		t.Fatal(r)
	}
	// The same name again is refused, the image untouched.
	if r := lifeboat(t, "", "capture", "--name", "demo", src); r.code != exitFailed || !strings.Contains(r.stderr+r.err.Error(), "already exists") {
		t.Fatal(r)
	}
	r = lifeboat(t, "", "images", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "demo"`) {
		t.Fatal(r)
	}
	// A new file target needs no confirmation.
	out := filepath.Join(dir, "out.img")
	if r := lifeboat(t, "", "restore", "--name", "demo", out); r.code != 0 {
		t.Fatal(r)
	}
	if testutil.HashFile(t, out, -1) != testutil.HashFile(t, src, -1) {
		t.Fatal("restored file differs")
	}
	// An existing target asks; a wrong answer or none writes nothing.
	big := filepath.Join(dir, "big.img")
	os.WriteFile(big, bytes.Repeat([]byte{7}, 64*MiB), 0o644)
	before := testutil.HashFile(t, big, -1)
	for _, answer := range []string{"", "yes\n", "out.img\n"} {
		r := lifeboat(t, answer, "restore", "--name", "demo", big)
		if r.code != exitRefused || !strings.Contains(r.stderr, "will be destroyed") || !strings.Contains(r.stderr, "Type \"big.img\"") {
			t.Fatalf("answer %q: %s", answer, r)
		}
		if testutil.HashFile(t, big, -1) != before {
			t.Fatalf("answer %q: target written", answer)
		}
	}
	r = lifeboat(t, "big.img\n", "restore", "--name", "demo", "--verify", big)
	if r.code != 0 || !strings.Contains(r.stdout, "reads back identical") || !strings.Contains(r.stdout, "the backup GPT goes to the end") {
		t.Fatal(r)
	}
	if out := testutil.Run(t, "sgdisk", "-v", big); !strings.Contains(out, "No problems found") {
		t.Fatal(out)
	}
	// Verify, then damage a chunk: verify and restore report it (exit 3).
	if r := lifeboat(t, "", "verify", "--name", "demo", "--target", big); r.code != 0 {
		t.Fatal(r)
	}
	// Damage the chunk of the second extent (the end of the payload), found by
	// hashing the source's bytes there.
	raw, _ := os.ReadFile(src)
	sum := sha256.Sum256(raw[4*MiB : 8*MiB])
	hexID := hex.EncodeToString(sum[:])
	chunk := filepath.Join(repoDir, "chunks", hexID[:3], hexID+".zst")
	b, err := os.ReadFile(chunk)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0xff
	os.WriteFile(chunk, b, 0o644)
	id := strings.TrimSuffix(filepath.Base(chunk), ".zst")
	r = lifeboat(t, "", "verify", "--name", "demo")
	if r.code != exitDamaged || !strings.Contains(r.stdout, "DAMAGED chunk "+id) {
		t.Fatal(r)
	}
	r = lifeboat(t, "", "restore", "--name", "demo", "--yes", big)
	if r.code != exitDamaged || !strings.Contains(r.err.Error(), id) || !strings.Contains(r.err.Error(), "is partly written and holds no valid partition table") {
		t.Fatal(r)
	}
	// A new file whose restore failed is removed, not left looking whole.
	failed := filepath.Join(dir, "failed.img")
	if r := lifeboat(t, "", "restore", "--name", "demo", failed); r.code != exitDamaged {
		t.Fatal(r)
	}
	if _, err := os.Stat(failed); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed restore left its new target file behind")
	}
	// Too small.
	small := filepath.Join(dir, "small.img")
	os.WriteFile(small, make([]byte, 8*MiB), 0o644)
	if r := lifeboat(t, "", "restore", "--name", "demo", "--yes", small); r.code != exitTooSmall || !strings.Contains(r.err.Error(), "short") {
		t.Fatal(r)
	}
	// Restoring into the repository is refused.
	if r := lifeboat(t, "", "restore", "--name", "demo", filepath.Join(repoDir, "x.img")); r.code != exitRefused {
		t.Fatal(r)
	}
}

// TestSafetyOnBlockDevices uses loop devices and a real mount: a mounted
// disk, the disk holding the repository, and a partition are refused as
// targets; a capture into a repository on the captured disk is refused.
func TestSafetyOnBlockDevices(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := demoDisk(t, dir)
	repoDir := filepath.Join(dir, "repo")
	if r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "demo", src); r.code != 0 {
		t.Fatal(r)
	}

	// A disk holding a mounted ext4 file system (on the whole device: the
	// test machines' kernels may not create partition devices for loops)
	// with a second repository on it.
	hostFile := filepath.Join(dir, "host.img")
	f, _ := os.Create(hostFile)
	f.Truncate(64 * MiB)
	f.Close()
	host := testutil.Loop(t, hostFile, 0)
	testutil.Run(t, "mkfs.ext4", "-q", host)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	testutil.Run(t, "mount", host, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	hostRepo := filepath.Join(mnt, "repo")

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"restore", "--repo", repoDir, "--name", "demo", "--yes", host}, "in use"},
		{[]string{"capture", "--repo", hostRepo, "--name", "self", "--allow-mounted", host}, "is on " + host},
		{[]string{"capture", "--repo", repoDir, "--name", "mounted", host}, "is mounted"},
	}
	for _, c := range cases {
		r := lifeboat(t, "", c.args...)
		if r.code != exitRefused || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("lifeboat %q: want refusal mentioning %q, got %s", c.args, c.want, r)
		}
	}
	// With --allow-mounted, a mounted disk is captured with a warning in
	// the image.
	r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "mounted", "--allow-mounted", host)
	if r.code != 0 || !strings.Contains(r.stdout, "warning: captured while mounted at "+mnt) {
		t.Fatal(r)
	}

	// An unmounted loop device restores after typing its name, and matches.
	tgtFile := filepath.Join(dir, "tgt.img")
	os.WriteFile(tgtFile, bytes.Repeat([]byte{9}, 48*MiB), 0o644)
	tgt := testutil.Loop(t, tgtFile, 0)
	r = lifeboat(t, "nope\n", "restore", "--repo", repoDir, "--name", "demo", tgt)
	if r.code != exitRefused {
		t.Fatal(r)
	}
	r = lifeboat(t, filepath.Base(tgt)+"\n", "restore", "--repo", repoDir, "--name", "demo", "--verify", tgt)
	if r.code != 0 {
		t.Fatal(r)
	}
	if testutil.HashFile(t, tgt, -1) != testutil.HashFile(t, src, -1) {
		t.Fatal("restored loop device differs from the source")
	}
	// A disk being captured (shared lock held) is refused as a target.
	lock, err := os.Open(tgt)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := flockShared(lock); err != nil {
		t.Fatal(err)
	}
	if r := lifeboat(t, "", "restore", "--repo", repoDir, "--name", "demo", "--yes", tgt); r.code != exitRefused || !strings.Contains(r.err.Error(), "another Lifeboat process") {
		t.Fatal(r)
	}
}

// TestUncleanWarnedBeforeCapture: a file system that is not clean is named
// in a warning before the capture starts, and in the summary after.
func TestUncleanWarnedBeforeCapture(t *testing.T) {
	dir := t.TempDir()
	src := demoDisk(t, dir)
	// Set ext4's "needs journal recovery" flag, as a crash leaves it.
	sb := 9*MiB + 1024
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteAt(t, src, []byte{raw[sb+0x60] | 0x4}, int64(sb+0x60))
	r := lifeboat(t, "", "capture", "--repo", filepath.Join(dir, "repo"), "--name", "crashed", src)
	if r.code != 0 {
		t.Fatal(r)
	}
	warn := strings.Index(r.stderr, "warning: partition 2 (ext4) is not clean: its journal needs recovery")
	if warn < 0 || warn > strings.Index(r.stderr, "capturing") {
		t.Errorf("no warning before the capture starts:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "every sector: its journal needs recovery") || !strings.Contains(r.stdout, "warning: partition 2 (ext4) is not clean") {
		t.Errorf("the summary does not say how partition 2 was read:\n%s", r.stdout)
	}
}

// TestRestorePlan: --plan prints the plan and writes nothing, for every
// layout; the confirmation shows the plan; a grow restore grows ext4.
func TestRestorePlan(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := demoDisk(t, dir)
	t.Setenv("LIFEBOAT_REPO", filepath.Join(dir, "repo"))
	if r := lifeboat(t, "", "capture", "--name", "demo", "--quiet", src); r.code != 0 {
		t.Fatal(r)
	}
	big := filepath.Join(dir, "big.img")
	os.WriteFile(big, bytes.Repeat([]byte{7}, 72*MiB), 0o644)
	before := testutil.HashFile(t, big, -1)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"PLAN    keep layout: demo (gpt, 48.0 MiB, 512-byte sectors) onto " + big, "the backup GPT goes to the end of the larger target"}},
		{[]string{"--layout", "grow"}, []string{"PLAN    grow layout", "ext4 grown to fill the 62.0 MiB partition (resize2fs)", "NOTE    a new gpt partition table"}},
		{[]string{"--layout", "scale"}, []string{"PLAN    scale layout", "moved from 9.0 MiB; ext4 grown"}},
		{[]string{"--layout", "grow", "--grow", "1"}, []string{"PLAN    grow layout", "moved from 9.0 MiB; ext4 as captured"}},
	} {
		r := lifeboat(t, "", append(append([]string{"restore", "--name", "demo", "--plan"}, c.args...), big)...)
		for _, w := range append(c.want, "nothing was written (--plan)") {
			if r.code != 0 || !strings.Contains(r.stdout, w) {
				t.Errorf("restore --plan %q: want %q in\n%s", c.args, w, r)
			}
		}
		if testutil.HashFile(t, big, -1) != before {
			t.Fatalf("restore --plan %q wrote the target", c.args)
		}
	}
	// A disk smaller than the partitions: the fit layout shrinks ext4.
	smaller := filepath.Join(dir, "smaller.img")
	os.WriteFile(smaller, make([]byte, 36*MiB), 0o644)
	r := lifeboat(t, "", "restore", "--name", "demo", "--plan", smaller)
	for _, w := range []string{"PLAN    fit layout", "ext4 shrunk from", "after the restore (resize2fs)", "NOT     keep: target is", "nothing was written (--plan)"} {
		if r.code != 0 || !strings.Contains(r.stdout, w) {
			t.Errorf("restore --plan onto 36 MiB: want %q in\n%s", w, r)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--layout", "sideways", big}, exitUsage, "use keep, grow, scale or fit"},
		{[]string{"--grow", "2", big}, exitUsage, "--grow N goes with --layout grow"},
		{[]string{"--layout", "grow", "--grow", "9", big}, exitFailed, "no partition 9"},
		{[]string{filepath.Join(dir, "small.img")}, exitTooSmall, "target is 10.0 MiB (10485760 bytes)"},
	} {
		if strings.HasSuffix(c.args[len(c.args)-1], "small.img") {
			os.WriteFile(c.args[len(c.args)-1], make([]byte, 10*MiB), 0o644)
		}
		r := lifeboat(t, "", append([]string{"restore", "--name", "demo", "--plan"}, c.args...)...)
		if r.code != c.code || !strings.Contains(fmt.Sprint(r.err), c.want) {
			t.Errorf("restore --plan %q: want exit %d and %q, got %s", c.args, c.code, c.want, r)
		}
	}
	// The confirmation shows the plan; the grow restore grows ext4.
	r = lifeboat(t, "big.img\n", "restore", "--name", "demo", "--layout", "grow", "--verify", big)
	if r.code != 0 || !strings.Contains(r.stderr, "PLAN    grow layout") || !strings.Contains(r.stdout, "partition 2 (ext4) grown to 62.0 MiB with resize2fs; e2fsck finds it clean") {
		t.Fatal(r)
	}
	if out := testutil.Run(t, "sgdisk", "-v", big); !strings.Contains(out, "No problems found") {
		t.Fatal(out)
	}
}
