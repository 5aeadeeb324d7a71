package disk_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"golang.org/x/sys/unix"
)

const MiB = 1 << 20

// open opens path and closes it when the test ends.
func open(t *testing.T, path string, o disk.Options) *disk.Disk {
	t.Helper()
	d, err := disk.Open(path, o)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", path, o, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// stat returns the stat of path as the kernel reports it.
func stat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// blocks is the number of 512-byte blocks allocated to path.
func blocks(t *testing.T, path string) int64 {
	t.Helper()
	return stat(t, path).Blocks
}

// sysInt reads a number from /sys/block/NAME/attr.
func sysInt(t *testing.T, dev, attr string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), attr))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fill writes n bytes of b at off through d.
func fill(t *testing.T, d *disk.Disk, off, n int64, b byte) {
	t.Helper()
	buf := bytes.Repeat([]byte{b}, MiB)
	for n > 0 {
		c := min(n, int64(len(buf)))
		if w, err := d.WriteAt(buf[:c], off); err != nil || int64(w) != c {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", c, off, w, err)
		}
		off += c
		n -= c
	}
}

// expect checks that every byte of [off, off+n) read through r is b.
func expect(t *testing.T, what string, r io.ReaderAt, off, n int64, b byte) {
	t.Helper()
	buf := make([]byte, n)
	if got, err := r.ReadAt(buf, off); err != nil || int64(got) != n {
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v", what, n, off, got, err)
	}
	for i, c := range buf {
		if c != b {
			t.Fatalf("%s: byte at offset %d is %#x, want %#x", what, off+int64(i), c, b)
		}
	}
}

// expectFile checks bytes of a file as any other reader sees them.
func expectFile(t *testing.T, what, path string, off, n int64, b byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expect(t, what, f, off, n, b)
}

func errContains(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error; want one mentioning %q", what, subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not mention %q", what, err, s)
		}
	}
}

func TestOpenFile(t *testing.T) {
	path := testutil.Sparse(t, "disk.img", 4*MiB)
	st := stat(t, path)

	d := open(t, path, disk.Options{})
	if d.Path() != path || d.Size() != 4*MiB || d.LogicalSectorSize() != 512 || d.PhysicalSectorSize() != 512 {
		t.Errorf("default open: path %s size %d sectors %d/%d; want %s, %d, 512/512",
			d.Path(), d.Size(), d.LogicalSectorSize(), d.PhysicalSectorSize(), path, 4*MiB)
	}
	if d.IsBlockDevice() || d.Created() {
		t.Errorf("a file: IsBlockDevice %v, Created %v; want false, false", d.IsBlockDevice(), d.Created())
	}
	if maj, mnr := d.DevNum(); maj != 0 || mnr != 0 {
		t.Errorf("DevNum of a file = %d:%d, want 0:0", maj, mnr)
	}
	if dev, ino := d.FileIdentity(); dev != st.Dev || ino != st.Ino {
		t.Errorf("FileIdentity = %d/%d, want st_dev %d, st_ino %d", dev, ino, st.Dev, st.Ino)
	}
	if err := d.RereadPartitions(); err != nil {
		t.Errorf("RereadPartitions of a file: %v", err)
	}

	for _, c := range []struct {
		o        disk.Options
		lss, pss int
	}{
		{disk.Options{SectorSize: 4096}, 4096, 4096},
		{disk.Options{SectorSize: 512, PhysicalSectorSize: 4096}, 512, 4096},
		{disk.Options{SectorSize: 65536}, 65536, 65536},
		{disk.Options{Write: true, SectorSize: 4096}, 4096, 4096},
	} {
		d := open(t, path, c.o)
		if d.LogicalSectorSize() != c.lss || d.PhysicalSectorSize() != c.pss || d.Size() != 4*MiB {
			t.Errorf("Open(%+v): sectors %d/%d size %d; want %d/%d, %d",
				c.o, d.LogicalSectorSize(), d.PhysicalSectorSize(), d.Size(), c.lss, c.pss, 4*MiB)
		}
	}

	for _, o := range []disk.Options{
		{SectorSize: 1000},
		{SectorSize: 256},
		{SectorSize: -512},
		{SectorSize: 131072},
		{SectorSize: 4096, PhysicalSectorSize: 512}, // physical smaller than logical
		{PhysicalSectorSize: 3000},
		{Write: true, SectorSize: 520},
	} {
		d, err := disk.Open(path, o)
		if err == nil {
			d.Close()
			t.Errorf("Open(%+v) accepted invalid sector sizes %d/%d", o, d.LogicalSectorSize(), d.PhysicalSectorSize())
			continue
		}
		errContains(t, "invalid sector size", err, path, "invalid sector sizes")
	}
}

