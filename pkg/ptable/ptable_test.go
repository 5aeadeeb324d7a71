package ptable

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

const MiB = 1 << 20

func readTable(t *testing.T, path string, lss int) *Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	tb, err := Read(f, st.Size(), lss)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestReadGPT(t *testing.T) {
	img := testutil.Sparse(t, "gpt.img", 64*MiB)
	testutil.Run(t, "sgdisk", "-U", "11111111-2222-3333-4444-555555555555",
		"-n1:2048:+8M", "-t1:ef00", "-c1:EFI system", "-u1:AAAAAAAA-0000-0000-0000-000000000001",
		"-n2:0:+20M", "-t2:8300", "-c2:root fs", "-u2:AAAAAAAA-0000-0000-0000-000000000002", "-A2:set:2",
		img)
	got := readTable(t, img, 512)
	want := &Table{
		Type: TypeGPT, SectorSize: 512, DiskID: "11111111-2222-3333-4444-555555555555",
		Partitions: []Partition{
			{Number: 1, Start: 1 * MiB, Size: 8 * MiB, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", TypeName: "EFI System", GUID: "AAAAAAAA-0000-0000-0000-000000000001", Name: "EFI system"},
			{Number: 2, Start: 9 * MiB, Size: 20 * MiB, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", TypeName: "Linux filesystem", GUID: "AAAAAAAA-0000-0000-0000-000000000002", Name: "root fs", Attributes: 1 << 2},
		},
		Areas: []Area{
			{AreaMBR, 0, 512},
			{AreaGPTPrimary, 512, 512},
			{AreaGPTEntries, 1024, 16384},
			{AreaGPTBackupEnts, 64*MiB - 512 - 16384, 16384},
			{AreaGPTBackup, 64*MiB - 512, 512},
			{AreaGap, 1024 + 16384, 1*MiB - 1024 - 16384},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Table{})); diff != "" {
		t.Fatalf("table (-want +got):\n%s", diff)
	}
}

func TestReadMBRWithLogicalPartitions(t *testing.T) {
	img := testutil.Sparse(t, "mbr.img", 64*MiB)
	sfdisk(t, img, "label: dos\nlabel-id: 0x1234abcd\n"+
		"start=2048, size=8MiB, type=c, bootable\n"+
		"type=5\n"+
		"size=10MiB, type=83\n"+
		"size=12MiB, type=82\n"+
		"size=5MiB, type=7\n")
	got := readTable(t, img, 512)
	// sfdisk leaves one sector (or its alignment) before each logical partition for its EBR.
	out := testutil.Run(t, "sfdisk", "-d", img)
	if got.Type != TypeMBR || got.DiskID != "1234abcd" {
		t.Fatalf("type %q id %q, want mbr 1234abcd", got.Type, got.DiskID)
	}
	var nums []string
	for _, p := range got.Partitions {
		nums = append(nums, fmt.Sprintf("%d:%s:%d:%v:%v", p.Number, p.Type, p.Size/MiB, p.Logical, p.Bootable))
	}
	want := []string{"1:0x0c:8:false:true", "2:0x05:55:false:false", "5:0x83:10:true:false", "6:0x82:12:true:false", "7:0x07:5:true:false"}
	if diff := cmp.Diff(want, nums); diff != "" {
		t.Fatalf("partitions (-want +got):\n%s", diff)
	}
	// Starts agree with sfdisk's own dump.
	for _, p := range got.Partitions {
		needle := fmt.Sprintf("%s%d : start=%12d, size=%12d", img, p.Number, p.Start/512, p.Size/512)
		if !strings.Contains(out, needle) {
			t.Errorf("partition %d start %d not in sfdisk dump", p.Number, p.Start/512)
		}
	}
}

func TestEBRLoopIsReported(t *testing.T) {
	img := testutil.Sparse(t, "loop.img", 16*MiB)
	sfdisk(t, img, "label: dos\nstart=2048, type=5\nsize=2MiB, type=83\nsize=2MiB, type=83\n")
	// Point the second EBR's link back at the first.
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	defer f.Close()
	tb := readTable(t, img, 512)
	if len(tb.Partitions) != 3 {
		t.Fatalf("setup: %d partitions", len(tb.Partitions))
	}
	// Find the second EBR: scan the extended partition for 55AA sectors.
	var ebrs []int64
	buf := make([]byte, 512)
	for lba := int64(2048); lba < 16*2048; lba++ {
		f.ReadAt(buf, lba*512)
		if buf[510] == 0x55 && buf[511] == 0xAA {
			ebrs = append(ebrs, lba)
		}
	}
	if len(ebrs) != 2 {
		t.Fatalf("found %d EBRs", len(ebrs))
	}
	f.ReadAt(buf, ebrs[1]*512)
	copy(buf[462:478], []byte{0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}) // link to offset 0 = first EBR
	f.WriteAt(buf, ebrs[1]*512)
	tb = readTable(t, img, 512)
	if len(tb.Partitions) != 3 {
		t.Errorf("with a looping chain: %d partitions, want the 3 read before the loop", len(tb.Partitions))
	}
	if len(tb.Warnings) != 1 || !strings.Contains(tb.Warnings[0], "loops back") {
		t.Errorf("warnings = %q, want a loop warning", tb.Warnings)
	}
}

func TestDamagedPrimaryUsesBackup(t *testing.T) {
	img := testutil.Sparse(t, "gpt.img", 32*MiB)
	testutil.Run(t, "sgdisk", "-n1:2048:+4M", "-n2:0:+4M", img)
	good := readTable(t, img, 512)
	testutil.WriteAt(t, img, []byte("garbage!"), 512+100) // inside the header's reserved tail is not checked; hit the CRC'd part
	testutil.WriteAt(t, img, []byte{0xff}, 512+40)
	got := readTable(t, img, 512)
	if got.Type != TypeGPT || len(got.Warnings) == 0 || !strings.Contains(got.Warnings[0], "using the backup") {
		t.Fatalf("type %q warnings %q", got.Type, got.Warnings)
	}
	if diff := cmp.Diff(good.Partitions, got.Partitions); diff != "" {
		t.Fatalf("partitions from backup differ:\n%s", diff)
	}
	// Relocating a table read from its backup also rewrites the primary.
	patches, err := got.RelocateGPT(32*MiB, 32*MiB)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	for _, p := range patches {
		f.WriteAt(p.Data, p.Offset)
	}
	f.Close()
	if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v after repair:\n%s", out)
	}
}

func TestNoTable(t *testing.T) {
	img := testutil.Sparse(t, "blank.img", 4*MiB)
	got := readTable(t, img, 512)
	if got.Type != TypeNone || len(got.Partitions) != 0 {
		t.Fatalf("blank disk: %+v", got)
	}
}

// TestRelocateMatchesSgdisk checks RelocateGPT against `sgdisk -e` byte for
// byte, for 512- and 4096-byte sectors and for disks past the CHS limit.
func TestRelocateMatchesSgdisk(t *testing.T) {
	cases := []struct {
		lss            int
		oldMiB, newMiB int64
	}{
		{512, 64, 100},
		{512, 64, 64*1024 + 3},      // CHS saturates
		{512, 100, 3 * 1024 * 1024}, // past 2 TiB: protective entry saturates
		{4096, 64, 96},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-%dM-%dM", c.lss, c.oldMiB, c.newMiB), func(t *testing.T) {
			src := testutil.Sparse(t, "src.img", c.oldMiB*MiB)
			dev := src
			if c.lss != 512 {
				dev = testutil.Loop(t, src, c.lss)
			}
			testutil.Run(t, "sgdisk", "-n1:0:+8M", "-t1:ef00", "-n2:0:+8M", "-c2:two", dev)
			tb := readTable(t, src, c.lss)
			want := testutil.Sparse(t, "want.img", 0)
			testutil.Copy(t, src, want)
			if err := os.Truncate(want, c.newMiB*MiB); err != nil {
				t.Fatal(err)
			}
			wdev := want
			if c.lss != 512 {
				wdev = testutil.Loop(t, want, c.lss)
			}
			testutil.Run(t, "sgdisk", "-e", wdev)
			if c.lss != 512 {
				testutil.Run(t, "sync")
			}
			got := testutil.Sparse(t, "got.img", 0)
			testutil.Copy(t, src, got)
			if err := os.Truncate(got, c.newMiB*MiB); err != nil {
				t.Fatal(err)
			}
			patches, err := tb.RelocateGPT(c.oldMiB*MiB, c.newMiB*MiB)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := os.OpenFile(got, os.O_RDWR, 0)
			for _, p := range patches {
				if _, err := f.WriteAt(p.Data, p.Offset); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			// Compare the regions sgdisk may touch: the first and last MiB.
			for _, off := range []int64{0, c.newMiB*MiB - MiB} {
				a, b := readAt(t, want, off, MiB), readAt(t, got, off, MiB)
				if !bytes.Equal(a, b) {
					for i := range a {
						if a[i] != b[i] {
							t.Fatalf("differs from sgdisk -e at byte %d: sgdisk %02x, ours %02x", off+int64(i), a[i], b[i])
						}
					}
				}
			}
		})
	}
}

