package initramfs_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestCloneWizardFit clones the 256 MiB demo disk onto a 96 MiB disk
// through the text UI's clone wizard, by keystrokes over the serial
// console: the source is not offered as its own target, the fit layout is
// planned on its own, and the rescue environment shrinks ext4 (resize2fs)
// and NTFS (ntfsresize) on device-mapper joins and FAT32 by moving its
// clusters, with no repository anywhere. The copy's checkers are clean,
// the source is unchanged, and the copy boots alone.
func TestCloneWizardFit(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	source := filepath.Join(work, "source.img")
	id := "clone fit test " + filepath.Base(work)
	makeDemoDisk(t, source, id)
	sourceHash := testutil.HashFile(t, source, -1)
	const size = 96 << 20
	target := blankDisk(t, "target.img", size)

	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=tty0 console=ttyS0,115200 quiet",
		"-device", "virtio-blk-pci,drive=src,serial=DEMO-SRC", "-drive", "file="+source+",format=raw,if=none,id=src",
		"-device", "nvme,serial=SMALLER1,drive=dst", "-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	v.waitFor(4*time.Minute, "Lifeboat", "d clone")
	diskCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	s := v.waitUntil(2*time.Minute, "both disks", func(s string) bool {
		rows := tableRows(s, diskCols...)
		return rowWith(rows, "SERIAL", "DEMO-SRC") != nil && rowWith(rows, "SERIAL", "SMALLER1") != nil
	})
	srcDev := rowWith(tableRows(s, diskCols...), "SERIAL", "DEMO-SRC")["DISK"]

	v.selectRow("DEMO-SRC")
	v.keys("d")
	v.waitFor(time.Minute, "Clone: 1/3 choose the disk to copy")
	if row := v.selectedRow(); !strings.Contains(row, "DEMO-SRC") {
		t.Fatalf("the clone wizard does not start on the disk chosen on the disks screen; highlighted: %q\n%s", row, v.screen())
	}
	v.keys("Enter")
	waitWrapped(v, time.Minute, "2/3 choose the disk to overwrite with a copy of "+srcDev, srcDev+" (the source)")
	v.selectRow("SMALLER1")
	v.keys("Enter")
	s = waitWrapped(v, 3*time.Minute, "3/3 confirm", "DESTROY", "serial SMALLER1", "Copy", "serial DEMO-SRC", "Layout fit", "Type SMALLER1 to destroy it and copy")
	t.Logf("clone summary:\n%s", s)
	v.text("SMALLER1")
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Clone /dev/"+srcDev)
	t.Logf("clone done:\n%s", s)
	for _, want := range []string{"partition 1 (ext4) shrunk", "partition 2 (vfat) shrunk", "partition 3 (ntfs) shrunk"} {
		if !strings.Contains(squeeze(s), squeeze(want)) {
			t.Errorf("the clone's summary does not say %q", want)
		}
	}
	v.keys("Enter")
	v.waitFor(time.Minute, "Disks", "p power off")
	v.keys("p")
	v.waitFor(time.Minute, "Power off now?")
	v.keys("y")
	v.waitExit(2 * time.Minute)

	if testutil.HashFile(t, source, -1) != sourceHash {
		t.Error("the clone changed its source")
	}
	for _, p := range checkDemoPartitions(t, target) {
		if p.Start+p.Size > size {
			t.Errorf("partition %d ends at byte %d, past the %d-byte disk", p.Number, p.Start+p.Size, int64(size))
		}
	}
	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) {
		t.Fatalf("the copy did not boot to its own marker (id %q):\n%s", id, booted)
	}
}

// squeeze drops blanks and box-drawing borders, so that text wrapped over
// lines of a bordered view reads as one.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\t' || (r >= 0x2500 && r <= 0x257f) {
			return -1
		}
		return r
	}, s)
}

// waitWrapped waits until the screen shows every one of want, each maybe
// wrapped over lines.
func waitWrapped(v *vm, timeout time.Duration, want ...string) string {
	v.t.Helper()
	return v.waitUntil(timeout, fmt.Sprintf("%q", want), func(s string) bool {
		for _, w := range want {
			if !strings.Contains(squeeze(s), squeeze(w)) {
				return false
			}
		}
		return true
	})
}
