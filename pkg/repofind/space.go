package repofind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// DefaultMinFree is the free space a file system must have to be offered
// for a new repository when Finder.MinFree is 0: room for the image of a
// small system disk.
const DefaultMinFree = 1 << 30

// NewRepoDir is the directory CreateRepo makes at the root of a file
// system to hold the new repository.
const NewRepoDir = topDir

// writable are the types (as mounted) a new repository can be made on:
// those Lifeboat mounts read-write with a driver that keeps the file
// system consistent. NTFS only through ntfs-3g, which refuses to write to
// a hibernated Windows volume.
var writable = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "vfat": true, "exfat": true, "xfs": true, "btrfs": true, ntfs3g: true}

// ErrLowSpace is Space.Unfit for a file system with less free space than
// Finder.MinFree.
var ErrLowSpace = errors.New("too little free space for a repository")

// ErrBootDisk is Space.Unfit for a file system on the disk the running
// system booted from (the rescue stick's system partitions).
var ErrBootDisk = errors.New("on the disk Lifeboat booted from")

// Space is a file system that holds no repository and could hold a new
// one, made by CreateRepo in a lifeboat directory at its root.
type Space struct {
	Device        string // device path of the partition or whole disk: "/dev/sdb1"
	Disk          string // kernel name of the whole disk: "sdb"
	Partition     int    // partition number; 0 for a file system on the whole disk
	Model, Serial string // of the whole disk; "" when unknown
	FSType        string // as Found.FSType: "ntfs", "exfat", "ext4"
	Label         string // the file system's label; "" when it has none
	Size, Free    int64  // bytes, as statfs reported them while it was looked at
	// MountPoint is where someone else has the file system mounted; ""
	// when the Finder mounted it to look and has unmounted it since.
	MountPoint string
	// Unfit says why no repository can be made on it (ErrLowSpace,
	// ErrBootDisk, ErrReadOnlyDevice, ErrNTFSUnsafe, mounted read-only by
	// someone else); nil when CreateRepo may be asked.
	Unfit error

	major, minor uint32
	uuid         string // the file system's UUID when it was looked at
}

// String is what the file system is, for a list of places to keep
// images: "new repository on SanDisk Ultra 4C53 partition 1 (ntfs,
// WINDATA, 28.6 GiB free)".
func (s Space) String() string {
	var b strings.Builder
	b.WriteString("new repository on ")
	id := strings.TrimSpace(s.Model + " " + s.Serial)
	if id == "" {
		id = s.Disk
	}
	b.WriteString(id)
	if s.Partition > 0 {
		fmt.Fprintf(&b, " partition %d", s.Partition)
	}
	b.WriteString(" (" + s.FSType)
	if s.Label != "" {
		b.WriteString(", " + s.Label)
	}
	b.WriteString(", " + units.Bytes(s.Free) + " free)")
	return b.String()
}

// space describes the file system of c, mounted at dir as fstype while it
// is looked at, as a place for a new repository; nil when it is of a kind
// Lifeboat does not write to. ro is set when someone else has it mounted
// read-only (at mountPoint), devRO when the device is read-only.
func (f *Finder) space(c candidate, dir, fstype string, ro, devRO bool, mountPoint string) *Space {
	if !writable[fstype] {
		return nil
	}
	s := &Space{Device: c.path, Disk: c.disk, Partition: c.number, Model: c.model, Serial: c.serial,
		FSType: fsName(fstype), MountPoint: mountPoint, major: c.major, minor: c.minor}
	s.Label, s.uuid = probeLabel(c.path, c.size)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		s.Unfit = fmt.Errorf("statfs %s of %s: %w", dir, c.path, err)
		return s
	}
	unit := int64(st.Frsize)
	if unit <= 0 {
		unit = int64(st.Bsize)
	}
	s.Size, s.Free = int64(st.Blocks)*unit, int64(st.Bavail)*unit
	need := f.MinFree
	if need <= 0 {
		need = DefaultMinFree
	}
	switch {
	case c.boot:
		s.Unfit = ErrBootDisk
	case devRO:
		s.Unfit = fmt.Errorf("%s: %w", c.path, ErrReadOnlyDevice)
	case ro:
		s.Unfit = fmt.Errorf("%s is mounted read-only at %s by someone else", c.path, mountPoint)
	case fstype == ntfs3g && ntfsHibernated(dir):
		s.Unfit = fmt.Errorf("%s holds a hibernation file (hiberfil.sys): %w", c.path, ErrNTFSUnsafe)
	case s.Free < need:
		s.Unfit = fmt.Errorf("%s has %s free, %s needed: %w", c.path, units.Bytes(s.Free), units.Bytes(need), ErrLowSpace)
	}
	return s
}