// The size of a file is its length, whatever the sector size: the package
// does not require whole sectors.
func TestOpenFileOddSize(t *testing.T) {
	path := testutil.Sparse(t, "odd.img", 1000)
	d := open(t, path, disk.Options{})
	if d.Size() != 1000 || d.LogicalSectorSize() != 512 {
		t.Errorf("size %d sector %d; want 1000, 512", d.Size(), d.LogicalSectorSize())
	}
	buf := make([]byte, 512)
	if n, err := d.ReadAt(buf, 512); n != 488 || err != io.EOF {
		t.Errorf("ReadAt of the last, partial sector = %d, %v; want 488, EOF", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.img")
	for _, o := range []disk.Options{{}, {Write: true}, {CreateSize: MiB}} {
		_, err := disk.Open(missing, o)
		errContains(t, "missing file", err, missing)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(missing, %+v) = %v; want fs.ErrNotExist", o, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open without Write created %s (%v)", missing, err)
	}
	for _, p := range []string{dir, "/dev/null"} {
		d, err := disk.Open(p, disk.Options{})
		if err == nil {
			d.Close()
		}
		errContains(t, p, err, p, "not a block device or regular file")
	}
}

func TestCreateSize(t *testing.T) {
	const size = 64 * MiB
	path := filepath.Join(t.TempDir(), "new.img")
	d := open(t, path, disk.Options{Write: true, CreateSize: size, SectorSize: 4096})
	if !d.Created() || d.Size() != size || d.IsBlockDevice() || d.LogicalSectorSize() != 4096 {
		t.Errorf("created: Created %v size %d block %v sector %d; want true, %d, false, 4096",
			d.Created(), d.Size(), d.IsBlockDevice(), d.LogicalSectorSize(), size)
	}
	st := stat(t, path)
	if st.Size != size || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("file on disk: size %d mode %o; want a regular file of %d bytes", st.Size, st.Mode, size)
	}
	// Sparse: nothing allocated (a file system may keep a block or two of
	// metadata; 64 KiB is far below the 64 MiB a non-sparse file takes).
	if st.Blocks*512 > 64<<10 {
		t.Errorf("new image has %d bytes allocated; want it sparse", st.Blocks*512)
	}
	expect(t, "new image", d, 0, MiB, 0)
	expect(t, "new image end", d, size-MiB, MiB, 0)

	// An existing file is opened, not created again, and keeps its size and
	// contents.
	testutil.WriteAt(t, path, []byte("keep"), 100)
	d2 := open(t, path, disk.Options{Write: true, CreateSize: 2 * size})
	if d2.Created() || d2.Size() != size {
		t.Errorf("existing file: Created %v size %d; want false, %d", d2.Created(), d2.Size(), size)
	}
	got := make([]byte, 4)
	if _, err := d2.ReadAt(got, 100); err != nil || string(got) != "keep" {
		t.Errorf("existing file contents: %q, %v", got, err)
	}
	if !d.SameAs(d2) {
		t.Error("the created disk and the same file opened again are not SameAs")
	}

	// A failed creation leaves no file behind.
	bad := filepath.Join(t.TempDir(), "bad.img")
	if d, err := disk.Open(bad, disk.Options{Write: true, CreateSize: MiB, SectorSize: 1000}); err == nil {
		d.Close()
		t.Error("Open created an image with sector size 1000")
	} else {
		errContains(t, "bad sector size", err, bad)
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed creation left %s behind (stat: %v)", bad, err)
	}
	nodir := filepath.Join(t.TempDir(), "no", "such", "dir.img")
	_, err := disk.Open(nodir, disk.Options{Write: true, CreateSize: MiB})
	errContains(t, "create in a missing directory", err, nodir)
}

