package initramfs_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestFallbackLoaderBoots makes a UEFI disk whose EFI system partition has
// its loaders only under a vendor directory (\EFI\lifeboat\shimx64.efi
// and grubx64.efi, as an installed system has them, and no
// \EFI\BOOT\BOOTX64.EFI): a copy of lifeboat.img moved so. It is captured
// and restored onto a new disk; the boot check reports the missing
// fallback, the restore installs it, and firmware with Secure Boot on and
// no boot entries for the disk (a new machine's) boots it to the text UI.
func TestFallbackLoaderBoots(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	work := t.TempDir()
	src := filepath.Join(work, "installed.img")
	run(t, "cp", "--sparse=always", filepath.Join(media, "lifeboat.img"), src)
	esp := src + "@@1048576"
	for _, mv := range [][2]string{{"::/EFI/BOOT", "::/EFI/lifeboat"}, {"::/EFI/lifeboat/BOOTX64.EFI", "::/EFI/lifeboat/shimx64.efi"}} {
		run(t, "mren", "-i", esp, mv[0], mv[1])
	}

	target := blankDisk(t, "target.img", 1<<30)
	captureRestore(t, src, target, 512)
	d, err := disk.Open(target, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := ptable.Read(d, d.Size(), 512)
	if err != nil {
		t.Fatal(err)
	}
	before := engine.CheckBoot(d, d.Size(), tbl)
	d.Close()
	// The restored EFI system partition is as clean as lifeboat.img's
	// (TestMediaFileSystems), and installing must keep it so.
	if c := fsckComplaints(t, target); len(c) != 0 {
		t.Errorf("fsck.vfat -n complains of the restored EFI system partition: %v", c)
	}
	if len(before.Problems) != 1 || !strings.Contains(before.Problems[0], `has no \EFI\BOOT\BOOTX64.EFI`) {
		t.Fatalf("boot check before installing: %q", before.Lines())
	}
	installed, err := engine.InstallFallback(target, tbl, time.Now())
	if err != nil || len(installed) != 1 || !strings.Contains(strings.ToLower(installed[0]), `a copy of \efi\lifeboat\shimx64.efi, with grubx64.efi next to it`) {
		t.Fatalf("install: %q %v", installed, err)
	}
	t.Log(installed[0])
	for c := range fsckComplaints(t, target) {
		t.Errorf("fsck.vfat -n complains after the install: %s", c)
	}

	args := append(firmware(t, ovmfSecureCode, ovmfSecureVars),
		"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
		"-m", "1024", "-smp", "2",
		"-device", "nvme,serial=RESTORED1,drive=t,bootindex=0", "-drive", "file="+target+",format=raw,if=none,id=t,snapshot=on")
	v := startVM(t, args...)
	s := v.waitFor(4*time.Minute, "Lifeboat", "c capture", "UEFI, Secure Boot on")
	t.Logf("the restored disk booted through its new fallback loader in %s:\n%s", v.since(), s)
}

// fsckComplaints are the lines fsck.vfat -n prints about the EFI system
// partition of img (at 1 MiB, 48 MiB long), numbers left out.
func fsckComplaints(t *testing.T, img string) map[string]bool {
	t.Helper()
	dev := loop(t, img, 1<<20, 48<<20)
	defer exec.Command("losetup", "-d", dev).Run()
	out, _ := exec.Command("fsck.vfat", "-n", dev).CombinedOutput()
	got := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "fsck.fat") || strings.Contains(l, " files, ") {
			continue
		}
		got[strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, l)] = true
	}
	return got
}