// probeLabel returns the label of the file system on dev, or "".
func probeLabel(dev string, size int64) (label, uuid string) {
	fh, err := os.Open(dev)
	if err != nil {
		return "", ""
	}
	defer fh.Close()
	info, err := fsprobe.Probe(fh, size)
	if err != nil {
		return "", ""
	}
	return info.Label, info.UUID
}

// hiberSize is how much of hiberfil.sys ntfs-3g reads to decide whether
// Windows is hibernated (NTFS_HIBER_SIZE).
const hiberSize = 4096

// ntfsHibernated reports whether the NTFS volume mounted at dir is one
// ntfs-3g will not mount read-write because Windows hibernated onto it,
// by ntfs-3g's own test: hiberfil.sys in the root is shorter than 4 KiB
// or starts with "hibr" or "HIBR". (A volume Windows left with unsaved
// changes in its log is found only when mounted read-write: CreateRepo
// then fails with ErrNTFSUnsafe.)
func ntfsHibernated(dir string) bool {
	name := "hiberfil.sys"
	if fh, err := os.Open(dir); err == nil {
		ents, _ := fh.ReadDir(maxRootEntries + 1)
		fh.Close()
		for _, e := range ents {
			if strings.EqualFold(e.Name(), name) {
				name = e.Name()
				break
			}
		}
	}
	fh, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return false
	}
	defer fh.Close()
	buf := make([]byte, hiberSize)
	n, err := io.ReadFull(fh, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return true // unreadable: ntfs-3g would refuse it too
	}
	if n < hiberSize {
		return true
	}
	return string(buf[:4]) == "hibr" || string(buf[:4]) == "HIBR"
}

// CreateRepo makes a new, empty repository in a lifeboat directory at the
// root of the file system s (from Scan's Spaces), touching nothing else on
// it, and returns it as found. A file system Scan unmounted after looking
// is mounted read-write under MountRoot (after checking that the device
// still holds the file system shown and that nothing holds it), and stays
// mounted until Close or UnmountAll; one someone else has mounted
// read-write is written where it is. It refuses a Space with Unfit set, a
// read-only device (ErrReadOnlyDevice) and an NTFS volume ntfs-3g will
// not write to (ErrNTFSUnsafe). A lifeboat directory that is there
// already and is not empty is refused by repo.Create; should the
// repository not be made, the file system is unmounted again.
func (f *Finder) CreateRepo(s Space) (Found, error) {
	where := "create a repository on " + s.Device
	if s.Unfit != nil {
		return Found{}, fmt.Errorf("%s: %w", where, s.Unfit)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return Found{}, fmt.Errorf("%s: %w", where, ErrClosed)
	}
	if s.MountPoint != "" {
		if err := f.checkSpaceMount(s); err != nil {
			return Found{}, fmt.Errorf("%s: %w", where, err)
		}
		ro, err := mountedReadOnly(s.MountPoint)
		if err != nil {
			return Found{}, fmt.Errorf("%s: %w", where, err)
		}
		if ro {
			return Found{}, fmt.Errorf("%s: it is mounted read-only at %s by someone else", where, s.MountPoint)
		}
		dir := filepath.Join(s.MountPoint, NewRepoDir)
		if _, err := repo.Create(dir); err != nil {
			return Found{}, fmt.Errorf("%s: %w", where, err)
		}
		syncFS(s.MountPoint)
		return Found{Dir: dir, Device: s.Device, Disk: s.Disk, FSType: s.FSType, MountPoint: s.MountPoint}, nil
	}
	dir, m, err := f.mountSpace(s, where)
	if err != nil {
		return Found{}, err
	}
	rdir := filepath.Join(dir, NewRepoDir)
	if _, err := repo.Create(rdir); err != nil {
		return Found{}, fmt.Errorf("%s: %w", where, errors.Join(err, f.release(m)))
	}
	syncFS(dir)
	return Found{Dir: rdir, Device: s.Device, Disk: s.Disk, FSType: s.FSType, MountPoint: dir, MountedByUs: true}, nil
}

// MountSpace mounts the file system s (from Scan's Spaces) read-write
// under MountRoot, as CreateRepo does, to copy files onto it, and returns
// where; one someone else has mounted read-write is used where it is, and
// one this Finder mounted read-write already (s from a scan before that)
// where the Finder has it. It
// stays mounted until Close or UnmountAll. It refuses what CreateRepo
// refuses, except for too little room (ErrLowSpace): a few files may fit.
func (f *Finder) MountSpace(s Space) (string, error) {
	where := "mount " + s.Device + " to write to it"
	if s.Unfit != nil && !errors.Is(s.Unfit, ErrLowSpace) {
		return "", fmt.Errorf("%s: %w", where, s.Unfit)
	}
	if s.MountPoint != "" {
		if err := f.checkSpaceMount(s); err != nil {
			return "", fmt.Errorf("%s: %w", where, err)
		}
		if ro, err := mountedReadOnly(s.MountPoint); err != nil || ro {
			return "", fmt.Errorf("%s: it is mounted read-only at %s by someone else", where, s.MountPoint)
		}
		return s.MountPoint, nil
	}
	f.mu.Lock()
	closed := f.closed
	var ours string // a read-write mount of the device this Finder made already
	for _, m := range f.mounts {
		if m.device == s.Device && !m.ro {
			ours = m.dir
		}
	}
	f.mu.Unlock()
	if closed {
		return "", fmt.Errorf("%s: %w", where, ErrClosed)
	}
	if ours != "" {
		return ours, nil // s was listed before this Finder mounted it
	}
	dir, _, err := f.mountSpace(s, where)
	return dir, err
}

