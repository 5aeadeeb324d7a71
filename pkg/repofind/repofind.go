package repofind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/claim"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
)

// DefaultMountRoot is where a Finder with no MountRoot mounts file systems.
const DefaultMountRoot = "/run/lifeboat/mnt"

// minDeviceSize is the smallest device looked at: below it is nothing but
// an MBR extended partition's container (2 sectors in sysfs).
const minDeviceSize = 64 << 10

// maxTable bounds /proc/self/mountinfo and /proc/filesystems.
const maxTable = 64 << 20

// Found is a repository on an attached disk.
type Found struct {
	Dir         string // the repository directory (absolute)
	Device      string // device path of the partition or whole disk holding it: "/dev/sdb1"
	Disk        string // kernel name of the whole disk: "sdb"
	FSType      string // as mounted: "ext4", "vfat", "btrfs"
	MountPoint  string
	MountedByUs bool // the Finder mounted it, and unmounts it in Close
	ReadOnly    bool // mounted read-only now
	// DeviceReadOnly is set when the device itself is read-only (a
	// write-protect switch, a read-only loop device), so that MakeWritable
	// refuses; the flag the Finder sets while looking does not count.
	DeviceReadOnly bool
	Images         int   // number of images in the repository
	Err            error // the repository is there but unreadable (a bad lifeboat-repo.json, an unreadable images/)
}

// Skipped is a device Scan looked at, or chose not to, where it found no
// repository.
type Skipped struct {
	Device string // "/dev/sda2"
	Disk   string // "sda"
	Reason string // "held by md127", "no Lifeboat repository on its ext4 file system", ...
	// Err is the cause when it is worth showing (a read error, a mount
	// refused for lack of rights); nil when the reason says it all.
	Err error
}

// Result is what Scan found, device by device in the inventory's order.
type Result struct {
	Found   []Found
	Skipped []Skipped
	// Spaces are the file systems of a kind Lifeboat writes to that hold
	// no repository (each is in Skipped too), with Unfit set on those that
	// cannot take a new one.
	Spaces []Space
}

// ErrReadOnlyDevice is returned by MakeWritable for a repository on a
// device that is read-only.
var ErrReadOnlyDevice = errors.New("the device is read-only")

// ErrClosed is returned by Scan and MakeWritable after Close.
var ErrClosed = errors.New("repository finder closed")

// Finder finds repositories on attached disks and keeps the file systems
// it mounted until Close. Its methods must not be called concurrently.
type Finder struct {
	// MountRoot is the directory under which file systems are mounted, one
	// new directory each; DefaultMountRoot when empty. It is created when
	// missing, and removed by Close when Close leaves it empty.
	MountRoot string
	// Source is where the disks and mounts are read from; zero fields take
	// the defaults of inventory.DefaultSource(). Devices are opened and
	// mounted through Source.DevRoot.
	Source inventory.Source
	// Filesystems is the kernel's list of file-system types;
	// "/proc/filesystems" when empty.
	Filesystems string
	// Filter, when set, limits Scan to the disks for which it returns true.
	Filter func(inventory.Disk) bool
	// NTFS3G is the ntfs-3g program that mounts NTFS file systems through
	// FUSE; "ntfs-3g" looked for in the PATH when empty. Without it NTFS
	// is mounted only by a kernel driver, when the kernel has one.
	NTFS3G string
	// MinFree is the free space a file system must have to be offered for
	// a new repository (Space.Unfit); DefaultMinFree when 0.
	MinFree int64
	// Claims is where jobs claim the disks they work on (package claim);
	// while a claim is live, Scan passes over the claimed disks and every
	// loop, device-mapper and network block device. When its Dir is empty,
	// the directory "claims" beside MountRoot: claim.DefaultDir for the
	// default MountRoot. Scans hold its lock while they look.
	Claims claim.Registry

	pending sync.WaitGroup // goroutines looking at a device, waited for only by tests

	mu       sync.Mutex
	mounts   map[string]*mount // by mount directory: the file systems we mounted and still have
	closed   bool
	madeRoot bool // we created MountRoot
}

