package safety

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"golang.org/x/sys/unix"
)

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Device is what the checks found out about a path.
type Device struct {
	Path string
	// Disk is set when the path is a block device.
	Disk *inventory.Disk
	// Exists is false for a regular file that does not exist yet.
	Exists bool
}

// Describe is a one-line description: path, model, serial, size.
func (d Device) Describe() string {
	if d.Disk == nil {
		return d.Path
	}
	k := d.Disk
	var parts []string
	for _, s := range []string{k.Vendor, k.Model} {
		if s != "" && s != "ATA" && !strings.HasPrefix(s, "0x") {
			parts = append(parts, s)
		}
	}
	if k.Serial != "" {
		parts = append(parts, "serial "+k.Serial)
	}
	if k.WWN != "" {
		parts = append(parts, "WWN "+k.WWN)
	}
	if k.Transport != "" {
		parts = append(parts, k.Transport)
	}
	if len(parts) == 0 {
		return d.Path
	}
	return d.Path + " (" + strings.Join(parts, ", ") + ")"
}

func resolve(src inventory.Source, path string) (Device, error) {
	dev := Device{Path: path}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return dev, nil
	}
	if err != nil {
		return dev, fmt.Errorf("check %s: %w", path, err)
	}
	dev.Exists = true
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return dev, nil
	}
	d, ok, err := inventory.Lookup(src, path)
	if err != nil {
		return dev, fmt.Errorf("check %s: %w", path, err)
	}
	if !ok {
		return dev, fmt.Errorf("check %s: not a block device known to the kernel", path)
	}
	dev.Disk = &d
	return dev, nil
}

// isPartition reports whether path names a partition of d rather than d:
// by its device number, as a node need not bear the kernel's name, or else
// by name.
func isPartition(path string, d *inventory.Disk) (string, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		for _, p := range d.Partitions {
			if p.Major == unix.Major(st.Rdev) && p.Minor == unix.Minor(st.Rdev) {
				return p.Name, true
			}
		}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	for _, p := range d.Partitions {
		if filepath.Base(real) == p.Name {
			return p.Name, true
		}
	}
	return "", false
}

// onDisk reports whether the directory dir lives on disk d. A directory
// that does not exist yet is judged by its nearest existing parent, where
// it would be created.
func onDisk(src inventory.Source, dir string, d *inventory.Disk) (bool, error) {
	if dir == "" || remote(dir) {
		return false, nil // no repository, or one on another machine
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	disks, err := inventory.DisksUnder(src, dir)
	if err != nil {
		return false, err
	}
	for _, u := range disks {
		if u.Name == d.Name {
			return true, nil
		}
	}
	return false, nil
}

// CheckRestoreTarget decides whether a restore may write to target, with
// images from the repository in repoDir.
func CheckRestoreTarget(src inventory.Source, target, repoDir string) (Device, error) {
	dev, err := resolve(src, target)
	if err != nil {
		return dev, err
	}
	if dev.Disk == nil {
		if inside(target, repoDir) {
			return dev, refuse("%s is inside the repository %s; restore to a disk or to a file elsewhere", target, repoDir)
		}
		return dev, nil
	}
	d := dev.Disk
	if name, ok := isPartition(target, d); ok {
		return dev, refuse("%s is partition %s of %s; an image restores onto a whole disk, give %s", target, name, d.Path, d.Path)
	}
	if d.Boot {
		return dev, refuse("%s is the disk the running system booted from", dev.Describe())
	}
	if reasons := d.InUse(); len(reasons) > 0 {
		return dev, refuse("%s is in use: %s; unmount it (and stop swap, LVM or RAID on it) first", dev.Describe(), strings.Join(reasons, "; "))
	}
	if on, err := onDisk(src, repoDir, d); err != nil {
		return dev, fmt.Errorf("check where the repository %s lives: %w", repoDir, err)
	} else if on {
		return dev, refuse("the repository %s is on %s; restoring onto it would overwrite the image being read", repoDir, dev.Describe())
	}
	return dev, nil
}

// CheckCaptureSource decides whether a capture may read source into the
// repository in repoDir. It returns warnings to record in the image when
// allowMounted lets a mounted disk through.
func CheckCaptureSource(src inventory.Source, source, repoDir string, allowMounted bool) (Device, []string, error) {
	dev, err := resolve(src, source)
	if err != nil {
		return dev, nil, err
	}
	if !dev.Exists {
		return dev, nil, fmt.Errorf("capture source %s does not exist", source)
	}
	if dev.Disk == nil {
		if inside(source, repoDir) {
			return dev, nil, refuse("%s is inside the repository %s", source, repoDir)
		}
		return dev, nil, nil
	}
	d := dev.Disk
	if on, err := onDisk(src, repoDir, d); err != nil {
		return dev, nil, fmt.Errorf("check where the repository %s lives: %w", repoDir, err)
	} else if on {
		return dev, nil, refuse("the repository %s is on %s, the disk being captured; put the repository on another disk", repoDir, dev.Describe())
	}
	var warnings []string
	if len(d.MountPoints) > 0 {
		if !allowMounted {
			return dev, nil, refuse("%s is mounted (%s); an image of a file system in use is not consistent. Unmount it, or pass --allow-mounted to capture anyway", dev.Describe(), strings.Join(d.MountPoints, ", "))
		}
		warnings = append(warnings, fmt.Sprintf("captured while mounted at %s: file systems may be inconsistent", strings.Join(d.MountPoints, ", ")))
	}
	return dev, warnings, nil
}

// remote reports whether a repository location is a URL: it lives on no
// disk of this machine.
func remote(loc string) bool { return strings.Contains(loc, "://") }

// inside reports whether path is dir or below it: as named (its directory
// resolved), or, when it exists, where its links lead, so that a link to a
// file in the repository counts as inside it.
func inside(path, dir string) bool {
	if dir == "" || remote(dir) {
		return false
	}
	a, err1 := filepath.Abs(path)
	b, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	if rb, err := filepath.EvalSymlinks(b); err == nil {
		b = rb
	}
	in := func(a string) bool {
		rel, err := filepath.Rel(b, a)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	if ra, err := filepath.EvalSymlinks(a); err == nil && in(ra) {
		return true
	}
	if ra, err := filepath.EvalSymlinks(filepath.Dir(a)); err == nil {
		a = filepath.Join(ra, filepath.Base(a))
	}
	return in(a)
}
