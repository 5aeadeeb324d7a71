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

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// repoDisk makes a disk image holding one ext4 file system labelled label,
// with a repository in /lifeboat holding an image of each of the disk
// image files captures names (image name: file), made without mounting
// anything (mkfs.ext4 -d).
func repoDisk(t *testing.T, path, label string, size int64, captures map[string]string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	r, err := repo.Create(filepath.Join(tree, "lifeboat"))
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range captures {
		captureFile(t, r, src, name)
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
	repoDisk(t, repoImg, "LBREPO", 1<<30, nil)
	target := blankDisk(t, "target.img", st.Size())

	cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=capture,verify,restore lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=demo lifeboat.source=serial:DEMO-SRC lifeboat.target=serial:BLANK0001 lifeboat.after=poweroff"
	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
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
	// Each job left its log in the repository, and said so.
	if !strings.Contains(out, "log saved in /run/lifeboat/mnt/") {
		t.Errorf("the console does not say where the job logs went:\n%s", out)
	}
	ls, err := exec.Command("debugfs", "-R", "ls /lifeboat/logs", repoImg).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs ls: %v\n%s", err, ls)
	}
	for _, f := range strings.Fields(string(ls)) {
		if !strings.HasSuffix(f, "-restore-demo.log") {
			continue
		}
		log, err := exec.Command("debugfs", "-R", "cat /lifeboat/logs/"+f, repoImg).Output()
		if err != nil || !bytes.Contains(log, []byte(`serial "BLANK0001"`)) || !bytes.Contains(log, []byte("result: ok")) {
			t.Errorf("the restore's log %s (%v):\n%s", f, err, log)
		}
	}
	for _, op := range []string{"capture", "verify", "restore"} {
		if !strings.Contains(string(ls), "-"+op+"-demo.log") {
			t.Errorf("the repository's logs hold no log of the %s:\n%s", op, ls)
		}
	}

	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) {
		t.Fatalf("the restored disk did not boot to its own marker and id %q:\n%s", id, booted)
	}
}

// TestUnattendedRestoreScaled restores the demo disk, captured here, onto
// a blank disk 1.5 times its size with lifeboat.layout=scale and
// lifeboat.identity=new, in the rescue environment: the ext4, FAT32 and
// NTFS partitions are moved and grown there (resize2fs and ntfsresize
// shipped in the initramfs, FAT by Lifeboat itself), every identifier is
// new and the root's GRUB configuration and fstab and the FAT's GRUB
// configuration name the new ones; the checkers find the file systems
// clean here, and the restored disk boots alone, GRUB finding its root by
// the new UUID.
func TestUnattendedRestoreScaled(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	source := filepath.Join(work, "source.img")
	id := "scaled restore test " + filepath.Base(work)
	makeDemoDisk(t, source, id)
	st, err := os.Stat(source)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot := blkidRange(t, source, 1<<20, 160<<20)
	oldSig := diskSignature(t, source)
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 512<<20, map[string]string{"demo": source})
	size := st.Size() * 3 / 2
	target := blankDisk(t, "target.img", size)

	cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=restore lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=demo lifeboat.target=serial:BIGGER01 lifeboat.layout=scale lifeboat.identity=new lifeboat.after=poweroff"
	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
		"-device", "virtio-blk-pci,drive=repo,serial=REPO0001", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "nvme,serial=BIGGER01,drive=dst", "-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	out := v.waitExit(5 * time.Minute)
	// The console wraps at 80 columns: compare without white space.
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	joined := squeeze(out)
	for _, want := range []string{"scale layout", "partition 1 (ext4) grown to", "with resize2fs; e2fsck finds it clean",
		"FAT32 grown from 64.0 MiB", "partition 3 (ntfs) grown to", "with ntfsresize",
		"new MBR disk signature", "new ext4 UUID", "(with tune2fs)", "new FAT volume ID", "new NTFS serial number",
		"partition 1 (ext4): /etc/fstab: 2 references rewritten", "partition 1 (ext4): /boot/grub/grub.cfg: 3 references rewritten",
		"partition 2 (vfat): /EFI/demo/grub.cfg: 1 references rewritten",
		"boot check: BIOS: GRUB's boot code in the MBR, and its core image where it points (sector 1, in the gap before the first partition)",
		"restored demo", "UNATTENDED JOB DONE"} {
		if !strings.Contains(joined, squeeze(want)) {
			t.Fatalf("the console does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(joined, "notgrown") {
		t.Fatalf("a file system was not grown:\n%s", out)
	}

	// Each partition: moved and grown as planned, and clean.
	parts := checkDemoPartitions(t, target)
	if parts[0].Size < 224<<20 {
		t.Errorf("partition 1 is %d bytes: not scaled from 160 MiB", parts[0].Size)
	}
	newRoot := blkidRange(t, target, parts[0].Start, parts[0].Size)
	if newRoot == oldRoot || newRoot == "" || diskSignature(t, target) == oldSig {
		t.Errorf("root UUID %s (was %s), disk signature %s (was %s): not new", newRoot, oldRoot, diskSignature(t, target), oldSig)
	}
	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) || !strings.Contains(booted[i:], "root: UUID="+newRoot) {
		t.Fatalf("the scaled disk did not boot to its own marker, id %q and root UUID %s:\n%s", id, newRoot, booted)
	}
}

