// Package initramfs_test boots the rescue environment (the kernel and
// initramfs that make initramfs builds) in QEMU and checks what the
// technician sees on the serial console.
package initramfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootDir is where make initramfs put vmlinuz and initramfs.cpio.zst; make
// test sets LIFEBOAT_BOOT_DIR.
func bootDir(t *testing.T) string {
	dir := os.Getenv("LIFEBOAT_BOOT_DIR")
	if dir == "" {
		t.Skip("LIFEBOAT_BOOT_DIR is not set: run make test, which builds the rescue environment first")
	}
	for _, f := range []string{"vmlinuz", "initramfs.cpio.zst"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the rescue environment is not built: %v", err)
		}
	}
	return dir
}

// TestBootShowsEveryKindOfDisk boots the kernel and initramfs under QEMU
// (TCG, legacy BIOS) with a disk on each bus a PC has (virtio, NVMe,
// SATA/AHCI, virtio-scsi, USB mass storage) and checks, on the serial
// console rendered by tmux at 80x24, that the text UI lists every one
// with its serial.
func TestBootShowsEveryKindOfDisk(t *testing.T) {
	dir := bootDir(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"qemu-system-x86_64", "tmux"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run make deps", tool)
		}
	}
	work := t.TempDir()
	disk := func(name string) string {
		p := filepath.Join(work, name+".img")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 1<<30); err != nil {
			t.Fatal(err)
		}
		return p
	}
	qemu := []string{"qemu-system-x86_64", "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.zst"),
		"-append", "'console=tty0 console=ttyS0,115200 quiet'",
		"-display", "none", "-serial", "mon:stdio", "-no-reboot",
		"-device", "virtio-blk-pci,drive=vd,serial=VIRTIO0001", "-drive", "file=" + disk("vd") + ",format=raw,if=none,id=vd",
		"-device", "nvme,serial=NVME0001,drive=nv", "-drive", "file=" + disk("nv") + ",format=raw,if=none,id=nv",
		"-device", "ahci,id=ahci", "-device", "ide-hd,bus=ahci.0,drive=sata,serial=SATA0001,model=LifeboatSATA",
		"-drive", "file=" + disk("sata") + ",format=raw,if=none,id=sata",
		"-device", "virtio-scsi-pci,id=vs", "-device", "scsi-hd,bus=vs.0,drive=scsi,serial=SCSI0001",
		"-drive", "file=" + disk("scsi") + ",format=raw,if=none,id=scsi",
		"-device", "qemu-xhci", "-device", "usb-storage,drive=usb,serial=USB0001",
		"-drive", "file=" + disk("usb") + ",format=raw,if=none,id=usb",
	}
	session := "lifeboat-boot-" + filepath.Base(work)
	start := time.Now()
	out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
		strings.Join(qemu, " ")+" 2>&1; sleep 600").CombinedOutput()
	if err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	pane := func() string {
		b, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		return string(b)
	}
	want := []string{"Lifeboat", "nvme0n1", "NVME0001", "SATA0001", "SCSI0001", "USB0001", "VIRTIO0001", "p power off"}
	deadline := time.Now().Add(3 * time.Minute)
	var s string
	firstUI := time.Duration(0)
	for {
		s = pane()
		if firstUI == 0 && strings.Contains(s, "c capture") {
			firstUI = time.Since(start)
		}
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the serial console does not show %q:\n%s", time.Since(start).Round(time.Second), missing, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the text UI appeared %s after QEMU started, with every disk %s after:\n%s",
		firstUI.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), s)
	for _, row := range []string{"sata", "usb", "nvme", "virtio", "scsi"} {
		if !strings.Contains(s, " "+row+" ") {
			t.Errorf("no disk on the %s bus:\n%s", row, s)
		}
	}
}