// mount is a file system the Finder mounted.
type mount struct {
	device string // device path
	dir    string
	fstype string
	ro     bool // mounted read-only
	// setRO is set while the device's read-only flag is one we set.
	setRO bool
	// deviceRO is set when the device was read-only before we touched it.
	deviceRO bool
	mt       mounter // mounts it again
}

// Test hooks: testHookDevice is called before each device is considered,
// testHookLook at stages of looking at a device that is not mounted:
// "open" before it is opened, "mounted" once it is mounted and registered.
var (
	testHookDevice func(device string)
	testHookLook   func(device, stage string)
)

// candidate is one device to look at.
type candidate struct {
	name, path, disk string
	major, minor     uint32
	diskDev          claim.Device // of the whole disk
	size             int64
	readOnly         bool
	noMedium         bool // an empty CD or DVD drive: never opened
	holders          []string
	uses             []inventory.Mount // mounts and swaps of this very device
	number           int               // partition number; 0 for a whole disk
	model, serial    string            // of the whole disk
	boot             bool              // on the disk the running system booted from
}

func (f *Finder) mountRoot() string {
	if f.MountRoot == "" {
		return DefaultMountRoot
	}
	if abs, err := filepath.Abs(f.MountRoot); err == nil {
		return abs
	}
	return f.MountRoot
}

// claims returns the registry of jobs' claims.
func (f *Finder) claims() claim.Registry {
	if f.Claims.Dir != "" {
		return f.Claims
	}
	return claim.Registry{Dir: filepath.Join(filepath.Dir(f.mountRoot()), "claims")}
}

func (f *Finder) source() inventory.Source { return f.Source.WithDefaults() }

// Scan looks for repositories on every partition of every disk, and on
// every whole disk without partitions. File systems that hold a repository
// and that it mounted stay mounted read-only until Close. When ctx ends,
// Scan returns what it found so far with an error wrapping ctx.Err().
func (f *Finder) Scan(ctx context.Context) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return Result{}, fmt.Errorf("look for repositories: %w", ErrClosed)
	}
	unlock, err := f.lockScan(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	defer unlock()
	// Under the scan lock no claim can start: what Live returns holds
	// for the whole scan.
	claims, err := f.claims().Live()
	if err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	src := f.source()
	disks, err := inventory.Scan(src)
	if err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	mi, err := readMountInfo(src.MountInfo)
	if err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	fsPath := f.Filesystems
	if fsPath == "" {
		fsPath = "/proc/filesystems"
	}
	types, err := readFilesystems(fsPath)
	if err != nil {
		return Result{}, fmt.Errorf("look for repositories: %w", err)
	}
	types = mountTypes(types)
	mt := mounter{ntfs3g: ntfs3gProgram(f.NTFS3G), devRoot: src.DevRoot}
	if mt.ntfs3g != "" {
		types = append(types, ntfs3g)
	}

	var res Result
	seen := map[string]string{} // mount point looked at -> the device it was looked at for
	for _, c := range candidates(disks, f.Filter) {
		if testHookDevice != nil {
			testHookDevice(c.path)
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("look for repositories: stopped before %s: %w", c.path, err)
		}
		if reason := c.passOver(claims); reason != "" {
			res.Skipped = append(res.Skipped, Skipped{Device: c.path, Disk: c.disk, Reason: reason})
			continue
		}
		var lk look
		if m, ok, hidden := f.pickMount(c, mi, src.DevRoot); ok {
			if dev, dup := seen[m.MountPoint]; dup {
				res.Skipped = append(res.Skipped, Skipped{Device: c.path, Disk: c.disk,
					Reason: fmt.Sprintf("part of the file system at %s, looked at for %s", m.MountPoint, dev)})
				continue
			}
			seen[m.MountPoint] = c.path
			lk = f.run(ctx, func() look { return f.lookMounted(c, m) })
		} else if hidden != "" {
			res.Skipped = append(res.Skipped, Skipped{Device: c.path, Disk: c.disk, Reason: hidden})
			continue
		} else {
			if err := f.ensureRoot(); err != nil {
				return res, err
			}
			lk = f.run(ctx, func() look { return f.lookUnmounted(c, types, mt) })
		}
		if lk.cancelled {
			return res, fmt.Errorf("look for repositories: stopped while looking at %s: %w", c.path, ctx.Err())
		}
		res.Found = append(res.Found, lk.found...)
		if lk.space != nil {
			res.Spaces = append(res.Spaces, *lk.space)
		}
		if lk.skipped != nil {
			res.Skipped = append(res.Skipped, *lk.skipped)
		}
	}
	return res, nil
}

