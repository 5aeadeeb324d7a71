package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// oneFS makes a GPT disk image with one partition at 1 MiB full of
// garbage, makes a file system in it with mkfs and fills it with a few
// files through how (mount, mtools, ntfs-3g). It returns the image and a
// loop device over the partition, still attached.
func oneFS(t *testing.T, size int64, how string, mkfs ...string) (img, dev string) {
	t.Helper()
	img = filepath.Join(t.TempDir(), "disk.img")
	mk(t, img, size+2*MiB)
	partitionDisk(t, img, MiB, size)
	garbage(t, img, MiB, size, 3)
	dev = loopPart(t, img, MiB, size)
	testutil.Run(t, mkfs[0], append(mkfs[1:], dev)...)
	c := fsCase{fill: how, dataMiB: 4}
	fillFS(t, c, dev, filepath.Join(t.TempDir(), "tree"))
	return img, dev
}

// captureWhole captures img and checks that its partition was captured
// whole with a warning that says why, then that a restore gives back the
// source byte for byte.
func captureWhole(t *testing.T, img, why string) {
	t.Helper()
	r := newRepo(t)
	m := capture(t, r, img, "img", CaptureOptions{})
	p := m.Table.Partitions[0]
	if !strings.HasPrefix(p.Capture, "every sector") || p.UsedBytes != p.Size {
		t.Errorf("partition captured as %q, %d of %d bytes; want every sector", p.Capture, p.UsedBytes, p.Size)
	}
	found := false
	for _, w := range m.Warnings {
		found = found || strings.Contains(w, why)
	}
	if !found {
		t.Errorf("warnings %q do not say %q", m.Warnings, why)
	}
	dst := filepath.Join(t.TempDir(), "dst.img")
	if _, err := restore(t, r, "img", dst, m.Disk.Size, 0); err != nil {
		t.Fatal(err)
	}
	if a, b := testutil.HashFile(t, img, -1), testutil.HashFile(t, dst, -1); a != b {
		t.Errorf("restored disk differs from the source")
	}
}

// TestUncleanFileSystemsCapturedWhole: a file system whose allocation map
// may not cover pending changes is captured whole, with a warning.
func TestUncleanFileSystemsCapturedWhole(t *testing.T) {
	testutil.Root(t)
	t.Run("ext4 journal needs recovery", func(t *testing.T) {
		img, dev := oneFS(t, 32*MiB, "mount", "mkfs.ext4", "-q", "-F", "-E", "nodiscard")
		testutil.Run(t, "debugfs", "-w", "-R", "feature needs_recovery", dev)
		detach(t, dev)
		captureWhole(t, img, "journal needs recovery")
	})
	t.Run("NTFS hibernated", func(t *testing.T) {
		img, dev := oneFS(t, 32*MiB, "ntfs-3g", "mkfs.ntfs", "-q", "-f", "-F")
		mnt := mount(t, "ntfs-3g", dev, false)
		hib := append([]byte("HIBR"), bytes.Repeat([]byte{0x5a}, 256<<10)...)
		if err := os.WriteFile(filepath.Join(mnt, "hiberfil.sys"), hib, 0o644); err != nil {
			t.Fatal(err)
		}
		unmount(t, mnt)
		detach(t, dev)
		captureWhole(t, img, "Windows is hibernated")
	})
	t.Run("NTFS dirty", func(t *testing.T) {
		img, dev := oneFS(t, 32*MiB, "ntfs-3g", "mkfs.ntfs", "-q", "-f", "-F")
		detach(t, dev)
		setNTFSDirty(t, img, MiB)
		captureWhole(t, img, "marked dirty")
	})
	t.Run("FAT dirty", func(t *testing.T) {
		img, dev := oneFS(t, 48*MiB, "mtools", "mkfs.vfat", "-F", "32", "-s", "1")
		detach(t, dev)
		// The dirty bit of FAT32's boot sector state byte, as Linux sets
		// it while the file system is mounted.
		testutil.WriteAt(t, img, []byte{1}, MiB+65)
		captureWhole(t, img, "marked dirty")
	})
}