// TestUEFIBootEntryMade restores, in the rescue environment started by
// UEFI firmware, an image of a UEFI disk whose loaders are only under
// \EFI\lifeboat (as an installed system has them). The restore gives the
// firmware a boot entry for the restored disk's shim, first in BootOrder.
// With the fallback \EFI\BOOT removed from the disk afterwards, the same
// firmware (its variables kept) boots the disk alone through that entry.
func TestUEFIBootEntryMade(t *testing.T) {
	media := mediaDir(t)
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	src := filepath.Join(work, "installed.img")
	run(t, "cp", "--sparse=always", filepath.Join(media, "lifeboat.img"), src)
	for _, mv := range [][2]string{{"::/EFI/BOOT", "::/EFI/lifeboat"}, {"::/EFI/lifeboat/BOOTX64.EFI", "::/EFI/lifeboat/shimx64.efi"}} {
		run(t, "mren", "-i", src+"@@1048576", mv[0], mv[1])
	}
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 512<<20, map[string]string{"installed": src})
	target := blankDisk(t, "target.img", 1<<30)
	vars := filepath.Join(work, "vars.fd")
	copyFile(t, ovmfVars, vars)
	pflash := []string{"-machine", "q35",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars}

	cmdline := "console=tty0 console=ttyS0,115200 quiet lifeboat.job=restore lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=installed lifeboat.target=serial:UEFIDISK1 lifeboat.after=poweroff"
	v := startVM(t, append(pflash, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
		"-device", "virtio-blk-pci,drive=repo,serial=REPO0001", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "nvme,serial=UEFIDISK1,drive=dst", "-drive", "file="+target+",format=raw,if=none,id=dst")...)
	out := v.waitExit(5 * time.Minute)
	// mtools gave the moved names 8.3 entries only: they read in upper case.
	squeeze := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), "")) }
	for _, want := range []string{`"lifeboat" made: \EFI\lifeboat\shimx64.efi on partition 1, first in BootOrder`,
		`installed \EFI\BOOT\BOOTX64.EFI`, "UNATTENDED JOB DONE"} {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Fatalf("the console does not say %q:\n%s", want, out)
		}
	}

	// Only the boot entry can start the disk now.
	run(t, "mdeltree", "-i", target+"@@1048576", "::/EFI/BOOT")
	v = startVM(t, append(pflash, "-m", "1024", "-smp", "2",
		"-device", "nvme,serial=UEFIDISK1,drive=t", "-drive", "file="+target+",format=raw,if=none,id=t")...)
	s := v.waitFor(4*time.Minute, "Lifeboat", "c capture")
	t.Logf("the restored disk booted through the boot entry the restore made, in %s:\n%s", v.since(), s)
	v.stop()

	// A capture of that disk on this machine records the entry.
	cmdline = "console=tty0 console=ttyS0,115200 quiet lifeboat.job=capture lifeboat.repo=LABEL=LBREPO " +
		"lifeboat.image=again lifeboat.source=serial:UEFIDISK1 lifeboat.after=poweroff"
	v = startVM(t, append(pflash, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"), "-append", cmdline,
		"-device", "virtio-blk-pci,drive=repo,serial=REPO0001", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "nvme,serial=UEFIDISK1,drive=dst", "-drive", "file="+target+",format=raw,if=none,id=dst")...)
	if out := v.waitExit(5 * time.Minute); !strings.Contains(out, "UNATTENDED JOB DONE") {
		t.Fatalf("capture:\n%s", out)
	}
	mnt := t.TempDir()
	run(t, "mount", "-o", "ro,loop", repoImg, mnt)
	defer exec.Command("umount", mnt).Run()
	rr, err := repo.Open(filepath.Join(mnt, "lifeboat"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rr.ReadManifest("again")
	if err != nil {
		t.Fatal(err)
	}
	if m.Boot == nil || len(m.Boot.Entries) != 1 || !strings.EqualFold(m.Boot.Entries[0].Loader, `\EFI\lifeboat\shimx64.efi`) ||
		m.Boot.Entries[0].Partition != 1 || !m.Boot.Entries[0].InOrder || !m.Boot.Entries[0].Active {
		t.Fatalf("the image records the boot entries %+v", m.Boot)
	}
	t.Logf("recorded: %+v", m.Boot.Entries[0])
}