// look is the outcome of looking at one device.
type look struct {
	found     []Found
	skipped   *Skipped
	space     *Space // with skipped: a file system that could hold a new repository
	cancelled bool
}

// run runs fn in a goroutine and waits for it or for ctx. A goroutine left
// behind finishes on its own: what it mounts is registered with the Finder
// (or unmounted at once after Close).
func (f *Finder) run(ctx context.Context, fn func() look) look {
	done := make(chan look, 1)
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		done <- fn()
	}()
	select {
	case l := <-done:
		return l
	case <-ctx.Done():
		return look{cancelled: true}
	}
}

// candidates lists the devices to look at: the partitions of each disk, or
// the disk itself when it has none.
func candidates(disks []inventory.Disk, filter func(inventory.Disk) bool) []candidate {
	var out []candidate
	for _, d := range disks {
		if filter != nil && !filter(d) {
			continue
		}
		uses := func(name string) []inventory.Mount {
			var u []inventory.Mount
			for _, m := range d.Mounts {
				if m.Device == name {
					u = append(u, m)
				}
			}
			return u
		}
		if len(d.Partitions) == 0 {
			out = append(out, candidate{name: d.Name, path: d.Path, disk: d.Name, major: d.Major, minor: d.Minor,
				diskDev: claim.Device{Major: d.Major, Minor: d.Minor},
				size:    d.Size, readOnly: d.ReadOnly, noMedium: d.NoMedium, holders: d.Holders, uses: uses(d.Name),
				model: d.Model, serial: d.Serial, boot: d.Boot})
			continue
		}
		for _, p := range d.Partitions {
			out = append(out, candidate{name: p.Name, path: p.Path, disk: d.Name, major: p.Major, minor: p.Minor,
				diskDev: claim.Device{Major: d.Major, Minor: d.Minor},
				size:    p.Size, readOnly: p.ReadOnly || d.ReadOnly, holders: p.Holders, uses: uses(p.Name),
				number: p.Number, model: d.Model, serial: d.Serial, boot: d.Boot})
		}
	}
	return out
}

// passOver returns why a device is not looked at, or "". claims are the
// jobs' live claims.
func (c candidate) passOver(claims []claim.Claim) string {
	for _, cl := range claims {
		if cl.Holds(claim.Device{Major: c.major, Minor: c.minor}) || cl.Holds(c.diskDev) {
			return "in use by the " + cl.Job
		}
	}
	if len(claims) > 0 && madeByJobs(c.disk) {
		// A job makes loop and device-mapper devices over the disks it
		// works on (to shrink a file system in place); looking at one
		// would set it read-only under the job's feet.
		return "a loop, device-mapper or network block device, not looked at while the " + claims[0].Job + " runs"
	}
	for _, u := range c.uses {
		if u.Swap {
			return "in use as swap"
		}
	}
	if len(c.holders) > 0 {
		return "held by " + strings.Join(c.holders, ", ") + " (LVM, RAID or encryption)"
	}
	if c.noMedium {
		return "no medium in the drive"
	}
	if c.size < minDeviceSize {
		return "too small to hold a file system"
	}
	return ""
}

