package inventory

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Source says where to read from. Zero fields take the defaults of
// DefaultSource().
type Source struct {
	SysRoot   string // "/sys"
	MountInfo string // "/proc/self/mountinfo"
	Swaps     string // "/proc/swaps"
	DevRoot   string // "/dev" (to build Path fields, to read device names in mountinfo and swaps, and to ask optical drives whether they hold a disc)
	// BootDevices are extra kernel names (e.g. "sdb") of disks the running
	// system booted from, given by the boot environment. A partition name
	// stands for its disk; a name that is not present is ignored.
	BootDevices []string
	// BootMedia, when set, is asked at each Scan which of the disks found
	// (kernel names) hold the medium the running system booted from: a
	// USB stick whose driver loads after the scanning program started is
	// still recognised.
	BootMedia func(disks []string) []string
}

// DefaultSource reads the running system.
func DefaultSource() Source {
	return Source{
		SysRoot:   "/sys",
		MountInfo: "/proc/self/mountinfo",
		Swaps:     "/proc/swaps",
		DevRoot:   "/dev",
	}
}

// WithDefaults fills the empty fields of s from DefaultSource.
func (s Source) WithDefaults() Source {
	d := DefaultSource()
	if s.SysRoot == "" {
		s.SysRoot = d.SysRoot
	}
	if s.MountInfo == "" {
		s.MountInfo = d.MountInfo
	}
	if s.Swaps == "" {
		s.Swaps = d.Swaps
	}
	if s.DevRoot == "" {
		s.DevRoot = d.DevRoot
	}
	return s
}

// Disk is a whole block device as listed in /sys/block.
type Disk struct {
	Name               string `json:"name"` // kernel name: "sda", "nvme0n1", "vda", "mmcblk0", "loop3"
	Path               string `json:"path"` // DevRoot+"/"+Name
	Major              uint32 `json:"major"`
	Minor              uint32 `json:"minor"`
	Model              string `json:"model"` // trimmed; "" when unknown, as Vendor, Serial and WWN
	Vendor             string `json:"vendor"`
	Serial             string `json:"serial"`
	WWN                string `json:"wwn"`
	Size               int64  `json:"size"` // bytes
	LogicalSectorSize  int    `json:"logical_sector_size"`
	PhysicalSectorSize int    `json:"physical_sector_size"`
	Removable          bool   `json:"removable"`
	Rotational         bool   `json:"rotational"`
	ReadOnly           bool   `json:"read_only"`
	Transport          string `json:"transport"`    // "nvme", "sata", "scsi", "usb", "virtio", "mmc", "loop", "virtual", or "" when unknown
	BackingFile        string `json:"backing_file"` // loop devices: the file behind it
	// Partitions are the kernel's partition devices of the disk.
	Partitions []Partition `json:"partitions"`
	// VendorID is the vendor number the device gives ("0x1af4" for a
	// virtio disk), when it gives one rather than a name; Vendor is then
	// the vendor's name (see VendorName).
	VendorID string `json:"vendor_id,omitempty"`
	// Holders are the kernel names of every device stacked on the disk or
	// on any of its partitions, directly or through other stacked devices
	// (dm-0, md127), sorted.
	Holders []string `json:"holders"`
	// MountPoints are the mount points of the disk, its partitions and
	// everything stacked on them, sorted; "[SWAP]" stands for active swap.
	MountPoints []string `json:"mount_points"`
	// Mounts says which device is mounted where; MountPoints is the set of
	// their points.
	Mounts []Mount `json:"mounts"`
	// Boot is set when the running system's root file system lives on the
	// disk (directly, on a partition, or through dm/md devices), or when
	// the disk is in Source.BootDevices.
	Boot bool `json:"boot"`
	// NoMedium is set for a CD or DVD drive that holds no disc (or whose
	// tray is open); Size is then 0, not the kernel's guess. Nothing must
	// read such a drive: each attempt makes the kernel log errors.
	NoMedium bool `json:"no_medium,omitempty"`
}

// Partition is a partition of a Disk.
type Partition struct {
	Name        string   `json:"name"` // "sda1", "nvme0n1p2"
	Path        string   `json:"path"`
	Number      int      `json:"number"`
	Major       uint32   `json:"major"`
	Minor       uint32   `json:"minor"`
	Start       int64    `json:"start"` // bytes
	Size        int64    `json:"size"`  // bytes
	ReadOnly    bool     `json:"read_only"`
	Holders     []string `json:"holders"`      // as Disk.Holders, for this partition
	MountPoints []string `json:"mount_points"` // as Disk.MountPoints, for this partition
}

