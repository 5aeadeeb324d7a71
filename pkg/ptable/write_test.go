package ptable

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// writeImage writes table t onto a new sparse file of size bytes and
// returns its path.
func writeImage(t *testing.T, tb *Table, size int64) string {
	t.Helper()
	patches, err := tb.Write(size)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	for _, pt := range patches {
		if _, err := f.WriteAt(pt.Data, pt.Offset); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestWriteReadsBack writes GPT and MBR tables (with logical partitions,
// on 512- and 4096-byte sectors), reads them back, and has sgdisk and
// sfdisk check them.
func TestWriteReadsBack(t *testing.T) {
	const MiB = 1 << 20
	for _, lss := range []int{512, 4096} {
		t.Run(fmt.Sprintf("gpt-%d", lss), func(t *testing.T) {
			tb := &Table{Type: TypeGPT, SectorSize: lss, DiskID: "0B0E8C35-2F5B-4C5E-9E4A-3C5D6E7F8091", Partitions: []Partition{
				{Number: 1, Start: MiB, Size: 100 * MiB, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", GUID: "11111111-2222-4333-8444-555555555555", Name: "EFI system", Attributes: 1},
				{Number: 3, Start: 101 * MiB, Size: 50 * MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", GUID: "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", Name: "root"},
			}}
			size := int64(3000*MiB + 7*lss) // not whole MiB; over 2 TiB would be slow to check
			p := writeImage(t, tb, size)
			got := readTable(t, p, lss)
			opts := cmpopts.IgnoreFields(Partition{}, "TypeName")
			if diff := cmp.Diff(tb.Partitions, got.Partitions, opts); diff != "" || got.DiskID != tb.DiskID || len(got.Warnings) > 0 {
				t.Errorf("read back (-wrote +read):\n%s\ndisk %s, warnings %q", diff, got.DiskID, got.Warnings)
			}
			if lss == 512 {
				if out := testutil.Run(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
					t.Errorf("sgdisk -v:\n%s", out)
				}
			}
		})
	}
	t.Run("gpt-3TiB", func(t *testing.T) {
		// The protective entry of a disk over 2 TiB says 0xFFFFFFFF sectors.
		tb := &Table{Type: TypeGPT, SectorSize: 512, DiskID: "0B0E8C35-2F5B-4C5E-9E4A-3C5D6E7F8091", Partitions: []Partition{
			{Number: 1, Start: MiB, Size: 3 << 40, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", GUID: "11111111-2222-4333-8444-555555555555"}}}
		p := writeImage(t, tb, 3<<40+2*MiB)
		got := readTable(t, p, 512)
		if len(got.Partitions) != 1 || got.Partitions[0].Size != 3<<40 || len(got.Warnings) > 0 {
			t.Errorf("read back %+v, warnings %q", got.Partitions, got.Warnings)
		}
		lba0 := make([]byte, 512)
		f, _ := os.Open(p)
		f.ReadAt(lba0, 0)
		f.Close()
		if e := lba0[446:462]; e[4] != 0xEE || string(e[12:16]) != "\xff\xff\xff\xff" || string(lba0[510:]) != "\x55\xaa" {
			t.Errorf("protective MBR entry % x", e)
		}
	})
	t.Run("mbr-logical", func(t *testing.T) {
		tb := &Table{Type: TypeMBR, SectorSize: 512, Partitions: []Partition{
			{Number: 1, Start: MiB, Size: 40 * MiB, Type: "0x83", Bootable: true},
			{Number: 2, Start: 42 * MiB, Size: 100 * MiB, Type: "0x05", Extended: true},
			{Number: 5, Start: 43 * MiB, Size: 30 * MiB, Type: "0x06", Logical: true, EBR: 42 * MiB},
			{Number: 6, Start: 75 * MiB, Size: 67 * MiB, Type: "0x83", Logical: true, EBR: 74 * MiB},
		}}
		p := writeImage(t, tb, 150*MiB)
		got := readTable(t, p, 512)
		opts := cmpopts.IgnoreFields(Partition{}, "TypeName")
		if diff := cmp.Diff(tb.Partitions, got.Partitions, opts); diff != "" || len(got.Warnings) > 0 {
			t.Errorf("read back (-wrote +read):\n%s\nwarnings %q", diff, got.Warnings)
		}
		if out, err := exec.Command("sfdisk", "-V", p).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
			t.Errorf("sfdisk -V: %v\n%s", err, out)
		}
	})
	for _, c := range []struct {
		name string
		tb   *Table
		want string
	}{
		{"overlap", &Table{Type: TypeGPT, SectorSize: 512, Partitions: []Partition{
			{Number: 1, Start: MiB, Size: 10 * MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
			{Number: 2, Start: 5 * MiB, Size: 10 * MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}}}, "overlap"},
		{"past the usable end", &Table{Type: TypeGPT, SectorSize: 512, Partitions: []Partition{
			{Number: 1, Start: MiB, Size: 63 * MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}}}, "outside the usable area"},
		{"not whole sectors", &Table{Type: TypeGPT, SectorSize: 4096, Partitions: []Partition{
			{Number: 1, Start: MiB + 512, Size: MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}}}, "not whole 4096-byte sectors"},
		{"logical outside", &Table{Type: TypeMBR, SectorSize: 512, Partitions: []Partition{
			{Number: 1, Start: MiB, Size: 10 * MiB, Type: "0x05", Extended: true},
			{Number: 5, Start: 2 * MiB, Size: 20 * MiB, Type: "0x83", Logical: true, EBR: MiB}}}, "does not fit in the extended partition"},
	} {
		if _, err := c.tb.Write(64 * MiB); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
