package safety

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
)

// CheckClone decides whether a clone may read source and write target:
// the source gets a capture's checks (refused while mounted unless
// allowMounted, which returns a warning instead), the target a restore's
// (not the boot disk, not in use, not a partition), and the two must be
// apart: not the same disk or file, not a partition of the other, not a
// loop device over the other, and neither a file on the other disk.
func CheckClone(src inventory.Source, source, target string, allowMounted bool) (from, to Device, warnings []string, err error) {
	from, warnings, err = CheckCaptureSource(src, source, "", allowMounted)
	if err != nil {
		return from, to, nil, err
	}
	to, err = CheckRestoreTarget(src, target, "")
	if err != nil {
		return from, to, nil, err
	}
	if err := apart(src, from, to); err != nil {
		return from, to, nil, err
	}
	return from, to, warnings, nil
}

// apart refuses a target that is, holds or lives on the source, or the
// other way round: each side is followed down to what holds its bytes
// (loop devices to their backing files, loop over loop, a loop device over
// a partition to its disk), and the two must share no disk and no file, a
// file of one must not live on a disk of the other, and neither may be
// stacked (device-mapper, md) on the other.
func apart(src inventory.Source, from, to Device) error {
	if same(from.Path, to.Path) {
		return refuse("%s is the source; a disk cannot be cloned onto itself", to.Path)
	}
	if a, b := from.Disk, to.Disk; a != nil && b != nil {
		if a.Name == b.Name {
			return refuse("%s and %s are the same disk; a disk cannot be cloned onto itself", from.Path, to.Path)
		}
		if slices.Contains(a.Holders, b.Name) {
			return refuse("%s is stacked on the source %s (device-mapper or RAID); cloning onto it would overwrite the disk being read", to.Describe(), from.Describe())
		}
		if slices.Contains(b.Holders, a.Name) {
			return refuse("the source %s is stacked on %s (device-mapper or RAID); cloning onto it would overwrite the disk being read", from.Describe(), to.Describe())
		}
	}
	disks, err := inventory.Scan(src)
	if err != nil {
		return fmt.Errorf("check that %s and %s are apart: %w", from.Path, to.Path, err)
	}
	ua, err := under(src, disks, from)
	if err != nil {
		return err
	}
	ub, err := under(src, disks, to)
	if err != nil {
		return err
	}
	for _, da := range ua.disks {
		for _, db := range ub.disks {
			if da.Name == db.Name {
				return refuse("%s and the source %s are both on %s; cloning onto it would overwrite the disk being read", to.Path, from.Path, diskName(da))
			}
		}
	}
	for _, fa := range ua.files {
		for _, fb := range ub.files {
			if same(fa, fb) {
				return refuse("%s and the source %s are both the file %s; cloning onto it would overwrite what is being read", to.Path, from.Path, fa)
			}
		}
	}
	for _, fa := range ua.files {
		for _, db := range ub.disks {
			if on, err := onDisk(src, filepath.Dir(fa), &db); err != nil {
				return fmt.Errorf("check where %s lives: %w", fa, err)
			} else if on {
				return refuse("the source's file %s is on %s; cloning onto it would overwrite the disk being read", fa, diskName(db))
			}
		}
	}
	for _, fb := range ub.files {
		for _, da := range ua.disks {
			if on, err := onDisk(src, filepath.Dir(fb), &da); err != nil {
				return fmt.Errorf("check where %s lives: %w", fb, err)
			} else if on {
				return refuse("%s is on %s, the disk being cloned; write the copy to another disk", fb, diskName(da))
			}
		}
	}
	return nil
}

// diskName names a disk for a message: its path, model and serial.
func diskName(d inventory.Disk) string {
	s := d.Path
	if id := strings.TrimSpace(d.Model + " " + d.Serial); id != "" {
		s += " (" + id + ")"
	}
	return s
}

// held is what a clone's side keeps its bytes on: whole disks and
// regular files.
type held struct {
	disks []inventory.Disk
	files []string
}

// under follows d down to what holds its bytes: a regular file is itself;
// a loop device is what its backing file is under (another loop device, a
// partition's disk, a file); any other disk is itself. Loops of loops are
// followed 8 deep at most.
func under(src inventory.Source, disks []inventory.Disk, d Device) (held, error) {
	var h held
	path, disk := d.Path, d.Disk
	for depth := 0; ; depth++ {
		if depth == 8 {
			return h, fmt.Errorf("%s: loop devices stacked more than 8 deep", d.Path)
		}
		if disk == nil {
			h.files = append(h.files, path)
			return h, nil
		}
		h.disks = append(h.disks, *disk)
		if disk.BackingFile == "" {
			return h, nil
		}
		path, disk = disk.BackingFile, nil
		// A backing file that is a block device: the disk it is, or
		// whose partition it is.
		for i := range disks {
			if same(disks[i].Path, path) {
				disk = &disks[i]
				break
			}
			if _, ok := isPartition(path, &disks[i]); ok {
				disk = &disks[i]
				break
			}
		}
		if disk == nil {
			if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeDevice != 0 {
				return h, fmt.Errorf("%s: its backing device %s is not among the disks", d.Path, path)
			}
		}
	}
}

// same reports whether two paths name the same file or device node (or
// the same block device through different nodes).
func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return os.SameFile(sa, sb) || (sa.Mode()&os.ModeDevice != 0 && sb.Mode()&os.ModeDevice != 0 && rdev(sa) == rdev(sb))
}

func rdev(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Rdev
	}
	return 0
}