func TestReadWriteFile(t *testing.T) {
	const size = 8 * MiB
	path := testutil.Sparse(t, "rw.img", size)
	d := open(t, path, disk.Options{Write: true})

	data := make([]byte, 3*MiB+123)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	for _, off := range []int64{0, 777, size - int64(len(data))} {
		if n, err := d.WriteAt(data, off); err != nil || n != len(data) {
			t.Fatalf("WriteAt(%d) = %d, %v", off, n, err)
		}
		got := make([]byte, len(data))
		if n, err := d.ReadAt(got, off); err != nil || n != len(got) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("ReadAt(%d) returned other bytes than written", off)
		}
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The write at 777 overlapped the one at 0; the one at the end is apart.
	if !bytes.Equal(onDisk[:777], data[:777]) || !bytes.Equal(onDisk[777:777+len(data)], data) ||
		!bytes.Equal(onDisk[size-int64(len(data)):], data) {
		t.Error("the file does not hold what was written")
	}

	// Writes past the end are refused and do not grow the file.
	for _, off := range []int64{size - 10, size, -1} {
		n, err := d.WriteAt(make([]byte, 20), off)
		if n != 0 {
			t.Errorf("WriteAt(%d) past the end wrote %d bytes", off, n)
		}
		errContains(t, "write past the end", err, path, "past the end")
	}
	if st := stat(t, path); st.Size != size {
		t.Errorf("file grew to %d bytes", st.Size)
	}
	// Reads past the end give io.EOF, unwrapped as io.ReaderAt requires.
	buf := make([]byte, 100)
	if n, err := d.ReadAt(buf, size-40); n != 40 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 40, io.EOF", n, err)
	}
	if n, err := d.ReadAt(buf, size); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}

	// A disk opened read-only cannot be written.
	ro := open(t, path, disk.Options{})
	_, err = ro.WriteAt([]byte{1}, 0)
	errContains(t, "write to a read-only disk", err, path, "offset 0")
}

func TestZeroFile(t *testing.T) {
	const size = 16 * MiB
	path := filepath.Join(t.TempDir(), "zero.img")
	d := open(t, path, disk.Options{Write: true, CreateSize: size})
	fill(t, d, 0, size, 0xAA)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	before := blocks(t, path)
	if before*512 < size {
		t.Fatalf("filled image has only %d bytes allocated", before*512)
	}

	// A hole: the range reads as zeros, the rest is kept, the blocks are
	// given back and the size stays.
	if err := d.Zero(4*MiB, 8*MiB); err != nil {
		t.Fatal(err)
	}
	expect(t, "zeroed range", d, 4*MiB, 8*MiB, 0)
	expect(t, "before the range", d, 0, 4*MiB, 0xAA)
	expect(t, "after the range", d, 12*MiB, 4*MiB, 0xAA)
	expectFile(t, "zeroed range in the file", path, 4*MiB, 8*MiB, 0)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	after := blocks(t, path)
	if freed := (before - after) * 512; freed < 8*MiB {
		t.Errorf("Zero of 8 MiB freed %d bytes (%d blocks before, %d after); want a hole", freed, before, after)
	}
	if st := stat(t, path); st.Size != size || d.Size() != size {
		t.Errorf("size after Zero: file %d, disk %d; want %d", st.Size, d.Size(), size)
	}

	// A range that is not block-aligned is zeroed exactly.
	if err := d.Zero(100, 5000); err != nil {
		t.Fatal(err)
	}
	expect(t, "unaligned zero", d, 100, 5000, 0)
	expect(t, "byte before the unaligned range", d, 0, 100, 0xAA)
	expect(t, "bytes after the unaligned range", d, 5100, 4*MiB-5100, 0xAA)

	// Discard on a file punches a hole too.
	if err := d.Discard(13*MiB, MiB); err != nil {
		t.Fatal(err)
	}
	expect(t, "discarded range", d, 13*MiB, MiB, 0)
	expect(t, "after the discarded range", d, 14*MiB, 2*MiB, 0xAA)

	if err := d.Zero(0, 0); err != nil {
		t.Errorf("Zero of nothing: %v", err)
	}
	for _, r := range [][2]int64{{size - 512, 1024}, {-512, 1024}, {size, 1}} {
		errContains(t, "Zero past the end", d.Zero(r[0], r[1]), path, "past the end")
	}
	expect(t, "last bytes after refused Zero", d, size-MiB, MiB, 0xAA)
}

