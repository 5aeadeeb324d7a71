package inventory

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// guessSectors is what the kernel's sr driver gives an empty drive as its
// size in sysfs: 0x1fffff sectors of 2048 bytes, in 512-byte units.
const guessSectors = 0x1fffff * 4

const pcSr0 = "devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0"

// TestScanAsksOpticalDriveWithoutWaiting scans the pc fixture with its DVD
// drive given the size the kernel gives an empty drive, and a node for it
// that is a named pipe: opening the pipe for reading without O_NONBLOCK
// would wait for a writer forever, as opening a drive for reading makes the
// kernel check for a disc and read it. Scan must ask only with O_NONBLOCK,
// and, the status request failing on a pipe, count the drive as holding a
// disc.
func TestScanAsksOpticalDriveWithoutWaiting(t *testing.T) {
	src := brokenPC(t, func(sys string) {
		if err := os.WriteFile(filepath.Join(sys, pcSr0, "block/sr0/size"), []byte("8388604\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	src.DevRoot = t.TempDir()
	if err := unix.Mkfifo(filepath.Join(src.DevRoot, "sr0"), 0o600); err != nil {
		t.Fatal(err)
	}
	disks, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var sr0 *Disk
	for i := range disks {
		if disks[i].Name == "sr0" {
			sr0 = &disks[i]
		}
	}
	if sr0 == nil {
		t.Fatalf("sr0 is not listed: %+v", disks)
	}
	if sr0.NoMedium || sr0.Size != guessSectors*512 {
		t.Errorf("sr0 has no medium %t, size %d; want a medium (its status cannot be asked) and size %d", sr0.NoMedium, sr0.Size, int64(guessSectors*512))
	}
}

// TestDriveEmpty checks how the drive status answers are read.
func TestDriveEmpty(t *testing.T) {
	for status, want := range map[int]bool{
		cdsNoInfo: false, cdsNoDisc: true, cdsTrayOpen: true, cdsDriveNotReady: true, cdsDiscOK: false,
	} {
		if got := driveEmpty(status); got != want {
			t.Errorf("driveEmpty(%d) = %t, want %t", status, got, want)
		}
	}
}