// madeByJobs reports whether a disk is of a kind jobs make: loop,
// device-mapper and network block devices.
func madeByJobs(disk string) bool {
	for _, p := range []string{"loop", "dm-", "nbd"} {
		if strings.HasPrefix(disk, p) {
			return true
		}
	}
	return false
}

// pickMount finds where the device is mounted already. It prefers a mount
// of the file system's root, and of those one of ours. hidden is set, with
// ok false, when the device is mounted but every mount of it is covered by
// another mount, or mounted only as part of another device's file system.
func (f *Finder) pickMount(c candidate, mi []inventory.MountInfo, devRoot string) (m inventory.MountInfo, ok bool, hidden string) {
	var ms []inventory.MountInfo
	for _, l := range mi {
		if l.Major != 0 {
			if l.Major == c.major && l.Minor == c.minor {
				ms = append(ms, l)
			}
			continue
		}
		for _, s := range strings.Split(l.Source, ":") {
			if s == c.path || (s != "" && filepath.Clean(s) == filepath.Join(devRoot, c.name)) {
				ms = append(ms, l)
				break
			}
		}
	}
	if len(ms) == 0 {
		for _, u := range c.uses {
			if !u.Swap {
				// Mounted, but mountinfo names another device: one device
				// of a multi-device btrfs, found through its sibling.
				return inventory.MountInfo{}, false, "part of a file system mounted at " + u.Point + " from another device"
			}
		}
		return inventory.MountInfo{}, false, ""
	}
	f.mu.Lock()
	ours := func(l inventory.MountInfo) bool { return f.mounts[l.MountPoint] != nil }
	slices.SortStableFunc(ms, func(a, b inventory.MountInfo) int {
		rank := func(l inventory.MountInfo) int {
			r := 0
			if l.Root != "/" {
				r += 2
			}
			if !ours(l) {
				r++
			}
			return r
		}
		return rank(a) - rank(b)
	})
	f.mu.Unlock()
	for _, l := range ms {
		var st unix.Stat_t
		if err := unix.Stat(l.MountPoint, &st); err != nil {
			continue
		}
		if unix.Major(st.Dev) == l.Major && unix.Minor(st.Dev) == l.Minor {
			return l, true, ""
		}
	}
	return inventory.MountInfo{}, false, "mounted at " + ms[0].MountPoint + ", but hidden under another mount"
}

// lookMounted looks for repositories in a file system mounted already.
func (f *Finder) lookMounted(c candidate, m inventory.MountInfo) look {
	ro := hasOption(m.Options, "ro") || hasOption(m.SuperOptions, "ro")
	devRO := c.readOnly
	f.mu.Lock()
	own := f.mounts[m.MountPoint]
	byUs := own != nil
	fsType := m.FSType
	if fsType == "fuseblk" && strings.HasPrefix(m.MountPoint, f.mountRoot()+"/") {
		// Another Finder's (the UI on another console): Finders mount
		// nothing but NTFS through FUSE.
		fsType = fsName(ntfs3g)
	}
	if byUs {
		ro, devRO, fsType = own.ro, own.deviceRO, fsName(own.fstype)
	}
	f.mu.Unlock()
	found, err := findRepos(m.MountPoint)
	if err != nil {
		return look{skipped: &Skipped{Device: c.path, Disk: c.disk, Reason: "could not look into " + m.MountPoint, Err: err}}
	}
	if len(found) == 0 {
		lk := look{skipped: &Skipped{Device: c.path, Disk: c.disk,
			Reason: fmt.Sprintf("no Lifeboat repository on its %s file system (mounted at %s)", fsType, m.MountPoint)}}
		// Ours too: a file system MountSpace mounted to copy files onto.
		lk.space = f.space(c, m.MountPoint, mountType(fsType), ro, devRO, m.MountPoint)
		return lk
	}
	for i := range found {
		found[i].Device, found[i].Disk, found[i].FSType = c.path, c.disk, fsType
		found[i].MountPoint, found[i].MountedByUs, found[i].ReadOnly, found[i].DeviceReadOnly = m.MountPoint, byUs, ro, devRO
	}
	return look{found: found}
}

