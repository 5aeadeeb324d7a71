// Package initramfs_test boots the rescue environment (the kernel and
// initramfs that make initramfs builds) in QEMU and checks what the
// technician sees on the serial console.
package initramfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootDir is where make initramfs put vmlinuz and initramfs.cpio.lz4; make
// test sets LIFEBOAT_BOOT_DIR.
func bootDir(t *testing.T) string {
	dir := os.Getenv("LIFEBOAT_BOOT_DIR")
	if dir == "" {
		t.Skip("LIFEBOAT_BOOT_DIR is not set: run make test, which builds the rescue environment first")
	}
	for _, f := range []string{"vmlinuz", "initramfs.cpio.lz4"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the rescue environment is not built: %v", err)
		}
	}
	return dir
}

// TestBootShowsEveryKindOfDisk boots the kernel and initramfs under QEMU
// (TCG, legacy BIOS) with a disk on each bus a PC has (virtio, NVMe,
// SATA/AHCI, virtio-scsi, USB mass storage) and checks, on the serial
// console rendered by tmux at 80x24, that the text UI lists every one with
// its serial, model and bus. It then opens the shell from the UI, runs
// lifeboat disks there, which must list the same, and leaves the shell:
// the UI must come back and take keys again.
func TestBootShowsEveryKindOfDisk(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	disks := []struct {
		serial, bus string
		// The model the UI shows, and the one lifeboat disks prints.
		// QEMU gives a virtio disk no model (its PCI vendor is Red Hat's
		// 0x1af4, shown by name), and an NVMe disk the
		// fixed model "QEMU NVMe Ctrl"; the SATA disk's model and the
		// SCSI disk's vendor and product are set in its args. So are
		// the USB stick's, on a scsi-hd behind usb-bot: usb-storage is
		// the same USB device but takes no vendor or product. The
		// stick's serial is the USB device's.
		ui, cli string
		// The disk's devices, whose drive is the disk's bus name.
		args []string
	}{
		{"VIRTIO0001", "virtio", "Red Hat virtio disk", "Red Hat virtio disk", []string{"-device", "virtio-blk-pci,drive=virtio,serial=VIRTIO0001"}},
		{"NVME0001", "nvme", "QEMU NVMe Ctrl", "QEMU NVMe Ctrl", []string{"-device", "nvme,serial=NVME0001,drive=nvme"}},
		// An empty CD drive sits beside the SATA disk.
		{"SATA0001", "sata", "LifeboatSATA", "LifeboatSATA", []string{"-device", "ahci,id=ahci",
			"-device", "ide-hd,bus=ahci.0,drive=sata,serial=SATA0001,model=LifeboatSATA", "-device", "ide-cd,bus=ahci.1"}},
		{"SCSI0001", "scsi", "Lifeboat ScsiDisk", "Lifeboat ScsiDisk", []string{"-device", "virtio-scsi-pci,id=vs",
			"-device", "scsi-hd,bus=vs.0,drive=scsi,serial=SCSI0001,vendor=Lifeboat,product=ScsiDisk"}},
		{"USB0001", "usb", "Lifeboat UsbStick", "Lifeboat UsbStick", []string{"-device", "qemu-xhci",
			"-device", "usb-bot,id=bot,serial=USB0001", "-device", "scsi-hd,bus=bot.0,drive=usb,vendor=Lifeboat,product=UsbStick"}},
	}
	args := []string{"-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=tty0 console=ttyS0,115200 quiet"}
	for _, d := range disks {
		args = append(args, d.args...)
		args = append(args, "-drive", "file="+blankDisk(t, d.bus+".img", 1<<30)+",format=raw,if=none,id="+d.bus)
	}
	v := startVM(t, args...)
	v.waitFor(4*time.Minute, "Lifeboat", "c capture", "p power off")
	ui := v.since()

	// Every disk on the disks screen, with its model and bus.
	diskCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	s := v.waitUntil(3*time.Minute, "every disk", func(s string) bool {
		rows := tableRows(s, diskCols...)
		if rowWith(rows, "DISK", "sr0") == nil {
			return false
		}
		for _, d := range disks {
			if rowWith(rows, "SERIAL", d.serial) == nil {
				return false
			}
		}
		return true
	})
	t.Logf("the text UI appeared %s after QEMU started, with every disk %s after:\n%s", ui, v.since(), s)
	rows := tableRows(s, diskCols...)
	for _, d := range disks {
		r := rowWith(rows, "SERIAL", d.serial)
		if r["MODEL"] != d.ui || r["BUS"] != d.bus {
			t.Errorf("the disks screen shows %s with model %q on bus %q, want %q on %q", d.serial, r["MODEL"], r["BUS"], d.ui, d.bus)
		}
	}
	// The empty CD drive shows no size and says it has no medium.
	if r := rowWith(rows, "DISK", "sr0"); r == nil || r["SIZE"] != "-" || !strings.HasPrefix(r["FLAGS"], "no medium") {
		t.Errorf("the disks screen shows the empty CD drive as %q, want size - and the flag no medium", r)
	}

	// lifeboat disks at the shell lists the same disks.
	stage := time.Now()
	v.keys("s")
	v.waitFor(time.Minute, "type exit to return to the menu")
	v.waitUntil(2*time.Minute, "the shell's prompt", func(s string) bool {
		_, after, ok := strings.Cut(s, "type exit to return to the menu")
		return ok && promptLine(after) >= 0
	})
	shell := time.Since(stage).Round(100 * time.Millisecond)
	stage = time.Now()
	v.text("lifeboat disks")
	v.keys("Enter")
	cliCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "NOTES"}
	s = v.waitUntil(2*time.Minute, "the output of lifeboat disks, then the prompt", func(s string) bool {
		i := strings.LastIndex(s, "lifeboat disks")
		if i < 0 {
			return false
		}
		out := s[i:]
		rows := tableRows(out, cliCols...)
		if rowWith(rows, "DISK", "/dev/sr0") == nil {
			return false
		}
		for _, d := range disks {
			if rowWith(rows, "SERIAL", d.serial) == nil {
				return false
			}
		}
		return promptLine(out) >= 0
	})
	t.Logf("the shell prompt came %s after s; lifeboat disks printed in %s:\n%s", shell, time.Since(stage).Round(100*time.Millisecond), s)
	rows = tableRows(s[strings.LastIndex(s, "lifeboat disks"):], cliCols...)
	for _, d := range disks {
		r := rowWith(rows, "SERIAL", d.serial)
		if r["MODEL"] != d.cli || r["BUS"] != d.bus || !strings.HasPrefix(r["DISK"], "/dev/") {
			t.Errorf("lifeboat disks shows %s as %q with model %q on bus %q, want /dev/... with %q on %q", d.serial, r["DISK"], r["MODEL"], r["BUS"], d.cli, d.bus)
		}
	}
	if r := rowWith(rows, "DISK", "/dev/sr0"); r == nil || r["SIZE"] != "-" || r["TABLE"] != "-" || !strings.HasPrefix(r["NOTES"], "no medium") {
		t.Errorf("lifeboat disks shows the empty CD drive as %q, want size and table - and the note no medium", r)
	}

	// exit returns to the UI, which takes keys again.
	stage = time.Now()
	v.text("exit")
	v.keys("Enter")
	v.waitFor(2*time.Minute, "Disks", "c capture", "p power off", "VIRTIO0001", "USB0001")
	back := time.Since(stage).Round(100 * time.Millisecond)
	v.keys("l")
	v.waitFor(time.Minute, "Log", "Esc back")
	v.keys("Escape")
	s = v.waitFor(time.Minute, "Disks", "p power off")
	t.Logf("the UI came back %s after exit, and takes keys:\n%s", back, s)
}

// promptLine is the index of the last line of screen that is an empty
// shell prompt ("> " for u-root's gosh, "$ " or "# " for others), or -1.
func promptLine(screen string) int {
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		switch strings.TrimSpace(lines[i]) {
		case ">", "$", "#":
			return i
		}
	}
	return -1
}