// loopFile attaches a new sparse file as a loop device with the given
// logical sector size.
func loopFile(t *testing.T, size int64, lss int) (dev, file string) {
	t.Helper()
	testutil.Root(t)
	file = testutil.Sparse(t, "loop.img", size)
	return testutil.Loop(t, file, lss), file
}

func TestLoopDevice(t *testing.T) {
	for _, lss := range []int{512, 4096} {
		t.Run(strconv.Itoa(lss), func(t *testing.T) {
			const size = 64 * MiB
			dev, _ := loopFile(t, size, lss)
			st := stat(t, dev)
			// The sector size asked for a file does not apply to a device.
			d := open(t, dev, disk.Options{SectorSize: 2048})
			if !d.IsBlockDevice() || d.Created() || d.Path() != dev {
				t.Errorf("IsBlockDevice %v Created %v Path %s", d.IsBlockDevice(), d.Created(), d.Path())
			}
			if d.Size() != size || d.Size() != sysInt(t, dev, "size")*512 {
				t.Errorf("Size = %d; want %d (sysfs %d sectors)", d.Size(), size, sysInt(t, dev, "size"))
			}
			if d.LogicalSectorSize() != lss || int64(d.LogicalSectorSize()) != sysInt(t, dev, "queue/logical_block_size") {
				t.Errorf("LogicalSectorSize = %d; want %d", d.LogicalSectorSize(), lss)
			}
			if pss := sysInt(t, dev, "queue/physical_block_size"); int64(d.PhysicalSectorSize()) != pss {
				t.Errorf("PhysicalSectorSize = %d; the kernel says %d", d.PhysicalSectorSize(), pss)
			}
			maj, mnr := d.DevNum()
			if maj != unix.Major(st.Rdev) || mnr != unix.Minor(st.Rdev) || maj != 7 {
				t.Errorf("DevNum = %d:%d; want %d:%d, a loop device", maj, mnr, unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
			if dev, ino := d.FileIdentity(); dev != 0 || ino != 0 {
				t.Errorf("FileIdentity of a device = %d/%d, want 0/0", dev, ino)
			}
		})
	}
}

func TestLoopReadWriteZero(t *testing.T) {
	for _, lss := range []int{512, 4096} {
		t.Run(strconv.Itoa(lss), func(t *testing.T) {
			const size = 16 * MiB
			dev, file := loopFile(t, size, lss)
			d := open(t, dev, disk.Options{Write: true})
			fill(t, d, 0, size, 0xAA)
			if err := d.Sync(); err != nil {
				t.Fatal(err)
			}
			expectFile(t, "backing file after writes", file, 0, size, 0xAA)

			// Aligned: BLKZEROOUT.
			if err := d.Zero(2*MiB, 4*MiB); err != nil {
				t.Fatal(err)
			}
			expect(t, "zeroed range", d, 2*MiB, 4*MiB, 0)
			expect(t, "before the zeroed range", d, 0, 2*MiB, 0xAA)
			expect(t, "after the zeroed range", d, 6*MiB, 2*MiB, 0xAA)

			// Not aligned to the sector: written as zeros.
			off, n := int64(8*MiB+1000), int64(3000)
			if lss == 4096 {
				off, n = 8*MiB+512, 1024 // 512-aligned, not 4096-aligned
			}
			if err := d.Zero(off, n); err != nil {
				t.Fatal(err)
			}
			expect(t, "unaligned zeroed range", d, off, n, 0)
			expect(t, "before the unaligned range", d, 8*MiB, off-8*MiB, 0xAA)
			expect(t, "after the unaligned range", d, off+n, 9*MiB-off-n, 0xAA)

			// Aligned again, after the fallback.
			if err := d.Zero(10*MiB, MiB); err != nil {
				t.Fatal(err)
			}
			expect(t, "second zeroed range", d, 10*MiB, MiB, 0)
			expect(t, "after the second range", d, 11*MiB, size-11*MiB, 0xAA)

			// The backing file holds the same.
			if err := d.Sync(); err != nil {
				t.Fatal(err)
			}
			expectFile(t, "backing file, zeroed range", file, 2*MiB, 4*MiB, 0)
			expectFile(t, "backing file, unaligned range", file, off, n, 0)
			expectFile(t, "backing file, second range", file, 10*MiB, MiB, 0)
			expectFile(t, "backing file, the rest", file, 11*MiB, size-11*MiB, 0xAA)

			errContains(t, "Zero past the end", d.Zero(size-MiB, 2*MiB), dev, "past the end")
			n2, err := d.WriteAt(make([]byte, 4096), size)
			if n2 != 0 {
				t.Errorf("WriteAt past the end of a device wrote %d bytes", n2)
			}
			errContains(t, "WriteAt past the end", err, dev, "past the end")

			if err := d.DropCache(); err != nil {
				t.Errorf("DropCache: %v", err)
			}
			expect(t, "after DropCache", d, 11*MiB, MiB, 0xAA)
		})
	}
}

func TestLoopDiscard(t *testing.T) {
	const size = 16 * MiB
	dev, file := loopFile(t, size, 0)
	if sysInt(t, dev, "queue/discard_max_bytes") == 0 {
		t.Fatalf("%s does not support discard on this kernel", dev)
	}
	d := open(t, dev, disk.Options{Write: true})
	fill(t, d, 0, size, 0x55)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	before := blocks(t, file)
	if before*512 < size {
		t.Fatalf("backing file has only %d bytes allocated after filling", before*512)
	}
	if err := d.Discard(4*MiB, 8*MiB); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	// A loop device passes the discard on as a hole in its file.
	after := blocks(t, file)
	if freed := (before - after) * 512; freed < 8*MiB {
		t.Errorf("Discard of 8 MiB freed %d bytes of the backing file (%d blocks before, %d after)", freed, before, after)
	}
	expect(t, "before the discarded range", d, 0, 4*MiB, 0x55)
	expect(t, "after the discarded range", d, 12*MiB, 4*MiB, 0x55)

	errContains(t, "Discard past the end", d.Discard(size, MiB), dev, "discard")
}

func TestExclusiveWrite(t *testing.T) {
	dev, _ := loopFile(t, 16*MiB, 0)
	first, err := disk.Open(dev, disk.Options{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() }) // for an early failure; closed below
	second, err := disk.Open(dev, disk.Options{Write: true})
	if err == nil {
		second.Close()
		t.Fatalf("a second write-open of %s succeeded while the first was open", dev)
	}
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("second write-open: %v; want EBUSY", err)
	}
	errContains(t, "second write-open", err, dev, "for writing", "mounted")

	// Reading is not exclusive.
	r := open(t, dev, disk.Options{})
	if !r.SameAs(first) {
		t.Error("a reader of the device is not SameAs the writer")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := disk.Open(dev, disk.Options{Write: true})
	if err != nil {
		t.Fatalf("write-open after the first writer closed: %v", err)
	}
	again.Close()
}

func TestMountedRefused(t *testing.T) {
	dev, _ := loopFile(t, 32*MiB, 0)
	testutil.Run(t, "mkfs.ext4", "-q", dev)
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	t.Cleanup(func() { testutil.Run(t, "umount", mnt) })

	d, err := disk.Open(dev, disk.Options{Write: true})
	if err == nil {
		d.Close()
		t.Fatalf("write-open of mounted %s succeeded", dev)
	}
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("write-open of a mounted device: %v; want EBUSY", err)
	}
	errContains(t, "write-open of a mounted device", err, dev, "mounted")
	// Reading a mounted device is allowed.
	r := open(t, dev, disk.Options{})
	if r.Size() != 32*MiB {
		t.Errorf("size of mounted device %d", r.Size())
	}
}

func TestLock(t *testing.T) {
	check := func(t *testing.T, path string, writer disk.Options) {
		a := open(t, path, writer)
		b := open(t, path, disk.Options{})
		if err := a.Lock(true); err != nil {
			t.Fatalf("first exclusive lock: %v", err)
		}
		for _, excl := range []bool{true, false} {
			err := b.Lock(excl)
			if !errors.Is(err, disk.ErrBusy) {
				t.Errorf("Lock(%v) while another handle holds an exclusive lock = %v; want ErrBusy", excl, err)
			}
			errContains(t, "busy", err, path)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Lock(true); err != nil {
			t.Errorf("exclusive lock after the holder closed: %v", err)
		}

		// Shared locks go together; an exclusive one waits for none.
		c := open(t, path, disk.Options{})
		e := open(t, path, disk.Options{})
		f := open(t, path, disk.Options{})
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Lock(false); err != nil {
			t.Fatal(err)
		}
		if err := e.Lock(false); err != nil {
			t.Errorf("second shared lock: %v", err)
		}
		if err := f.Lock(true); !errors.Is(err, disk.ErrBusy) {
			t.Errorf("exclusive lock under shared locks = %v; want ErrBusy", err)
		}
	}
	t.Run("file", func(t *testing.T) {
		check(t, testutil.Sparse(t, "lock.img", MiB), disk.Options{Write: true})
	})
	t.Run("device", func(t *testing.T) {
		dev, _ := loopFile(t, 16*MiB, 0)
		check(t, dev, disk.Options{Write: true})
	})
}

func TestSameAs(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		path := testutil.Sparse(t, "a.img", MiB)
		link := filepath.Join(t.TempDir(), "hard.img")
		if err := os.Link(path, link); err != nil {
			t.Fatal(err)
		}
		a := open(t, path, disk.Options{})
		b := open(t, link, disk.Options{Write: true})
		other := open(t, testutil.Sparse(t, "b.img", MiB), disk.Options{})
		if !a.SameAs(b) || !b.SameAs(a) {
			t.Error("a file and a hard link to it are not SameAs")
		}
		if a.SameAs(other) || other.SameAs(a) {
			t.Error("two different files are SameAs")
		}
	})
	t.Run("device", func(t *testing.T) {
		dev, file := loopFile(t, 16*MiB, 0)
		dev2, _ := loopFile(t, 16*MiB, 0)
		link := filepath.Join(t.TempDir(), "by-id")
		if err := os.Symlink(dev, link); err != nil {
			t.Fatal(err)
		}
		a := open(t, dev, disk.Options{})
		b := open(t, link, disk.Options{Write: true})
		c := open(t, dev2, disk.Options{})
		f := open(t, file, disk.Options{})
		if !a.SameAs(b) || !b.SameAs(a) {
			t.Errorf("two opens of %s are not SameAs", dev)
		}
		am, an := a.DevNum()
		bm, bn := b.DevNum()
		cm, cn := c.DevNum()
		if am != bm || an != bn {
			t.Errorf("DevNum of two opens of %s: %d:%d and %d:%d", dev, am, an, bm, bn)
		}
		if a.SameAs(c) || c.SameAs(a) || (am == cm && an == cn) {
			t.Errorf("%s and %s are SameAs (%d:%d, %d:%d)", dev, dev2, am, an, cm, cn)
		}
		if a.SameAs(f) || f.SameAs(a) {
			t.Errorf("%s and its backing file are SameAs", dev)
		}
	})
}