func sfdisk(t *testing.T, img, script string) {
	t.Helper()
	p := t.TempDir() + "/layout"
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "sh", "-c", "sfdisk -q "+img+" < "+p)
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRelocateRefusesTooSmall(t *testing.T) {
	img := testutil.Sparse(t, "gpt.img", 64*MiB)
	testutil.Run(t, "sgdisk", "-n1:2048:0", img) // fills the disk
	tb := readTable(t, img, 512)
	if _, err := tb.RelocateGPT(64*MiB, 32*MiB); err == nil {
		t.Fatal("relocating onto a disk smaller than the last partition succeeded")
	}
}

func TestApplyPatches(t *testing.T) {
	buf := bytes.Repeat([]byte{'.'}, 10)
	ApplyPatches(buf, 100, []Patch{{95, []byte("abcdefg")}, {108, []byte("XYZ")}, {200, []byte("no")}})
	if got := string(buf); got != "fg......XY" {
		t.Fatalf("got %q", got)
	}
}

func FuzzRead(f *testing.F) {
	// Seeds: a GPT of 16 sectors with a 4-entry array and two partitions
	// (made by sgdisk on 80 sectors, then moved to 16 with RelocateGPT and
	// checked by sgdisk), and a bare MBR signature.
	img := f.TempDir() + "/seed.img"
	if err := os.WriteFile(img, make([]byte, 80*512), 0o644); err != nil {
		f.Fatal(err)
	}
	testutil.Run(f, "sgdisk", "-S", "4", img)
	testutil.Run(f, "sgdisk", "-a1", "-n1:0:+3", "-n2:0:+3", img)
	seed, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	tb, err := Read(bytes.NewReader(seed), int64(len(seed)), 512)
	if err != nil {
		f.Fatal(err)
	}
	patches, err := tb.RelocateGPT(80*512, 16*512)
	if err != nil {
		f.Fatal(err)
	}
	seed = seed[:16*512]
	for _, p := range patches {
		copy(seed[p.Offset:], p.Data)
	}
	if err := os.WriteFile(img, seed, 0o644); err != nil {
		f.Fatal(err)
	}
	if out := testutil.Run(f, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		f.Fatalf("seed GPT does not verify:\n%s", out)
	}
	f.Add(seed, 512)
	f.Add(seed, 4096)
	f.Add(append(make([]byte, 510), 0x55, 0xAA), 512)
	f.Fuzz(func(t *testing.T, data []byte, lss int) {
		if lss != 4096 {
			lss = 512
		}
		size := int64(len(data)) / int64(lss) * int64(lss)
		tb, err := Read(bytes.NewReader(data), size, lss)
		if err != nil {
			return
		}
		for _, p := range tb.Partitions {
			if p.Start < 0 || p.Size <= 0 {
				t.Fatalf("partition %+v", p)
			}
		}
		if tb.Type != TypeGPT {
			return
		}
		for _, p := range tb.Partitions {
			if p.Start+p.Size > size {
				t.Fatalf("GPT partition %d ends past the disk: %+v", p.Number, p)
			}
		}
		// Relocation onto a larger disk must give a table that reads back
		// the same.
		grown := size + 1<<20
		patches, err := tb.RelocateGPT(size, grown)
		if err != nil {
			return
		}
		buf := make([]byte, grown)
		copy(buf, data)
		for _, p := range patches {
			copy(buf[p.Offset:], p.Data)
		}
		tb2, err := Read(bytes.NewReader(buf), grown, lss)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tb.Partitions, tb2.Partitions); diff != "" {
			t.Fatalf("partitions changed by relocation:\n%s", diff)
		}
	})
}
