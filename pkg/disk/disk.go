package disk

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Options say how to open a disk.
type Options struct {
	// Write opens for writing; block devices are then opened exclusively.
	Write bool
	// CreateSize, when positive and the path does not exist, creates a
	// sparse regular file of this size. Write must be set.
	CreateSize int64
	// SectorSize is the logical sector size of a regular file (default 512).
	// Block devices always report their own.
	SectorSize int
	// PhysicalSectorSize of a regular file (default SectorSize).
	PhysicalSectorSize int
}

// Disk is an open disk or disk image file.
type Disk struct {
	f         *os.File
	path      string
	size      int64
	lss, pss  int
	block     bool
	created   bool
	writable  bool
	dev, ino  uint64 // identity: st_dev/st_ino for files
	rdev      uint64 // device number for block devices
	noPunch   bool   // hole punching is not supported; write zeros
	noZeroout bool   // BLKZEROOUT is not supported; write zeros
}

// Open opens path as a disk.
func Open(path string, o Options) (*Disk, error) {
	flags := os.O_RDONLY
	if o.Write {
		flags = os.O_RDWR
	}
	d := &Disk{path: path, writable: o.Write}
	st, err := os.Stat(path)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist) && o.Write && o.CreateSize > 0:
		return create(path, o)
	default:
		return nil, fmt.Errorf("open disk %s: %w", path, err)
	}
	mode := st.Mode()
	switch {
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0:
		d.block = true
		if o.Write {
			flags |= unix.O_EXCL
		}
	case mode.IsRegular():
	default:
		return nil, fmt.Errorf("open disk %s: not a block device or regular file (%s)", path, mode.Type())
	}
	f, err := os.OpenFile(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		if d.block && errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("open disk %s for writing: %w (it is mounted, or used by device-mapper, RAID, swap or another program)", path, err)
		}
		return nil, fmt.Errorf("open disk %s: %w", path, err)
	}
	d.f = f
	if err := d.probe(o); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func create(path string, o Options) (*Disk, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create disk image %s: %w", path, err)
	}
	if err := f.Truncate(o.CreateSize); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("create disk image %s of %d bytes: %w", path, o.CreateSize, err)
	}
	d := &Disk{f: f, path: path, created: true, writable: true}
	if err := d.probe(o); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return d, nil
}

func (d *Disk) probe(o Options) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", d.path, err)
	}
	d.dev, d.ino, d.rdev = st.Dev, st.Ino, st.Rdev
	if !d.block {
		d.size = st.Size
		d.lss = o.SectorSize
		if d.lss == 0 {
			d.lss = 512
		}
		d.pss = o.PhysicalSectorSize
		if d.pss == 0 {
			d.pss = d.lss
		}
		if !validSector(d.lss) || !validSector(d.pss) || d.pss < d.lss {
			return fmt.Errorf("disk image %s: invalid sector sizes %d/%d", d.path, d.lss, d.pss)
		}
		return nil
	}
	fd := int(d.f.Fd())
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		return fmt.Errorf("get size of %s (BLKGETSIZE64): %w", d.path, err)
	}
	d.size = int64(size)
	lss, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return fmt.Errorf("get logical sector size of %s: %w", d.path, err)
	}
	pss, err := unix.IoctlGetInt(fd, unix.BLKPBSZGET)
	if err != nil {
		return fmt.Errorf("get physical sector size of %s: %w", d.path, err)
	}
	d.lss, d.pss = lss, pss
	if !validSector(lss) {
		return fmt.Errorf("%s reports an invalid logical sector size %d", d.path, lss)
	}
	if !validSector(pss) {
		d.pss = lss
	}
	return nil
}

func validSector(n int) bool { return n >= 512 && n <= 65536 && n&(n-1) == 0 }

// Path is the path the disk was opened by.
func (d *Disk) Path() string { return d.path }

// Size is the disk's size in bytes.
func (d *Disk) Size() int64 { return d.size }

// LogicalSectorSize is the unit of addressing (LBA) in bytes.
func (d *Disk) LogicalSectorSize() int { return d.lss }

// PhysicalSectorSize is the medium's atomic write unit in bytes.
func (d *Disk) PhysicalSectorSize() int { return d.pss }

// IsBlockDevice reports whether the disk is a block device.
func (d *Disk) IsBlockDevice() bool { return d.block }

// Created reports whether Open created the file, so that it reads as zeros.
func (d *Disk) Created() bool { return d.created }

// DevNum is the device number of a block device (0 for files).
func (d *Disk) DevNum() (major, minor uint32) {
	if !d.block {
		return 0, 0
	}
	return unix.Major(d.rdev), unix.Minor(d.rdev)
}

