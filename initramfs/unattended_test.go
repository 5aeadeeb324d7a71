package initramfs_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// repoDisk makes a disk image holding one ext4 file system labelled label,
// with an empty repository in /lifeboat, made without mounting anything
// (mkfs.ext4 -d).
func repoDisk(t *testing.T, path, label string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	if _, err := repo.Create(filepath.Join(tree, "lifeboat")); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", label, "-d", tree, path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
}

// sameBytes compares the first n bytes of two files.
func sameBytes(t *testing.T, a, b string, n int64) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(ba)) {
		na, _ := io.ReadFull(io.NewSectionReader(fa, off, int64(len(ba))), ba)
		nb, _ := io.ReadFull(io.NewSectionReader(fb, off, int64(len(bb))), bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			for i := 0; i < na && i < nb; i++ {
				if ba[i] != bb[i] {
					t.Fatalf("%s and %s differ at byte %d", a, b, off+int64(i))
				}
			}
			t.Fatalf("%s and %s differ in length near byte %d", a, b, off)
		}
	}
}

// TestUnattendedCaptureRestore boots the rescue environment with a
// bootable source disk, a repository disk and a blank target, and a kernel
// command line that asks for a capture, a verification and a restore, then
// power off; no key is pressed. The restored disk must equal the source,
// and boot on its own.
func TestUnattendedCaptureRestore(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	source := filepath.Join(work, "source.img")
	id := "unattended test " + filepath.Base(work)
	makeDemoDisk(t, source, id)
	st, err := os.Stat(source)
	if err != nil {
		t.Fatal(err)
	}
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 1<<30)
	target := blankDisk(t, "target.img", st.Size())

	cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=capture,verify,restore lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=demo lifeboat.source=serial:DEMO-SRC lifeboat.target=serial:BLANK0001 lifeboat.after=poweroff"
	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.zst"), "-append", cmdline,
		"-device", "virtio-blk-pci,drive=src,serial=DEMO-SRC", "-drive", "file="+source+",format=raw,if=none,id=src",
		"-device", "nvme,serial=REPO0001,drive=repo", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "ahci,id=ahci", "-device", "ide-hd,bus=ahci.0,drive=dst,serial=BLANK0001",
		"-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	out := v.waitExit(10 * time.Minute)
	took := v.since()
	for _, want := range []string{"captured demo", "verified demo", "restored demo", "UNATTENDED JOB DONE", "powering off"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the console does not say %q:\n%s", want, out)
		}
	}
	var said []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "lifeboat:") {
			said = append(said, strings.TrimSpace(l))
		}
	}
	t.Logf("capture, verify, restore and power off took %s from QEMU's start; the console said:\n%s", took, strings.Join(said, "\n"))
	sameBytes(t, source, target, st.Size())
	if out, err := exec.Command("e2fsck", "-fn", repoImg).CombinedOutput(); err != nil {
		t.Errorf("the repository's file system is not clean after the capture: %v\n%s", err, out)
	}

	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) {
		t.Fatalf("the restored disk did not boot to its own marker and id %q:\n%s", id, booted)
	}
}
