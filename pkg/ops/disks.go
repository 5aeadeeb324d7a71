package ops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"golang.org/x/sys/unix"
)

// DiskInfo is a disk as the user sees it: what the kernel says about it,
// its partition table, and what each partition holds. NoMedium (of
// inventory.Disk) is set for a drive of removable media that holds none
// (an empty CD drive), found by the inventory or by ENOMEDIUM on opening
// it; its Size is then 0, not the kernel's guess.
type DiskInfo struct {
	inventory.Disk
	// File is set for a disk image file given by the user rather than a
	// block device.
	File     bool
	Table    *ptable.Table // nil when TableErr is set
	TableErr error
	Parts    []PartInfo
	// FS is what the whole disk holds when it has no partition table.
	FS fsprobe.Info
}

// PartInfo is a partition and the file system (or other content) on it.
type PartInfo struct {
	ptable.Partition
	FS    fsprobe.Info
	FSErr error
	// Used is how much of the file system is in use, its own structures
	// included (fsmap.Used); 0 when that is not known cheaply.
	Used int64
}

// Flags are short words for what the user must know about a disk before
// choosing it: "boot", "mounted", "swap", "in use", "removable",
// "read-only".
func (d DiskInfo) Flags() []string {
	var f []string
	if d.Boot {
		f = append(f, "boot")
	}
	mounted, swap := false, false
	for _, m := range d.Mounts {
		if m.Swap {
			swap = true
		} else {
			mounted = true
		}
	}
	if mounted {
		f = append(f, "mounted")
	}
	if swap {
		f = append(f, "swap")
	}
	if len(d.Holders) > 0 {
		f = append(f, "in use")
	}
	if d.Removable {
		f = append(f, "removable")
	}
	if d.ReadOnly {
		f = append(f, "read-only")
	}
	if d.NoMedium {
		f = append([]string{"no medium"}, f...) // first: it says the most
	}
	return f
}

// DescribeDisks lists the machine's disks (from env.Inventory) followed by
// the disk image files given, each with its partition table and the file
// systems on its partitions. A disk that cannot be read is listed with
// TableErr set.
func DescribeDisks(env Env, files []string) ([]DiskInfo, error) {
	list, err := ScanDisks(env)
	if err != nil {
		return nil, err
	}
	return Describe(list, files), nil
}

// ScanDisks lists the machine's disks from env.Inventory, as the kernel
// has them now (sysfs, mounts), reading none of them.
func ScanDisks(env Env) ([]inventory.Disk, error) {
	return inventory.Scan(env.inventory())
}

// Describe describes the disks ScanDisks listed, reading each one's
// partition table and file systems, followed by the disk image files.
func Describe(list []inventory.Disk, files []string) []DiskInfo {
	out := make([]DiskInfo, 0, len(list)+len(files))
	for _, d := range list {
		out = append(out, describe(DiskInfo{Disk: d}))
	}
	for _, f := range files {
		out = append(out, DescribeFile(f))
	}
	return out
}

// DescribeFile describes a disk image file.
func DescribeFile(path string) DiskInfo {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	info := DiskInfo{File: true, Disk: inventory.Disk{
		Name: filepath.Base(abs), Path: abs, Transport: "file",
		LogicalSectorSize: 512, PhysicalSectorSize: 512,
	}}
	st, err := os.Stat(abs)
	if err != nil {
		info.TableErr = err
		return info
	}
	if !st.Mode().IsRegular() {
		info.TableErr = fmt.Errorf("%s is not a regular file", abs)
		return info
	}
	info.Size = st.Size()
	return describe(info)
}

func describe(info DiskInfo) DiskInfo {
	if info.NoMedium {
		// Not opened: reading a drive with no disc only makes the
		// kernel log errors.
		info.Size = 0
		return info
	}
	d, err := disk.Open(info.Path, disk.Options{SectorSize: info.LogicalSectorSize})
	if errors.Is(err, unix.ENOMEDIUM) {
		info.NoMedium, info.Size = true, 0
		return info
	}
	if err != nil {
		info.TableErr = err
		return info
	}
	defer d.Close()
	info.Size = d.Size()
	t, err := ptable.Read(d, d.Size(), d.LogicalSectorSize())
	if errors.Is(err, unix.ENOMEDIUM) {
		info.NoMedium, info.Size = true, 0
		return info
	}
	if err != nil {
		info.TableErr = fmt.Errorf("read the partition table of %s: %w", info.Path, err)
		return info
	}
	info.Table = t
	if t.Type == ptable.TypeNone {
		info.FS, _ = fsprobe.Probe(d, d.Size())
		return info
	}
	info.Parts = ProbeParts(d, d.Size(), t)
	return info
}

// Label is a one-line name for a disk: model and serial when known.
func (d DiskInfo) Label() string {
	var parts []string
	for _, s := range []string{d.Vendor, d.Model} {
		if s != "" && s != "ATA" && !strings.HasPrefix(s, "0x") {
			parts = append(parts, s)
		}
	}
	if d.Serial != "" {
		parts = append(parts, "serial "+d.Serial)
	}
	if d.File {
		parts = append(parts, "image file")
	}
	return strings.Join(parts, ", ")
}
