package safety

import (
	"fmt"
	"os"
	"path/filepath"
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

// apart refuses a target that is, holds or lives on the source.
func apart(src inventory.Source, from, to Device) error {
	if same(from.Path, to.Path) {
		return refuse("%s is the source; a disk cannot be cloned onto itself", to.Path)
	}
	switch a, b := from.Disk, to.Disk; {
	case a != nil && b != nil:
		if a.Name == b.Name {
			return refuse("%s and %s are the same disk; a disk cannot be cloned onto itself", from.Path, to.Path)
		}
		if a.BackingFile != "" && b.BackingFile != "" && same(a.BackingFile, b.BackingFile) {
			return refuse("%s and %s are loop devices over the same file %s", from.Path, to.Path, a.BackingFile)
		}
	case a != nil:
		// The target is a file: not the source loop device's file, nor a
		// file on the disk being read.
		if a.BackingFile != "" && same(a.BackingFile, to.Path) {
			return refuse("%s is the file behind the source %s", to.Path, from.Describe())
		}
		if on, err := onDisk(src, filepath.Dir(to.Path), a); err != nil {
			return fmt.Errorf("check where %s lives: %w", to.Path, err)
		} else if on {
			return refuse("%s is on %s, the disk being cloned; write the copy to another disk", to.Path, from.Describe())
		}
	case b != nil:
		// The source is a file: not behind the target loop device, nor on
		// the target disk.
		if b.BackingFile != "" && same(b.BackingFile, from.Path) {
			return refuse("%s is a loop device over the source %s", to.Describe(), from.Path)
		}
		if on, err := onDisk(src, filepath.Dir(from.Path), b); err != nil {
			return fmt.Errorf("check where %s lives: %w", from.Path, err)
		} else if on {
			return refuse("the source %s is on %s; cloning onto it would overwrite the disk being read", from.Path, to.Describe())
		}
	}
	return nil
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