// TestCorruptAllocationMapFallsBack: a map that fails its checks makes the
// capture take every sector of that partition, with a warning.
func TestCorruptAllocationMapFallsBack(t *testing.T) {
	testutil.Root(t)
	t.Run("ext4 bitmap checksum", func(t *testing.T) {
		img, dev := oneFS(t, 32*MiB, "mount", "mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "nodiscard")
		out := testutil.Run(t, "dumpe2fs", dev)
		detach(t, dev)
		var blk int64
		for _, l := range strings.Split(out, "\n") {
			if _, after, ok := strings.Cut(l, "Block bitmap at "); ok {
				fmt.Sscan(after, &blk)
				break
			}
		}
		if blk == 0 {
			t.Fatalf("no block bitmap in dumpe2fs output")
		}
		// Clear the first byte of group 0's bitmap: blocks 0-7 (the
		// superblock and descriptors) look free.
		testutil.WriteAt(t, img, []byte{0}, MiB+blk*4096)
		captureWhole(t, img, "fails its checksum")
	})
	t.Run("NTFS $Bitmap record", func(t *testing.T) {
		img, dev := oneFS(t, 32*MiB, "ntfs-3g", "mkfs.ntfs", "-q", "-f", "-F")
		detach(t, dev)
		boot := make([]byte, 512)
		f, _ := os.Open(img)
		f.ReadAt(boot, MiB)
		f.Close()
		cs := int64(binary.LittleEndian.Uint16(boot[11:])) * int64(boot[13])
		mft := int64(binary.LittleEndian.Uint64(boot[48:])) * cs
		testutil.WriteAt(t, img, []byte("XXXX"), MiB+mft+6*1024)
		captureWhole(t, img, "no FILE signature")
	})
}

// TestOutsideAreasAndLeaveUnused: everything outside file systems (boot
// code, the post-MBR gap, a partition without a file system, gaps between
// partitions, the EBR of a logical partition) round-trips byte for byte;
// a restore that leaves unused space untouched keeps the target's bytes
// there and still gives clean file systems with the same files.
func TestOutsideAreasAndLeaveUnused(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 160 * MiB
	mk(t, src, size)
	garbage(t, src, 0, size, 4)
	layout := "label: dos\nlabel-id: 0x1234abcd\n" +
		"start=2048, size=2048, type=da\n" + // raw data, no file system
		"start=8192, size=98304, type=83\n" + // ext4, after a gap
		"start=110592, type=5\n" + // extended
		"start=112640, size=65536, type=6\n" // logical FAT16
	cmd := exec.Command("sfdisk", "-q", src)
	cmd.Stdin = strings.NewReader(layout)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	ext := loopPart(t, src, 8192*512, 98304*512)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", "nodiscard", ext)
	fillFS(t, fsCase{fill: "mount", dataMiB: 8}, ext, filepath.Join(dir, "t1"))
	fat := loopPart(t, src, 112640*512, 65536*512)
	testutil.Run(t, "mkfs.vfat", "-F", "16", fat)
	fillFS(t, fsCase{fill: "mtools", dataMiB: 6}, fat, filepath.Join(dir, "t2"))
	wantExt := snapshot(t, fsCase{snap: "debugfs"}, ext)
	wantFAT := snapshot(t, fsCase{snap: "mtools"}, fat)
	detach(t, ext)
	detach(t, fat)

	r := newRepo(t)
	m := capture(t, r, src, "img", CaptureOptions{})
	byNum := map[int]string{}
	for _, p := range m.Table.Partitions {
		byNum[p.Number] = p.Capture
	}
	if !strings.HasPrefix(byNum[2], "used blocks") || !strings.HasPrefix(byNum[5], "used blocks") || !strings.HasPrefix(byNum[1], "every sector") {
		t.Fatalf("partitions captured as %v", byNum)
	}

	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave unused %v", leave), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.img")
			mk(t, dst, size)
			garbage(t, dst, 0, size, 5)
			before, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			dev := testutil.Loop(t, dst, 0)
			d, err := disk.Open(dev, disk.Options{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			im := openImage(t, r, "img")
			if _, err := Restore(context.Background(), im, d, RestoreOptions{SkipHoles: leave, Progress: &progress.Tracker{}}); err != nil {
				t.Fatal(err)
			}
			if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{UsedOnly: leave}); err != nil {
				t.Fatalf("%v %v", err, rep.Problems)
			}
			d.Close()
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(src)
			// Outside the two file systems: the source's bytes.
			for _, r := range [][2]int64{{0, 8192 * 512}, {106496 * 512, 112640 * 512}, {(112640 + 65536) * 512, size}} {
				if !bytes.Equal(got[r[0]:r[1]], orig[r[0]:r[1]]) {
					t.Errorf("bytes %d to %d differ from the source", r[0], r[1])
				}
			}
			// Inside them, where nothing is used: zeros, or the target's
			// own bytes when left alone.
			unusedSame, unusedZero := 0, 0
			for i, e := range m.Extents {
				off, n := m.ExtentRange(i)
				if !e.Hole {
					continue
				}
				if bytes.Equal(got[off:off+n], before[off:off+n]) {
					unusedSame++
				}
				if allZero(got[off : off+n]) {
					unusedZero++
				}
			}
			holes := 0
			for _, e := range m.Extents {
				if e.Hole {
					holes++
				}
			}
			if holes == 0 {
				t.Fatal("the image has no holes: the file systems' free space was captured")
			}
			if leave && unusedSame != holes || !leave && unusedZero != holes {
				t.Errorf("of %d holes, %d kept the target's bytes and %d are zeros (leave unused: %v)", holes, unusedSame, unusedZero, leave)
			}
			ext := loopPart(t, dst, 8192*512, 98304*512)
			fat := loopPart(t, dst, 112640*512, 65536*512)
			for _, c := range [][]string{{"e2fsck", "-fn", ext}, {"fsck.vfat", "-n", fat}} {
				if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", c, err, out)
				}
			}
			diffSnapshots(t, wantExt, snapshot(t, fsCase{snap: "debugfs"}, ext))
			diffSnapshots(t, wantFAT, snapshot(t, fsCase{snap: "mtools"}, fat))
		})
	}

	t.Run("all sectors", func(t *testing.T) {
		m := capture(t, r, src, "forensic", CaptureOptions{AllSectors: true})
		if m.Stats.BytesRead != size || m.Stats.UnusedBytes != 0 {
			t.Errorf("read %d of %d bytes, %d unused", m.Stats.BytesRead, size, m.Stats.UnusedBytes)
		}
		for _, e := range m.Extents {
			if e.Used != nil {
				t.Fatalf("an all-sectors image has a partly used extent")
			}
		}
		dst := filepath.Join(t.TempDir(), "dst.img")
		if _, err := restore(t, r, "forensic", dst, size, 0); err != nil {
			t.Fatal(err)
		}
		if testutil.HashFile(t, dst, -1) != testutil.HashFile(t, src, -1) {
			t.Error("an all-sectors restore differs from the source")
		}
	})
}

// setNTFSDirty sets the dirty flag of the NTFS volume at off in img, as
// Windows leaves it after a crash: in the $VOLUME_INFORMATION attribute of
// file record 3 ($Volume), which lies in the record's first sector.
func setNTFSDirty(t *testing.T, img string, off int64) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, off); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	cs := int64(le.Uint16(boot[11:])) * int64(boot[13])
	recOff := off + int64(le.Uint64(boot[48:]))*cs + 3*1024
	rec := make([]byte, 1024)
	if _, err := f.ReadAt(rec, recOff); err != nil {
		t.Fatal(err)
	}
	for a := int(le.Uint16(rec[20:])); a+24 <= len(rec) && le.Uint32(rec[a:]) != 0xFFFFFFFF; a += int(le.Uint32(rec[a+4:])) {
		if le.Uint32(rec[a:]) != 0x70 {
			continue
		}
		flags := a + int(le.Uint16(rec[a+20:])) + 10
		if flags%512 >= 510 {
			t.Fatal("the volume flags lie under an update sequence number")
		}
		rec[flags] |= 1
		if _, err := f.WriteAt(rec[flags:flags+1], recOff+int64(flags)); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no $VOLUME_INFORMATION in file record 3")
}
