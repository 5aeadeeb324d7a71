package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

func checkBootOf(t *testing.T, p string) BootReport {
	t.Helper()
	d, err := disk.Open(p, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tb, err := ptable.Read(d, d.Size(), 512)
	if err != nil {
		t.Fatal(err)
	}
	return CheckBoot(d, d.Size(), tb)
}

// TestCheckBoot: an EFI system partition with and without the fallback
// loader, and an MBR with GRUB's boot code whose core image is there or
// not, are reported as they are.
func TestCheckBoot(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	// UEFI: GPT with an ESP (FAT32) holding shim and GRUB only.
	p := filepath.Join(dir, "uefi.img")
	mk(t, p, 64*MiB)
	testutil.Run(t, "sgdisk", "-n1:1M:+48M", "-t1:ef00", "-n2:0:0", p)
	testutil.Run(t, "mkfs.vfat", "-F", "32", "-s", "1", "--offset", "2048", p, fmt.Sprint(48*1024))
	esp := fmt.Sprintf("%s@@%d", p, MiB)
	loader := filepath.Join(dir, "loader.efi")
	os.WriteFile(loader, []byte("MZ not really a loader"), 0o644)
	testutil.Run(t, "mmd", "-i", esp, "::/EFI", "::/EFI/debian")
	testutil.Run(t, "mcopy", "-i", esp, loader, "::/EFI/debian/shimx64.efi")
	testutil.Run(t, "mcopy", "-i", esp, loader, "::/EFI/debian/grubx64.efi")
	rep := checkBootOf(t, p)
	all := strings.Join(rep.Lines(), "\n")
	if !strings.Contains(all, `\EFI\debian\shimx64.efi (shim (Secure Boot))`) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], `has no \EFI\BOOT\BOOTX64.EFI`) {
		t.Errorf("without the fallback loader:\n%s\nproblems %q", all, rep.Problems)
	}
	if !strings.Contains(all, "BIOS: no boot code in the protective MBR") {
		t.Errorf("BIOS line:\n%s", all)
	}
	// The fallback is installed: a copy of shim, with GRUB next to it.
	installed, err := InstallFallback(p, tableOf(t, p, 512), time.Now())
	if err != nil || len(installed) != 1 || !strings.Contains(installed[0], `installed \EFI\BOOT\BOOTX64.EFI, a copy of \EFI\debian\shimx64.efi, with GRUBX64.EFI next to it`) {
		t.Fatalf("install: %q %v", installed, err)
	}
	if got := testutil.Run(t, "mtype", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI"); got != "MZ not really a loader" {
		t.Errorf("BOOTX64.EFI holds %q", got)
	}
	dev := loopPart(t, p, MiB, 48*MiB)
	if out, err := exec.Command("fsck.vfat", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat after installing: %v\n%s", err, out)
	}
	detach(t, dev)
	rep = checkBootOf(t, p)
	if all := strings.Join(rep.Lines(), "\n"); !strings.Contains(all, `\EFI\BOOT\BOOTX64.EFI (the fallback loader`) || len(rep.Problems) != 0 {
		t.Errorf("with the fallback loader:\n%s\nproblems %q", all, rep.Problems)
	}
	if again, err := InstallFallback(p, tableOf(t, p, 512), time.Now()); err != nil || len(again) != 0 {
		t.Errorf("installing again: %q %v", again, err)
	}

	// BIOS: GRUB's boot.img in the MBR, its core image at sector 1.
	bootImg, err := os.ReadFile("/usr/lib/grub/i386-pc/boot.img")
	if err != nil {
		t.Fatalf("GRUB's boot.img (make deps installs grub-pc-bin): %v", err)
	}
	m := filepath.Join(dir, "bios.img")
	mk(t, m, 32*MiB)
	cmdSfdisk(t, m, "label: dos\nstart=2048, type=83, bootable\n")
	mbr := make([]byte, 440)
	copy(mbr, bootImg[:440])
	binary.LittleEndian.PutUint64(mbr[0x5c:], 1)
	testutil.WriteAt(t, m, mbr, 0)
	rep = checkBootOf(t, m)
	if all := strings.Join(rep.Lines(), "\n"); !strings.Contains(all, "core image from sector 1 (in the gap before the first partition), which is empty") {
		t.Errorf("GRUB without its core image:\n%s", all)
	}
	testutil.WriteAt(t, m, []byte("GRUB core image stand-in"), 512)
	rep = checkBootOf(t, m)
	if all := strings.Join(rep.Lines(), "\n"); !strings.Contains(all, "GRUB's boot code in the MBR, and its core image where it points (sector 1, in the gap before the first partition)") ||
		!strings.Contains(all, "UEFI: no EFI system partition") {
		t.Errorf("GRUB with its core image:\n%s", all)
	}
}

func cmdSfdisk(t *testing.T, p, script string) {
	t.Helper()
	layout := p + ".sfdisk"
	os.WriteFile(layout, []byte(script), 0o644)
	testutil.Run(t, "sh", "-c", "sfdisk -q "+p+" < "+layout)
}
