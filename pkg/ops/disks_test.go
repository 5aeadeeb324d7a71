package ops

import (
	"path/filepath"
	"testing"

	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
)

// TestDescribeLeavesEmptyDriveAlone describes a CD drive the inventory
// found empty: it must not be opened (each open or read of an empty drive
// makes the kernel log errors, and the UI describes the disks every few
// seconds). Its node here does not exist, so any attempt to open it would
// show as TableErr.
func TestDescribeLeavesEmptyDriveAlone(t *testing.T) {
	node := filepath.Join(t.TempDir(), "sr0")
	got := Describe([]inventory.Disk{{
		Name: "sr0", Path: node, Size: 0x1fffff * 2048, LogicalSectorSize: 2048,
		Removable: true, NoMedium: true,
	}}, nil)
	if len(got) != 1 {
		t.Fatalf("Describe returned %d disks, want 1", len(got))
	}
	d := got[0]
	if d.TableErr != nil || d.Table != nil || !d.NoMedium || d.Size != 0 {
		t.Errorf("the empty drive is described with table %v, error %v, no medium %t, size %d; want no table, no error, no medium, size 0", d.Table, d.TableErr, d.NoMedium, d.Size)
	}
	if f := d.Flags(); len(f) == 0 || f[0] != "no medium" {
		t.Errorf("flags %q, want no medium first", f)
	}
}