// Mount is one use of a device by the running system: a mounted file system
// or active swap.
type Mount struct {
	Device string `json:"device"` // kernel name of the device mounted or swapped on: "sda1", "dm-0"
	Point  string `json:"point"`  // mount point; "[SWAP]" for swap
	Swap   bool   `json:"swap"`
}

const swapPoint = "[SWAP]"

// InUse returns the reasons the disk must not be written, in a stable order:
// the running system booted from it, what is mounted from it, active swap on
// it, the devices stacked on it, and whether it is read-only. It is empty
// when the disk is free. It also reads MountPoints and Holders of the disk
// and its partitions, so a Disk assembled by hand is judged the same way.
func (d Disk) InUse() []string {
	var r []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			r = append(r, s)
		}
	}
	if d.Boot {
		add("the running system booted from it")
	}
	points := map[string]bool{}
	for _, m := range d.Mounts {
		points[m.Point] = true
		if m.Swap {
			add("active swap " + m.Device)
		} else {
			add(fmt.Sprintf("mounted at %s (%s)", m.Point, m.Device))
		}
	}
	other := func(dev string, mps []string) {
		for _, p := range mps {
			if points[p] {
				continue
			}
			switch {
			case p == swapPoint:
				add("active swap " + dev)
			default:
				add(fmt.Sprintf("mounted at %s (%s)", p, dev))
			}
		}
	}
	other(d.Name, d.MountPoints)
	for _, p := range d.Partitions {
		other(p.Name, p.MountPoints)
	}
	for _, h := range d.Holders {
		add("holds " + h)
	}
	for _, p := range d.Partitions {
		for _, h := range p.Holders {
			add("holds " + h)
		}
	}
	if d.ReadOnly {
		add("read-only")
	}
	return r
}

// blockDev is what the snapshot knows of one block device before a Disk is
// built from it.
type blockDev struct {
	name       string
	dir        string // as reached from /sys/block: "block/sda", "block/sda/sda1"
	real       string // dir resolved: "devices/pci0000:00/.../block/sda"
	num        devNum
	parent     string   // for a partition: its disk
	partitions []string // for a disk: its partitions, in directory order
	holders    []string // direct holders
	slaves     []string // direct slaves
}

// snapshot is everything read once for one call of Scan, Lookup or
// DisksUnder.
type snapshot struct {
	src     Source
	sys     *sysfs
	devs    map[string]*blockDev
	byNum   map[devNum]string
	disks   []string // names in /sys/block, sorted
	mounts  []MountInfo
	swaps   []Swap
	uses    map[string][]Mount // device name -> its uses
	boot    map[string]bool
	dmNames map[string]string // dm name -> kernel name, filled on first use
}

func newSnapshot(src Source) (*snapshot, error) {
	src = src.WithDefaults()
	mounts, err := readTable(src.MountInfo, false, ParseMountInfo)
	if err != nil {
		return nil, err
	}
	swaps, err := readTable(src.Swaps, true, ParseSwaps)
	if err != nil {
		return nil, err
	}
	sys, err := openSysfs(src.SysRoot)
	if err != nil {
		return nil, err
	}
	s := &snapshot{
		src:    src,
		sys:    sys,
		devs:   map[string]*blockDev{},
		byNum:  map[devNum]string{},
		mounts: mounts,
		swaps:  swaps,
		uses:   map[string][]Mount{},
		boot:   map[string]bool{},
	}
	if err := s.load(); err != nil {
		sys.close()
		return nil, err
	}
	return s, nil
}

func (s *snapshot) close() { s.sys.close() }