// SameAs reports whether two open disks are the same device or file.
func (d *Disk) SameAs(o *Disk) bool {
	if d.block || o.block {
		return d.block && o.block && d.rdev == o.rdev
	}
	return d.dev == o.dev && d.ino == o.ino
}

// FileIdentity returns st_dev and st_ino of a regular file (zero for block
// devices); st_dev names the file system the image file lives on.
func (d *Disk) FileIdentity() (dev, ino uint64) {
	if d.block {
		return 0, 0
	}
	return d.dev, d.ino
}

// ReadAt reads len(p) bytes at off. Reading past the end returns io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read %s at offset %d: %w", d.path, off+int64(n), err)
	}
	return n, err
}

// WriteAt writes p at off. Writing past the end of a block device fails.
func (d *Disk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > d.size {
		return 0, fmt.Errorf("write %s at offset %d: %d bytes past the end (size %d)", d.path, off, len(p), d.size)
	}
	n, err := d.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("write %s at offset %d: %w", d.path, off+int64(n), err)
	}
	return n, nil
}

// Zero makes [off, off+n) read as zeros, by the cheapest means the medium
// offers.
func (d *Disk) Zero(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if off < 0 || off+n > d.size {
		return fmt.Errorf("zero %s at offset %d: %d bytes past the end (size %d)", d.path, off, n, d.size)
	}
	fd := int(d.f.Fd())
	if d.block {
		if !d.noZeroout && off%512 == 0 && n%512 == 0 {
			r := [2]uint64{uint64(off), uint64(n)}
			err := ioctlRange(fd, unix.BLKZEROOUT, &r)
			if err == nil {
				return nil
			}
			if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("zero %s at offset %d, %d bytes (BLKZEROOUT): %w", d.path, off, n, err)
			}
			d.noZeroout = true
		}
		return d.writeZeros(off, n)
	}
	if !d.noPunch {
		err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("punch hole in %s at offset %d, %d bytes: %w", d.path, off, n, err)
		}
		d.noPunch = true
	}
	return d.writeZeros(off, n)
}

var zeroBlock = make([]byte, 1<<20)

func (d *Disk) writeZeros(off, n int64) error {
	for n > 0 {
		c := min(n, int64(len(zeroBlock)))
		if _, err := d.WriteAt(zeroBlock[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

// Discard tells a block device that [off, off+n) is unused (TRIM/UNMAP).
// The range does not necessarily read as zeros afterwards. On a file it
// punches a hole.
func (d *Disk) Discard(off, n int64) error {
	if !d.block {
		return d.Zero(off, n)
	}
	r := [2]uint64{uint64(off), uint64(n)}
	if err := ioctlRange(int(d.f.Fd()), unix.BLKDISCARD, &r); err != nil {
		return fmt.Errorf("discard %s at offset %d, %d bytes: %w", d.path, off, n, err)
	}
	return nil
}

// Sync flushes written data to the medium.
func (d *Disk) Sync() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("flush %s: %w", d.path, err)
	}
	return nil
}

// RereadPartitions asks the kernel to re-read a block device's partition
// table (BLKRRPART). It does nothing for files.
func (d *Disk) RereadPartitions() error {
	if !d.block {
		return nil
	}
	if _, err := unix.IoctlRetInt(int(d.f.Fd()), unix.BLKRRPART); err != nil {
		return fmt.Errorf("re-read partition table of %s: %w", d.path, err)
	}
	return nil
}

// Advise tells the kernel the disk will be read sequentially.
func (d *Disk) Advise() {
	_ = unix.Fadvise(int(d.f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
}

// Close closes the disk.
func (d *Disk) Close() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	return nil
}

// ErrBusy means another Lifeboat process holds a lock on the disk.
var ErrBusy = errors.New("in use by another Lifeboat process")

// Lock takes an advisory lock on the disk: shared for reading (a capture),
// exclusive for writing (a restore), so that no restore writes a disk that
// another process is capturing, and no two restores write the same disk. It
// does not wait.
func (d *Disk) Lock(exclusive bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(d.f.Fd()), how|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w (a capture or restore is running on it)", d.path, ErrBusy)
		}
		return fmt.Errorf("lock %s: %w", d.path, err)
	}
	return nil
}

// DropCache flushes the disk and drops its cached pages, so that what is
// read next comes from the medium.
func (d *Disk) DropCache() error {
	if err := d.Sync(); err != nil {
		return err
	}
	if err := unix.Fadvise(int(d.f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop cached pages of %s: %w", d.path, err)
	}
	return nil
}
