package inventory

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Lookup returns the whole disk behind path, a block device node such as
// "/dev/sda", "/dev/nvme0n1p2" or a /dev/disk/by-id link: the path is
// stat'ed, its device number (st_rdev) is found in SysRoot/dev/block, and a
// partition gives its disk. ok is false, with no error, when path is not a
// block device. Unlike Scan it returns loop devices with no backing file
// and empty devices too.
func Lookup(src Source, path string) (d Disk, ok bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Disk{}, false, pathError("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return Disk{}, false, nil
	}
	s, err := newSnapshot(src)
	if err != nil {
		return Disk{}, false, err
	}
	defer s.close()
	n := devNum{unix.Major(st.Rdev), unix.Minor(st.Rdev)}
	name, found, err := s.byDevNum(n)
	if err != nil {
		return Disk{}, false, err
	}
	if !found {
		return Disk{}, false, fmt.Errorf("lookup %s: block device %s is not in %s", path, n, s.sys.display("dev/block"))
	}
	if p := s.devs[name].parent; p != "" {
		name = p
	}
	d, err = s.disk(name)
	if err != nil {
		return Disk{}, false, err
	}
	return d, true, nil
}

// DisksUnder returns the disks holding the file system on which the file or
// directory path lives, sorted by name: the file system's device number
// (st_dev) is found in SysRoot/dev/block, a partition gives its disk, and a
// dm or md device gives itself and, through slaves/, every disk beneath it.
// A loop device also gives the disks under its backing file, and an overlay
// the disks under its upper directory. A file system on an anonymous device
// (btrfs) is matched to its mountinfo line and read through its source. File
// systems with no block device (tmpfs, proc, an overlay on tmpfs) give an
// empty list and no error.
//
// The file is stat'ed on the running system, so a Source other than the
// running system's gives answers only for a capture of this same machine.
func DisksUnder(src Source, path string) ([]Disk, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, pathError("stat", path, err)
	}
	return disksUnder(src, path, st.Dev)
}

// disksUnder is DisksUnder for a file system with device number dev.
func disksUnder(src Source, path string, dev uint64) ([]Disk, error) {
	s, err := newSnapshot(src)
	if err != nil {
		return nil, err
	}
	defer s.close()
	found := map[string]bool{}
	if err := s.under(path, dev, 0, found); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Disk
	for _, n := range names {
		d, err := s.disk(n)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// under adds to out the disks under the file system with device number dev
// on which path lives.
func (s *snapshot) under(path string, dev uint64, depth int, out map[string]bool) error {
	if depth > maxStackDepth {
		return nil
	}
	n := devNum{unix.Major(dev), unix.Minor(dev)}
	var names []string
	if n.major != 0 {
		name, ok, err := s.byDevNum(n)
		if err != nil {
			return err
		}
		if ok {
			names = append(names, name)
		}
	} else if m := s.mountOf(path, n); m != nil {
		names = s.mountDevices(*m)
		if m.FSType == "overlay" {
			if up := superOption(m.SuperOptions, "upperdir"); strings.HasPrefix(up, "/") {
				var st unix.Stat_t
				if unix.Stat(up, &st) == nil {
					if err := s.under(up, st.Dev, depth+1, out); err != nil {
						return err
					}
				}
			}
		}
	}
	below := map[string]bool{}
	for _, name := range names {
		s.below(name, 0, below)
	}
	for _, name := range slices.Sorted(maps.Keys(below)) {
		if out[name] {
			continue
		}
		out[name] = true
		if !strings.HasPrefix(name, "loop") {
			continue
		}
		bf, err := s.sys.str(s.devs[name].dir + "/loop/backing_file")
		if err != nil {
			return err
		}
		bf = strings.TrimSuffix(bf, " (deleted)")
		var st unix.Stat_t
		if strings.HasPrefix(bf, "/") && unix.Stat(bf, &st) == nil {
			if err := s.under(bf, st.Dev, depth+1, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// mountOf finds the mount an anonymous device number belongs to: the last
// mountinfo line with that number, or else (a btrfs subvolume has a number
// of its own) the mount whose point is the longest prefix of path.
func (s *snapshot) mountOf(path string, n devNum) *MountInfo {
	var m *MountInfo
	for i := range s.mounts {
		if s.mounts[i].Major == n.major && s.mounts[i].Minor == n.minor {
			m = &s.mounts[i]
		}
	}
	if m != nil {
		return m
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		p = path
	}
	if p, err = filepath.Abs(p); err != nil {
		return nil
	}
	best := -1
	for i := range s.mounts {
		mp := s.mounts[i].MountPoint
		if (p == mp || mp == "/" || strings.HasPrefix(p, mp+"/")) && len(mp) >= best {
			best = len(mp)
			m = &s.mounts[i]
		}
	}
	return m
}

// superOption returns the value of key=value in a comma-separated list of
// super block options.
func superOption(opts, key string) string {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}