// mountSpace mounts s read-write in a new directory under MountRoot, after
// checking its device, and registers the mount.
func (f *Finder) mountSpace(s Space, where string) (string, *mount, error) {
	// No other Finder sharing MountRoot may be looking at the device.
	unlock, err := f.lockScan(context.Background())
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", where, err)
	}
	defer unlock()
	if err := f.checkSpaceDevice(s); err != nil {
		return "", nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := f.ensureRoot(); err != nil {
		return "", nil, fmt.Errorf("%s: %w", where, err)
	}
	dir, err := os.MkdirTemp(f.mountRoot(), filepath.Base(s.Device)+"-")
	if err != nil {
		return "", nil, fmt.Errorf("%s: make a mount point: %w", where, err)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	mt := mounter{ntfs3g: ntfs3gProgram(f.NTFS3G), devRoot: f.source().DevRoot}
	fstype := mountType(s.FSType)
	if err := mt.mountRW(s.Device, dir, fstype); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("%s: mount it read-write: %w", where, err)
	}
	m := &mount{device: s.Device, dir: dir, fstype: fstype, mt: mt}
	if !f.register(m) {
		f.unmount(m)
		return "", nil, fmt.Errorf("%s: %w", where, ErrClosed)
	}
	return dir, m, nil
}

// checkSpaceDevice checks that the device of s is still the one looked
// at, holding the same file system, writable, and held by nothing.
func (f *Finder) checkSpaceDevice(s Space) error {
	fd, err := unix.Open(s.Device, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%s is in use by another program (mounted, or being captured or restored): %w", s.Device, err)
		}
		return fmt.Errorf("open %s: %w", s.Device, err)
	}
	dev := os.NewFile(uintptr(fd), s.Device)
	defer dev.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", s.Device, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(st.Rdev) != s.major || unix.Minor(st.Rdev) != s.minor {
		return fmt.Errorf("%s is no longer device %d:%d", s.Device, s.major, s.minor)
	}
	ro, err := unix.IoctlGetInt(fd, unix.BLKROGET)
	if err != nil {
		return fmt.Errorf("read the read-only flag of %s: %w", s.Device, err)
	}
	if ro != 0 {
		return fmt.Errorf("%s: %w", s.Device, ErrReadOnlyDevice)
	}
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		return fmt.Errorf("read the size of %s: %w", s.Device, err)
	}
	info, err := fsprobe.Probe(dev, int64(size))
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Device, err)
	}
	if kernelTypes[info.Type] != kernelTypes[s.FSType] || info.Label != s.Label || info.UUID != s.uuid {
		return fmt.Errorf("%s no longer holds the %s file system %q it held when it was looked at (another drive in its place?)", s.Device, s.FSType, s.Label)
	}
	return nil
}

// checkSpaceMount checks that the file system someone else mounted at
// s.MountPoint is still the device looked at, mounted from its root: a
// drive unmounted (or swapped) since would have the repository made in
// whatever is at that path now (in the rescue environment, memory).
func (f *Finder) checkSpaceMount(s Space) error {
	mi, err := readMountInfo(f.source().MountInfo)
	if err != nil {
		return err
	}
	var top *inventory.MountInfo
	for i := range mi {
		if mi[i].MountPoint == s.MountPoint {
			top = &mi[i] // the last one mounted there is what is seen
		}
	}
	gone := fmt.Errorf("%s is no longer mounted at %s", s.Device, s.MountPoint)
	if top == nil || top.Root != "/" {
		return gone
	}
	if top.Major == s.major && top.Minor == s.minor {
		return nil
	}
	// FUSE (ntfs-3g) mounts have an anonymous device; their source names
	// the device.
	var st unix.Stat_t
	if top.Major == 0 && unix.Stat(top.Source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK &&
		unix.Major(st.Rdev) == s.major && unix.Minor(st.Rdev) == s.minor {
		return nil
	}
	return gone
}

// syncFS writes out the file system mounted at dir, so that a repository
// just made is on the disk even if the machine loses power.
func syncFS(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	unix.Syncfs(fd)
}