// load lists /sys/block and reads the device numbers, partitions, holders
// and slaves of every device, then works out mounts, swaps and boot disks.
func (s *snapshot) load() error {
	es, err := s.sys.list("block")
	if err != nil {
		return err
	}
	if es == nil {
		if ok, err := s.sys.exists("block"); err != nil {
			return err
		} else if !ok {
			return pathError("read", s.sys.display("block"), fs.ErrNotExist)
		}
	}
	for _, e := range es {
		if err := s.loadDisk(e.name); err != nil {
			return err
		}
	}
	for _, m := range s.mounts {
		for _, n := range s.mountDevices(m) {
			s.addUse(Mount{Device: n, Point: m.MountPoint})
		}
	}
	for _, sw := range s.swaps {
		if sw.Type != "partition" {
			continue // a swap file: its file system is mounted, which is reported already
		}
		if n, err := s.nameFromDevPath(sw.Filename); err != nil {
			return err
		} else if n != "" {
			s.addUse(Mount{Device: n, Point: swapPoint, Swap: true})
		}
	}
	s.findBoot()
	return nil
}

func (s *snapshot) addUse(m Mount) {
	if !slices.Contains(s.uses[m.Device], m) {
		s.uses[m.Device] = append(s.uses[m.Device], m)
	}
}

func (s *snapshot) loadDisk(name string) error {
	dir := "block/" + name
	if ok, err := s.sys.lexists(dir); err != nil || !ok {
		return err // gone since the listing: unplugged or removed
	}
	real, err := s.sys.resolve(dir)
	if err != nil {
		return err
	}
	d := &blockDev{name: name, dir: dir, real: real}
	if d.num, err = s.sys.devNumber(dir + "/dev"); err != nil {
		return err
	}
	if d.holders, err = s.sys.names(dir + "/holders"); err != nil {
		return err
	}
	if d.slaves, err = s.sys.names(dir + "/slaves"); err != nil {
		return err
	}
	s.add(d)
	s.disks = append(s.disks, name)
	es, err := s.sys.list(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if !e.dir || !strings.HasPrefix(e.name, name) {
			continue
		}
		pdir := dir + "/" + e.name
		if ok, err := s.sys.exists(pdir + "/partition"); err != nil {
			return err
		} else if !ok {
			continue
		}
		p := &blockDev{name: e.name, dir: pdir, real: real + "/" + e.name, parent: name}
		if p.num, err = s.sys.devNumber(pdir + "/dev"); err != nil {
			return err
		}
		if p.holders, err = s.sys.names(pdir + "/holders"); err != nil {
			return err
		}
		s.add(p)
		d.partitions = append(d.partitions, e.name)
	}
	return nil
}

func (s *snapshot) add(d *blockDev) {
	s.devs[d.name] = d
	s.byNum[d.num] = d.name
}

// nameFromDevPath maps a device path from mountinfo or swaps to a kernel
// name: DevRoot/NAME for a known device, DevRoot/mapper/NAME through the
// dm/name of device-mapper devices. Anything else gives "".
func (s *snapshot) nameFromDevPath(p string) (string, error) {
	dev := filepath.Clean(s.src.DevRoot) + "/"
	rest, ok := strings.CutPrefix(p, dev)
	if !ok {
		return "", nil
	}
	if dm, ok := strings.CutPrefix(rest, "mapper/"); ok {
		if s.dmNames == nil {
			s.dmNames = map[string]string{}
			for _, n := range s.disks {
				name, err := s.sys.str(s.devs[n].dir + "/dm/name")
				if err != nil {
					return "", err
				}
				if name != "" {
					s.dmNames[name] = n
				}
			}
		}
		return s.dmNames[dm], nil
	}
	if _, ok := s.devs[rest]; ok {
		return rest, nil
	}
	return "", nil
}