// lookUnmounted makes the device read-only, mounts it read-only, looks for
// repositories, and unmounts it again unless it holds one.
func (f *Finder) lookUnmounted(c candidate, types []string, mt mounter) look {
	skip := func(reason string, err error) look {
		return look{skipped: &Skipped{Device: c.path, Disk: c.disk, Reason: reason, Err: err}}
	}
	if testHookLook != nil {
		testHookLook(c.path, "open")
	}
	// A device that holds nothing mountable is not touched at all: its
	// read-only flag is not set for the look, for another UI to see.
	types = probeTypes(c.path, c.size, types)
	if len(types) == 0 {
		return skip("no file system this system can mount", nil)
	}
	setRO, wasRO, reason, err := makeReadOnly(c)
	if reason != "" {
		return skip(reason, err)
	}
	restore := func() error {
		if setRO {
			return setReadOnly(c.path, false)
		}
		return nil
	}
	dir, err := os.MkdirTemp(f.mountRoot(), c.name+"-")
	if err != nil {
		return skip("could not make a mount point", errors.Join(err, restore()))
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // as mountinfo will show it
	}
	fstype, reason, err := mt.mountAny(c.path, dir, types)
	if fstype == "" {
		os.Remove(dir)
		return skip(reason, errors.Join(err, restore()))
	}
	m := &mount{device: c.path, dir: dir, fstype: fstype, ro: true, setRO: setRO, deviceRO: wasRO, mt: mt}
	if !f.register(m) {
		// Close ran while we were mounting: undo it all.
		f.unmount(m)
		return skip("the finder was closed", nil)
	}
	if testHookLook != nil {
		testHookLook(c.path, "mounted")
	}
	found, lerr := findRepos(dir)
	if lerr != nil || len(found) == 0 {
		var sp *Space
		if lerr == nil {
			sp = f.space(c, dir, fstype, false, wasRO, "")
		}
		uerr := f.release(m)
		if lerr != nil {
			return skip("could not look into its "+fsName(fstype)+" file system", errors.Join(lerr, uerr))
		}
		lk := skip("no Lifeboat repository on its "+fsName(fstype)+" file system", uerr)
		lk.space = sp
		return lk
	}
	for i := range found {
		found[i].Device, found[i].Disk, found[i].FSType = c.path, c.disk, fsName(fstype)
		found[i].MountPoint, found[i].MountedByUs, found[i].ReadOnly, found[i].DeviceReadOnly = dir, true, true, wasRO
	}
	return look{found: found}
}

// register records a mount unless the Finder is closed.
func (f *Finder) register(m *mount) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if f.mounts == nil {
		f.mounts = map[string]*mount{}
	}
	f.mounts[m.dir] = m
	return true
}

// release forgets one of our mounts and unmounts it, unless Close has
// taken it already.
func (f *Finder) release(m *mount) error {
	f.mu.Lock()
	owned := f.mounts[m.dir] == m
	if owned {
		delete(f.mounts, m.dir)
	}
	f.mu.Unlock()
	if !owned {
		return nil
	}
	return f.unmount(m)
}

// unmount unmounts m (lazily when busy), clears the read-only flag we set
// and removes the mount directory.
func (f *Finder) unmount(m *mount) error {
	var errs []error
	// EINVAL: not mounted there any more; ENOENT: the directory is gone.
	// Both happen when another Finder with this MountRoot unmounted it.
	gone := func(err error) bool { return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) }
	if err := unix.Unmount(m.dir, unix.UMOUNT_NOFOLLOW); err != nil && !gone(err) {
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(m.dir, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
		}
		if err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("unmount %s from %s: %w", m.device, m.dir, err))
		}
	}
	if m.setRO {
		if err := setReadOnly(m.device, false); err != nil {
			errs = append(errs, err)
		} else {
			m.setRO = false
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(m.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove mount point %s: %w", m.dir, err))
		}
	}
	return errors.Join(errs...)
}