// blkidRange is the UUID blkid finds in a byte range of a disk image.
func blkidRange(t *testing.T, img string, off, size int64) string {
	t.Helper()
	dev := loop(t, img, off, size)
	defer exec.Command("losetup", "-d", dev).Run()
	out, _ := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", dev).Output()
	return strings.TrimSpace(string(out))
}

// diskSignature is an MBR disk's signature, as sfdisk shows it.
func diskSignature(t *testing.T, img string) string {
	t.Helper()
	for _, l := range strings.Split(run(t, "sfdisk", "-d", img), "\n") {
		if v, ok := strings.CutPrefix(l, "label-id: "); ok {
			return v
		}
	}
	return ""
}

// TestUnattendedRestoreFit restores the 256 MiB demo disk onto a 96 MiB
// disk with the fit layout (near the smallest it plans for) and new
// identities: the rescue environment shrinks ext4 with
// resize2fs and NTFS with ntfsresize, each on a device-mapper join of its
// partition and a scratch store, and FAT32 by moving its clusters. The
// restored disk's checkers are clean and it boots alone.
func TestUnattendedRestoreFit(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	source := filepath.Join(work, "source.img")
	id := "fit restore test " + filepath.Base(work)
	makeDemoDisk(t, source, id)
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 512<<20, map[string]string{"demo": source})
	const size = 96 << 20
	target := blankDisk(t, "target.img", size)

	cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=restore lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=demo lifeboat.target=serial:SMALLER1 lifeboat.layout=fit lifeboat.identity=new lifeboat.after=poweroff"
	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
		"-device", "virtio-blk-pci,drive=repo,serial=REPO0001", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "nvme,serial=SMALLER1,drive=dst", "-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	out := v.waitExit(5 * time.Minute)
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	joined := squeeze(out)
	for _, want := range []string{"fit layout", "partition 1 (ext4) shrunk from 160.0 MiB to 44.0 MiB with resize2fs; e2fsck finds it clean",
		"partition 2 (vfat) shrunk from 64.0 MiB to 35.0 MiB", "partition 3 (ntfs) shrunk from 31.0 MiB to 12.0 MiB with ntfsresize",
		"new ext4 UUID", "new NTFS serial number", "partition 1 (ext4): /etc/fstab: 2 references rewritten",
		"restored demo", "UNATTENDED JOB DONE"} {
		if !strings.Contains(joined, squeeze(want)) {
			t.Fatalf("the console does not say %q:\n%s", want, out)
		}
	}
	if st, err := os.Stat(target); err != nil || st.Size() != size {
		t.Fatalf("target: %v, %v bytes (was %d)", err, st, size)
	}
	var end int64
	for _, p := range checkDemoPartitions(t, target) {
		end = max(end, p.Start+p.Size)
	}
	if end > size {
		t.Errorf("partitions end at byte %d, past the %d-byte disk", end, int64(size))
	}
	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) {
		t.Fatalf("the disk restored with the fit layout did not boot to its own marker (id %q):\n%s", id, booted)
	}
}

// checkDemoPartitions reads the table of target, a copy of the demo disk
// (ext4, FAT32, NTFS), and runs each file system's checker on its
// partition; it returns the partitions.
func checkDemoPartitions(t *testing.T, target string) []ptable.Partition {
	t.Helper()
	d, err := disk.Open(target, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := ptable.Read(d, d.Size(), 512)
	d.Close()
	if err != nil || len(tbl.Partitions) != 3 {
		t.Fatalf("the table of %s %+v: %v", target, tbl, err)
	}
	checks := [][]string{{"e2fsck", "-fn"}, {"fsck.vfat", "-n"}, {"ntfsfix", "-n"}}
	for i, p := range tbl.Partitions {
		dev := loop(t, target, p.Start, p.Size)
		c, err := exec.Command(checks[i][0], append(checks[i][1:], dev)...).CombinedOutput()
		exec.Command("losetup", "-d", dev).Run()
		if err != nil {
			t.Errorf("%s on partition %d: %v\n%s", checks[i][0], p.Number, err, c)
		}
	}
	return tbl.Partitions
}