// mountDevices returns the kernel names of the devices a mount lives on. The
// kernel reports the device number in mountinfo; for file systems on an
// anonymous device number (major 0, such as btrfs) the source is read
// instead when it names devices under DevRoot ("/dev/sda2", or several
// joined by ":"), and for btrfs every device of the same file system is
// added from /sys/fs/btrfs.
func (s *snapshot) mountDevices(m MountInfo) []string {
	if m.Major != 0 {
		if n, ok := s.byNum[devNum{m.Major, m.Minor}]; ok {
			return []string{n}
		}
		return nil
	}
	var out []string
	for _, src := range strings.Split(m.Source, ":") {
		n, err := s.nameFromDevPath(src)
		if err != nil || n == "" {
			continue
		}
		out = append(out, n)
		if m.FSType == "btrfs" {
			out = append(out, s.btrfsDevices(n)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// btrfsDevices returns the other devices of the btrfs file system that has
// device name, from /sys/fs/btrfs/FSID/devices/.
func (s *snapshot) btrfsDevices(name string) []string {
	ids, err := s.sys.list("fs/btrfs")
	if err != nil {
		return nil
	}
	for _, id := range ids {
		dir := "fs/btrfs/" + id.name + "/devices"
		if ok, _ := s.sys.exists(dir + "/" + name); !ok {
			continue
		}
		ns, err := s.sys.names(dir)
		if err != nil {
			return nil
		}
		var out []string
		for _, n := range ns {
			if _, ok := s.devs[n]; ok {
				out = append(out, n)
			}
		}
		return out
	}
	return nil
}

// findBoot marks the disks under the root file system and the boot devices.
func (s *snapshot) findBoot() {
	var root *MountInfo
	for i := range s.mounts {
		if s.mounts[i].MountPoint == "/" {
			root = &s.mounts[i]
		}
	}
	if root != nil {
		switch root.FSType {
		case "rootfs", "tmpfs", "ramfs":
			// an initramfs: nothing on disk
		default:
			for _, n := range s.mountDevices(*root) {
				s.below(n, 0, s.boot)
			}
		}
	}
	boot := s.src.BootDevices
	if s.src.BootMedia != nil {
		boot = append(append([]string(nil), boot...), s.src.BootMedia(s.disks)...)
	}
	for _, b := range boot {
		b = filepath.Base(b)
		if _, ok := s.devs[b]; ok {
			s.below(b, 0, s.boot)
		}
	}
}

// below adds to out the whole disk of device name and, through slaves/,
// every disk beneath it: for dm-0 on nvme0n1p3 that is dm-0 and nvme0n1.
func (s *snapshot) below(name string, depth int, out map[string]bool) {
	d := s.devs[name]
	if d == nil || depth > maxStackDepth {
		return
	}
	if d.parent != "" {
		d = s.devs[d.parent]
		if d == nil {
			return
		}
	}
	if out[d.name] {
		return
	}
	out[d.name] = true
	for _, sl := range d.slaves {
		s.below(sl, depth+1, out)
	}
}

// stack returns name, its partitions and, recursively, everything stacked
// on them with their partitions.
func (s *snapshot) stack(name string) []string {
	seen := map[string]bool{}
	var walk func(n string, depth int)
	walk = func(n string, depth int) {
		d := s.devs[n]
		if d == nil || seen[n] || depth > maxStackDepth {
			return
		}
		seen[n] = true
		for _, p := range d.partitions {
			walk(p, depth+1)
		}
		for _, h := range d.holders {
			walk(h, depth+1)
		}
	}
	walk(name, 0)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// holders returns the devices stacked on any of names, directly or through
// other stacked devices (and their partitions), sorted.
func (s *snapshot) holders(names ...string) []string {
	seen := map[string]bool{}
	var walk func(n string, depth int)
	walk = func(n string, depth int) {
		d := s.devs[n]
		if d == nil || depth > maxStackDepth {
			return
		}
		for _, h := range d.holders {
			if !seen[h] {
				seen[h] = true
				walk(h, depth+1)
			}
		}
		if depth > 0 {
			for _, p := range d.partitions { // md127p1 on md127 on sda1
				walk(p, depth+1)
			}
		}
	}
	for _, n := range names {
		walk(n, 0)
	}
	if len(seen) == 0 {
		return nil
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// usesOf returns the mounts and swaps of every device in names, sorted by
// point and device.
func (s *snapshot) usesOf(names []string) ([]Mount, []string) {
	var ms []Mount
	for _, n := range names {
		ms = append(ms, s.uses[n]...)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	slices.SortFunc(ms, func(a, b Mount) int {
		return cmp.Or(strings.Compare(a.Point, b.Point), strings.Compare(a.Device, b.Device))
	})
	ms = slices.Compact(ms)
	var points []string
	for _, m := range ms {
		points = append(points, m.Point)
	}
	return ms, slices.Compact(points)
}

// disk builds the Disk for whole device name.
func (s *snapshot) disk(name string) (Disk, error) {
	b := s.devs[name]
	if b == nil || b.parent != "" {
		return Disk{}, fmt.Errorf("%s is not a disk in %s", name, s.sys.display("block"))
	}
	sys := s.sys
	d := Disk{
		Name:  name,
		Path:  filepath.Join(s.src.DevRoot, name),
		Major: b.num.major,
		Minor: b.num.minor,
		Boot:  s.boot[name],
	}
	var err error
	if d.Size, err = sys.sectors(b.dir + "/size"); err != nil {
		return Disk{}, err
	}
	if d.LogicalSectorSize, err = s.intAttr(b.dir + "/queue/logical_block_size"); err != nil {
		return Disk{}, err
	}
	if d.PhysicalSectorSize, err = s.intAttr(b.dir + "/queue/physical_block_size"); err != nil {
		return Disk{}, err
	}
	if d.Removable, err = sys.boolAttr(b.dir + "/removable"); err != nil {
		return Disk{}, err
	}
	if d.Rotational, err = sys.boolAttr(b.dir + "/queue/rotational"); err != nil {
		return Disk{}, err
	}
	if d.ReadOnly, err = sys.boolAttr(b.dir + "/ro"); err != nil {
		return Disk{}, err
	}
	if s.optical(name, b.dir) && noMedium(d.Path) {
		d.NoMedium = true
	}
	d.Transport = transport(name, b.real)
	if err := s.identify(&d, b); err != nil {
		return Disk{}, err
	}
	if d.Transport == "loop" || strings.HasPrefix(name, "loop") {
		if d.BackingFile, err = sys.str(b.dir + "/loop/backing_file"); err != nil {
			return Disk{}, err
		}
	}
	for _, pn := range b.partitions {
		p, err := s.partition(pn)
		if err != nil {
			return Disk{}, err
		}
		d.Partitions = append(d.Partitions, p)
	}
	slices.SortStableFunc(d.Partitions, func(a, b Partition) int { return cmp.Compare(a.Number, b.Number) })
	d.Holders = s.holders(append([]string{name}, b.partitions...)...)
	d.Mounts, d.MountPoints = s.usesOf(s.stack(name))
	return d, nil
}

func (s *snapshot) intAttr(rel string) (int, error) {
	v, _, err := s.sys.int64Attr(rel, false)
	if err == nil && (v < 0 || v > 1<<31-1) {
		err = pathError("parse", s.sys.display(rel), fmt.Errorf("%d out of range", v))
	}
	return int(v), err
}

func (s *snapshot) partition(name string) (Partition, error) {
	b := s.devs[name]
	sys := s.sys
	p := Partition{
		Name:  name,
		Path:  filepath.Join(s.src.DevRoot, name),
		Major: b.num.major,
		Minor: b.num.minor,
	}
	var err error
	if p.Number, err = s.intAttr(b.dir + "/partition"); err != nil {
		return Partition{}, err
	}
	if p.Start, err = sys.sectors(b.dir + "/start"); err != nil {
		return Partition{}, err
	}
	if p.Size, err = sys.sectors(b.dir + "/size"); err != nil {
		return Partition{}, err
	}
	if p.ReadOnly, err = sys.boolAttr(b.dir + "/ro"); err != nil {
		return Partition{}, err
	}
	p.Holders = s.holders(name)
	_, p.MountPoints = s.usesOf(s.stack(name))
	return p, nil
}

// transport tells how a disk is attached from its resolved sysfs path.
func transport(name, dir string) string {
	p := "/" + dir
	switch {
	case strings.Contains(p, "/nvme"):
		return "nvme"
	case strings.Contains(p, "/usb"):
		return "usb"
	case strings.Contains(p, "/virtio") && !(strings.Contains(p, "/host") && strings.Contains(p, "/target")):
		return "virtio"
	case strings.Contains(p, "/mmc_host/") || strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case strings.Contains(p, "/ata"):
		return "sata"
	case strings.Contains(p, "/host"):
		return "scsi"
	case strings.Contains(p, "/virtual/block/loop"):
		return "loop"
	case strings.Contains(p, "/virtual/"):
		return "virtual"
	}
	return ""
}

// identify fills Model, Vendor, Serial and WWN.
func (s *snapshot) identify(d *Disk, b *blockDev) error {
	sys := s.sys
	dev := b.dir + "/device"
	var err error
	if d.Model, err = sys.str(dev + "/model"); err != nil {
		return err
	}
	if d.Model == "" && d.Transport == "mmc" {
		if d.Model, err = sys.str(dev + "/name"); err != nil {
			return err
		}
	}
	if d.Vendor, err = sys.str(dev + "/vendor"); err != nil {
		return err
	}
	if name := VendorName(d.Vendor); name != d.Vendor {
		d.VendorID, d.Vendor = d.Vendor, name
	}
	if d.Serial, err = s.serial(b, d.Transport); err != nil {
		return err
	}
	for _, f := range []string{b.dir + "/wwid", dev + "/wwid"} {
		if d.WWN, err = sys.str(f); err != nil || d.WWN != "" {
			return err
		}
	}
	page, ok, err := sys.readOptional(dev+"/vpd_pg83", maxVPDSize)
	if err != nil || !ok {
		return err
	}
	d.WWN, _ = ParseVPDNAA(page) // a malformed page leaves the WWN unknown
	return nil
}

func (s *snapshot) serial(b *blockDev, transport string) (string, error) {
	sys := s.sys
	dev := b.dir + "/device"
	for _, f := range []string{dev + "/serial", b.dir + "/serial"} {
		if v, err := sys.str(f); err != nil || v != "" {
			return v, err
		}
	}
	page, ok, err := sys.readOptional(dev+"/vpd_pg80", maxVPDSize)
	if err != nil {
		return "", err
	}
	if ok {
		if v, err := ParseVPDSerial(page); err == nil && v != "" {
			return v, nil
		} // a malformed page (common behind USB bridges) is passed over
	}
	if transport != "usb" {
		return "", nil
	}
	// The USB device is an ancestor of the SCSI device: the first
	// directory up the path with idVendor.
	devDir, err := sys.resolve(dev)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // no device link: nothing to walk
	} else if err != nil {
		return "", err
	}
	for i := 0; i < maxAncestorHop && devDir != "" && devDir != "devices" && devDir != "."; i++ {
		if ok, err := sys.exists(devDir + "/idVendor"); err != nil {
			return "", err
		} else if ok {
			return sys.str(devDir + "/serial")
		}
		devDir = pathDir(devDir)
	}
	return "", nil
}

func pathDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// byDevNum resolves /sys/dev/block/MAJ:MIN to a known device name.
func (s *snapshot) byDevNum(n devNum) (string, bool, error) {
	rel := "dev/block/" + strconv.FormatUint(uint64(n.major), 10) + ":" + strconv.FormatUint(uint64(n.minor), 10)
	if ok, err := s.sys.exists(rel); err != nil || !ok {
		return "", false, err
	}
	dir, err := s.sys.resolve(rel)
	if err != nil {
		return "", false, err
	}
	name := dir[strings.LastIndexByte(dir, '/')+1:]
	if _, ok := s.devs[name]; !ok {
		return "", false, fmt.Errorf("%s: %s is not listed in %s", s.sys.display(rel), name, s.sys.display("block"))
	}
	return name, true, nil
}

// Scan returns every disk in SysRoot/block, sorted by name with numbers in
// names compared by value (sdb before sdaa, loop2 before loop10). It leaves out
// RAM disks (ram*), loop devices with no backing file and devices of size
// zero (empty card readers and optical drives, unused zram).
func Scan(src Source) ([]Disk, error) {
	s, err := newSnapshot(src)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var out []Disk
	for _, n := range s.disks {
		if strings.HasPrefix(n, "ram") {
			continue
		}
		d, err := s.disk(n)
		if err != nil {
			return nil, err
		}
		if d.NoMedium {
			d.Size = 0 // the kernel's guess for a drive with no disc
		} else if d.Size == 0 || (d.Transport == "loop" || strings.HasPrefix(n, "loop")) && d.BackingFile == "" {
			continue
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Disk) int { return CompareNames(a.Name, b.Name) })
	return out, nil
}

// CompareNames orders kernel device names as a person would: runs of
// digits by their value, and names of one kind (the same first two letters)
// shorter first, so loop2 comes before loop10, sdz before sdaa and nvme2n1
// before nvme10n1; other names alphabetically.
func CompareNames(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		la, lb := letterRun(a), letterRun(b)
		if la == 0 || lb == 0 {
			return strings.Compare(a, b) // a number against letters
		}
		ra, rb := a[:la], b[:lb]
		if ra != rb {
			if la >= 2 && lb >= 2 && ra[:2] == rb[:2] && la != lb {
				return cmp.Compare(la, lb)
			}
			return strings.Compare(ra, rb)
		}
		a, b = a[la:], b[lb:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func letterRun(s string) int {
	n := 0
	for n < len(s) && (s[n] < '0' || s[n] > '9') {
		n++
	}
	return n
}