// lockScan keeps Finders that share a MountRoot (the text UI on each
// console of the rescue environment) from looking at the same devices at
// once, where one would find a device held by the other's look and pass
// it over, and keeps jobs from claiming disks in the middle of a look: it
// takes the claims registry's lock, waiting while another Finder scans.
// The second then sees, in mountinfo, what the first left mounted, and
// looks there.
func (f *Finder) lockScan(ctx context.Context) (unlock func(), err error) {
	return f.claims().Lock(ctx)
}

// Hold waits until no Finder sharing MountRoot is scanning and keeps them
// from starting until unlock is called. A scan sets a device read-only for
// a moment while it looks at it; what a caller reads of the disks under
// Hold is never caught half-way. Hold and Scan must not be nested.
func (f *Finder) Hold(ctx context.Context) (unlock func(), err error) {
	return f.lockScan(ctx)
}

// ensureRoot creates MountRoot when it is missing.
func (f *Finder) ensureRoot() error {
	root := f.mountRoot()
	if _, err := os.Stat(root); err == nil {
		return nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("make mount root %s: %w", root, err)
	}
	f.mu.Lock()
	f.madeRoot = true
	f.mu.Unlock()
	return nil
}

// MakeWritable mounts the file system holding fd read-write so that images
// can be captured into it, and sets fd.ReadOnly to false. For a file
// system the Finder mounted read-only it unmounts it, clears the device's
// read-only flag and mounts it again read-write at the same place, without
// the no-replay options, so a journal is replayed before anything is
// written; should that fail, it is mounted read-only again. It refuses a
// read-only device (ErrReadOnlyDevice) and a file system someone else
// mounted read-only; one mounted read-write already is left as it is.
func (f *Finder) MakeWritable(fd *Found) error {
	f.mu.Lock()
	m := f.mounts[fd.MountPoint]
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return fmt.Errorf("make %s writable: %w", fd.Dir, ErrClosed)
	}
	// No Finder sharing MountRoot (the UI on another console) may be
	// looking into the file system while it is unmounted and mounted
	// again: its look holds the directory open, and the unmount fails
	// as busy.
	unlock, err := f.lockScan(context.Background())
	if err != nil {
		return fmt.Errorf("make %s writable: %w", fd.Dir, err)
	}
	defer unlock()
	if m == nil {
		ro, err := mountedReadOnly(fd.MountPoint)
		if err != nil {
			return fmt.Errorf("make %s writable: %w", fd.Dir, err)
		}
		if !ro {
			fd.ReadOnly = false
			return nil
		}
		if !strings.HasPrefix(fd.MountPoint, f.mountRoot()+"/") {
			return fmt.Errorf("make %s writable: %s is mounted read-only at %s by someone else; remount it read-write first", fd.Dir, fd.Device, fd.MountPoint)
		}
		// Another Finder with this MountRoot (the UI on another console)
		// mounted it read-only to look, and made the device read-only:
		// take the mount over (no Finder scans meanwhile).
		m = &mount{device: fd.Device, dir: fd.MountPoint, fstype: mountType(fd.FSType), ro: true, setRO: true,
			mt: mounter{ntfs3g: ntfs3gProgram(f.NTFS3G), devRoot: f.source().DevRoot}}
		if !f.register(m) {
			return fmt.Errorf("make %s writable: %w", fd.Dir, ErrClosed)
		}
		fd.MountedByUs = true
	}
	if !m.ro {
		fd.ReadOnly = false
		return nil
	}
	if m.deviceRO {
		return fmt.Errorf("make %s writable: %s: %w", fd.Dir, m.device, ErrReadOnlyDevice)
	}
	if err := unix.Unmount(m.dir, unix.UMOUNT_NOFOLLOW); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("make %s writable: unmount %s from %s: %w (a program has files open there)", fd.Dir, m.device, m.dir, err)
		}
		return fmt.Errorf("make %s writable: unmount %s from %s: %w", fd.Dir, m.device, m.dir, err)
	}
	// From here on m is not mounted; every way out mounts it again.
	remountRO := func(cause error) error {
		if m.setRO || setReadOnly(m.device, true) == nil {
			m.setRO = true
		}
		if err := m.mt.mountRO(m.device, m.dir, m.fstype, 0); err != nil {
			f.mu.Lock()
			delete(f.mounts, m.dir)
			f.mu.Unlock()
			rerr := fmt.Errorf("mount %s read-only again at %s: %w", m.device, m.dir, err)
			if m.setRO && setReadOnly(m.device, false) == nil {
				m.setRO = false
			}
			os.Remove(m.dir)
			return fmt.Errorf("make %s writable: %w; %w", fd.Dir, cause, rerr)
		}
		return fmt.Errorf("make %s writable: %w", fd.Dir, cause)
	}
	if m.setRO {
		if err := setReadOnly(m.device, false); err != nil {
			return remountRO(err)
		}
		m.setRO = false
	}
	if err := m.mt.mountRW(m.device, m.dir, m.fstype); err != nil {
		return remountRO(fmt.Errorf("mount %s read-write at %s: %w", m.device, m.dir, err))
	}
	m.ro = false
	fd.ReadOnly = false
	return nil
}

