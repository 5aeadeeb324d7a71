package initramfs_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEmptyCDDriveStaysQuiet boots the rescue environment with an empty CD
// drive beside a blank disk and checks, once the UI lists the drive as
// having no medium and has rescanned the disks and repositories (F5, twice),
// that the kernel logged no error about the drive: the disk list and the
// repository finder must ask the drive whether it holds a disc without
// opening it for reading or mounting it, which the kernel answers with
// errors ("/dev/sr0: Can't open blockdev", I/O errors) each time. The UI's
// log then shows Lifeboat's lines only, and k the kernel's.
func TestEmptyCDDriveStaysQuiet(t *testing.T) {
	dir := bootDir(t)
	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=tty0 console=ttyS0,115200 quiet",
		"-device", "ahci,id=ahci", "-device", "ide-cd,bus=ahci.1",
		"-device", "virtio-blk-pci,drive=d0,serial=BLANK0001",
		"-drive", "file="+blankDisk(t, "blank.img", 1<<30)+",format=raw,if=none,id=d0")
	v.waitFor(4*time.Minute, "Lifeboat", "c capture", "p power off")
	cols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	v.waitUntil(3*time.Minute, "the empty CD drive with no medium", func(s string) bool {
		r := rowWith(tableRows(s, cols...), "DISK", "sr0")
		return r != nil && strings.HasPrefix(r["FLAGS"], "no medium")
	})
	for i := 0; i < 2; i++ {
		v.keys("F5")
		v.waitFor(2*time.Minute, "BLANK0001", "c capture")
	}
	v.keys("s")
	v.waitFor(time.Minute, "type exit to return to the menu")
	v.waitUntil(2*time.Minute, "the shell's prompt", func(s string) bool {
		_, after, ok := strings.Cut(s, "type exit to return to the menu")
		return ok && promptLine(after) >= 0
	})
	// u-root's grep takes one pattern.
	v.text("dmesg | grep sr0; dmesg | grep 'I/O error'; echo kernel-log-done")
	v.keys("Enter")
	v.waitUntil(time.Minute, "the kernel's lines about the drive", func(s string) bool {
		return strings.Contains(s, "\nkernel-log-done")
	})
	h := v.history()
	out := h[strings.LastIndex(h, "dmesg | grep sr0"):]
	out = out[strings.IndexByte(out, '\n')+1:] // the command's own line names I/O errors
	if !strings.Contains(out, "Attached scsi CD-ROM sr0") {
		t.Fatalf("the kernel's log does not show the CD drive attached:\n%s", out)
	}
	// A kernel record is "<PRIORITY>[TIME] text"; 0 to 3 are errors and
	// worse.
	bad := regexp.MustCompile(`<[0-3]>\[[ 0-9.]+\].*|.*I/O error.*`)
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if bad.MatchString(l) {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) > 0 {
		t.Errorf("the kernel logged %d errors about the empty CD drive:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	t.Logf("the kernel's lines about the drive:\n%s", out)

	// Back in the UI, the log shows Lifeboat's own lines; k shows the
	// kernel's, which are kept apart.
	v.text("exit")
	v.keys("Enter")
	v.waitFor(2*time.Minute, "BLANK0001", "c capture")
	v.keys("l")
	s := v.waitFor(time.Minute, "Log: ", "Lifeboat")
	if strings.Contains(s, "kernel:") || strings.Contains(s, "Attached scsi") {
		t.Errorf("Lifeboat's log shows kernel messages:\n%s", s)
	}
	v.keys("k")
	s = v.waitFor(time.Minute, "Kernel messages: ")
	t.Logf("the kernel's messages in the UI:\n%s", s)
}
