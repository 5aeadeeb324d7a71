package initramfs_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestFourKnRestoreMounts restores a 512-byte-sector GPT disk with a
// FAT32 EFI system partition and ext4 onto a disk image with 4096-byte
// sectors, then boots the rescue environment with that image as a 4Kn
// virtio disk: its kernel mounts each file system (each holds a small
// repository, found by label) and verifies the image in it.
func TestFourKnRestoreMounts(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()

	// A repository with one small image, as a tree of files.
	tree := t.TempDir()
	r, err := repo.Create(filepath.Join(tree, "lifeboat"))
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(work, "small.img")
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.WriteFile(small, data, 0o644); err != nil {
		t.Fatal(err)
	}
	captureFile(t, r, small, "tiny")

	// The source: 512-byte sectors, FAT32 (4 KiB clusters) and ext4, each
	// holding the repository.
	const mib = 1 << 20
	source := filepath.Join(work, "source.img")
	run(t, "truncate", "-s", fmt.Sprint(330*mib), source)
	run(t, "sgdisk", "-n1:1M:+260M", "-t1:ef00", "-c1:EFI system", "-n2:0:+64M", "-t2:8300", "-c2:root", source)
	fat := loop(t, source, 1*mib, 260*mib)
	run(t, "mkfs.vfat", "-F", "32", "-s", "8", "-n", "LBFAT", fat)
	run(t, "losetup", "-d", fat)
	run(t, "mcopy", "-s", "-i", fmt.Sprintf("%s@@%d", source, 1*mib), filepath.Join(tree, "lifeboat"), "::/")
	ext := loop(t, source, 261*mib, 64*mib)
	run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "LBEXT", "-d", tree, ext)
	run(t, "losetup", "-d", ext)

	// Captured and restored here onto a 4Kn disk image.
	target := filepath.Join(work, "4kn.img")
	run(t, "truncate", "-s", fmt.Sprint(330*mib), target)
	plan := captureRestore(t, source, target, 4096)
	for _, p := range plan.Parts {
		t.Logf("partition %d: %s", p.Number, p.Note)
	}

	for _, label := range []string{"LBFAT", "LBEXT"} {
		cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=verify lifeboat.repo=LABEL=" + label +
			" lifeboat.image=tiny lifeboat.after=poweroff"
		v := startVM(t, "-m", "1024", "-smp", "2",
			"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
			"-device", "virtio-blk-pci,drive=t,serial=FOURKN01,logical_block_size=4096,physical_block_size=4096",
			"-drive", "file="+target+",format=raw,if=none,id=t",
		)
		out := v.waitExit(4 * time.Minute)
		squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
		fs := map[string]string{"LBFAT": "(vfat)", "LBEXT": "(ext4)"}[label]
		for _, want := range []string{"repository on /dev/vda", fs, "verified tiny: every chunk present and matching its hash", "UNATTENDED JOB DONE"} {
			if !strings.Contains(squeeze(out), squeeze(want)) {
				t.Fatalf("%s on the 4Kn disk: the console does not say %q:\n%s", label, want, out)
			}
		}
	}
}

// captureRestore captures the disk image src into a new repository and
// restores it here onto target, a file with lss-byte sectors, laid out as
// the first layout that works; it returns the plan.
func captureRestore(t *testing.T, src, target string, lss int) *layout.Plan {
	t.Helper()
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	captureFile(t, r, src, "img")
	codec, err := repo.NewCodec(repo.LevelDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	im, err := r.OpenImage("img", codec)
	if err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(target, disk.Options{Write: true, SectorSize: lss})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	plan, err := engine.PlanRestore(im, layout.Target{Size: d.Size(), SectorSize: lss}, layout.Options{})
	if err == nil {
		_, err = engine.Restore(t.Context(), im, d, engine.RestoreOptions{Layout: plan, Progress: &progress.Tracker{}})
	}
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func captureFile(t *testing.T, r *repo.Repo, path, name string) {
	t.Helper()
	src, err := disk.Open(path, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := engine.Capture(t.Context(), src, r, engine.CaptureOptions{Name: name, Tool: "lifeboat test"}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// loop attaches a loop device over a byte range of a file.
func loop(t *testing.T, path string, off, size int64) string {
	t.Helper()
	return strings.TrimSpace(run(t, "losetup", "-f", "--show", "-o", fmt.Sprint(off), "--sizelimit", fmt.Sprint(size), path))
}

// detachOver detaches the loop devices still attached over file, a
// test's own: a device the test detached itself may since be another
// test's, under the same name, and must not be detached by name.
func detachOver(file string) {
	out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME", "--associated", file).Output()
	for _, dev := range strings.Fields(string(out)) {
		exec.Command("losetup", "-d", dev).Run()
	}
}