// UnmountAll unmounts every file system mounted under MountRoot, by this
// Finder or by another sharing MountRoot (the UI on another console), for
// a machine about to power off or reboot: sync(2) does not reach into
// ntfs-3g, and only an unmount has it write out what it holds, mark its
// volume clean and let go of the device. A busy file system is detached
// lazily. The Finder stays usable; it waits while another Finder scans.
func (f *Finder) UnmountAll(ctx context.Context) error {
	unlock, err := f.lockScan(ctx)
	if err != nil {
		return fmt.Errorf("unmount the repositories' file systems: %w", err)
	}
	defer unlock()
	f.mu.Lock()
	ms := make([]*mount, 0, len(f.mounts))
	for dir, m := range f.mounts {
		ms = append(ms, m)
		delete(f.mounts, dir)
	}
	f.mu.Unlock()
	var errs []error
	for _, m := range ms {
		if err := f.unmount(m); err != nil {
			errs = append(errs, err)
		}
	}
	mi, err := readMountInfo(f.source().MountInfo)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("unmount the repositories' file systems: %w", err))...)
	}
	root := f.mountRoot() + "/"
	for i := len(mi) - 1; i >= 0; i-- { // the last mounted first
		l := mi[i]
		if !strings.HasPrefix(l.MountPoint, root) {
			continue
		}
		m := &mount{device: l.Source, dir: l.MountPoint}
		if err := f.unmount(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close unmounts every file system the Finder mounted (lazily when one is
// busy), clears the read-only flags it set on devices, and removes its
// mount directories, and MountRoot when it made it and left it empty. It
// can be called more than once.
func (f *Finder) Close() error {
	f.mu.Lock()
	f.closed = true
	ms := make([]*mount, 0, len(f.mounts))
	for _, m := range f.mounts {
		ms = append(ms, m)
	}
	f.mounts = nil
	madeRoot := f.madeRoot
	f.madeRoot = false
	f.mu.Unlock()
	slices.SortFunc(ms, func(a, b *mount) int { return strings.Compare(a.dir, b.dir) })
	var errs []error
	for _, m := range ms {
		if err := f.unmount(m); err != nil {
			errs = append(errs, err)
		}
	}
	if madeRoot {
		os.Remove(f.mountRoot()) // only when empty
	}
	return errors.Join(errs...)
}

// mountedReadOnly reports whether the file system at dir is mounted
// read-only.
func mountedReadOnly(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Flags&unix.ST_RDONLY != 0, nil
}

func hasOption(opts, o string) bool {
	return slices.Contains(strings.Split(opts, ","), o)
}

func readMountInfo(path string) ([]inventory.MountInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	mi, err := inventory.ParseMountInfo(io.LimitReader(fh, maxTable))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return mi, nil
}
