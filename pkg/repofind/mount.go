package repofind

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"golang.org/x/sys/unix"
)

const (
	// roFlags mount a file system to look at it.
	roFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	// rwFlags mount a file system to capture into it.
	rwFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// readFilesystems reads the kernel's file-system types, as in
// /proc/filesystems, leaving out those marked "nodev" (they need no
// device).
func readFilesystems(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	types, err := parseFilesystems(io.LimitReader(fh, maxTable))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return types, nil
}

// parseFilesystems parses /proc/filesystems: one type a line, after an
// optional "nodev" and a tab.
func parseFilesystems(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1:
			out = append(out, f[0])
		case len(f) == 2 && f[0] == "nodev", len(f) == 0:
		default:
			return nil, fmt.Errorf("malformed line %q", sc.Text())
		}
	}
	return out, sc.Err()
}

// mountTypes turns the kernel's list into the types to try, in order:
// fuseblk goes (it needs a daemon), and so do ext2 and ext3 when ext4 is
// there, as ext4 mounts them and takes "noload".
func mountTypes(types []string) []string {
	ext4 := slices.Contains(types, "ext4")
	var out []string
	for _, t := range types {
		switch {
		case t == "fuseblk":
		case ext4 && (t == "ext2" || t == "ext3"):
		case slices.Contains(out, t):
		default:
			out = append(out, t)
		}
	}
	return out
}

// readOnlyData returns the mount data that keep a read-only mount of
// fstype from replaying a journal or log, in the order to try them (an old
// kernel knows only the second spelling for btrfs).
func readOnlyData(fstype string) []string {
	switch fstype {
	case "ext3", "ext4":
		return []string{"noload"}
	case "xfs":
		return []string{"norecovery"}
	case "btrfs":
		return []string{"rescue=nologreplay", "nologreplay"}
	}
	return []string{""}
}

// notThisType reports whether a mount error just says the device does not
// hold a file system of the type tried.
func notThisType(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOTBLK)
}

// mountAny mounts dev read-only at dir with the first type that takes it
// and returns that type. When none does, it returns "" with the reason
// and, when some type failed for another cause than not recognising the
// device (a read error, a damaged superblock), those errors.
func (mt mounter) mountAny(dev, dir string, types []string) (fstype, reason string, err error) {
	var errs []error
	for _, t := range types {
		err := mt.mountRO(dev, dir, t, unix.MS_SILENT)
		if err == nil {
			return t, "", nil
		}
		if errors.Is(err, unix.EBUSY) {
			return "", "in use by another program", nil
		}
		if !notThisType(err) {
			errs = append(errs, fmt.Errorf("mount %s read-only as %s: %w", dev, t, err))
		}
	}
	if len(errs) > 0 {
		return "", "no file system could be mounted", errors.Join(errs...)
	}
	return "", "no file system this system can mount", nil
}

// makeReadOnly opens the device exclusively, which fails while anything
// else holds it, checks that the node is the device meant, and sets its
// read-only flag unless it is read-only already. A non-empty reason says
// why the device is not looked at.
func makeReadOnly(c candidate) (setRO, wasRO bool, reason string, err error) {
	fd, err := unix.Open(c.path, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
			return false, false, "no device node " + c.path, nil
		case errors.Is(err, unix.EBUSY):
			return false, false, "in use by another program", nil
		case errors.Is(err, unix.ENOMEDIUM):
			return false, false, "no medium", nil
		}
		return false, false, "could not be opened", fmt.Errorf("open %s: %w", c.path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, false, "could not be opened", fmt.Errorf("stat %s: %w", c.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(st.Rdev) != c.major || unix.Minor(st.Rdev) != c.minor {
		return false, false, fmt.Sprintf("%s is not device %d:%d", c.path, c.major, c.minor), nil
	}
	ro, err := unix.IoctlGetInt(fd, unix.BLKROGET)
	if err != nil {
		return false, false, "could not be made read-only to look at it", fmt.Errorf("read the read-only flag of %s: %w", c.path, err)
	}
	if ro != 0 {
		return false, true, "", nil
	}
	if err := unix.IoctlSetPointerInt(fd, unix.BLKROSET, 1); err != nil {
		return false, false, "could not be made read-only to look at it", fmt.Errorf("set %s read-only: %w", c.path, err)
	}
	return true, false, "", nil
}

// setReadOnly sets or clears a block device's read-only flag.
func setReadOnly(dev string, on bool) error {
	what := "clear the read-only flag of"
	v := 0
	if on {
		what, v = "set read-only", 1
	}
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, dev, err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetPointerInt(fd, unix.BLKROSET, v); err != nil {
		return fmt.Errorf("%s %s: %w", what, dev, err)
	}
	return nil
}

// kernelTypes maps the formats fsprobe recognises to the kernel file
// systems that mount them; "" for formats that hold no mountable file
// system (swap, encrypted or LVM volumes).
var kernelTypes = map[string]string{
	"ext2": "ext4", "ext3": "ext4", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs",
	"vfat": "vfat", "exfat": "exfat", "ntfs": "ntfs3", "iso9660": "iso9660", "squashfs": "squashfs",
	"swap": "", "crypto_LUKS": "", "BitLocker": "", "LVM2_member": "",
}

// autoload are the file systems whose modules the rescue environment
// ships: those it loads at boot, and XFS and btrfs, which it leaves to
// the first mount of one (they are large). A mount as one of them is
// tried even before its module is in (the kernel then loads it through
// modprobe), so that a repository on a disk that comes up first is not
// missed. Others are tried only when the kernel has them, so that no scan
// runs modprobe for a driver that is not there (the kernel's NTFS drivers
// in the rescue environment, which mounts NTFS with ntfs-3g).
var autoload = map[string]bool{"ext4": true, "vfat": true, "exfat": true, "iso9660": true, "squashfs": true, "xfs": true, "btrfs": true}

// probeTypes returns the types to try mounting dev with. When its format
// is recognised, that is the one type that mounts it (see autoload), or
// for NTFS ntfs-3g when types has it, then the kernel's drivers; when
// the device holds a format that is no file system (swap, LUKS, LVM),
// none. Otherwise the kernel's types fsprobe does not know: a blank disk
// is then not offered to each file system in turn, which would fill the
// kernel log with their complaints. When the device cannot be read, every
// type is tried, for the mount to report the error.
func probeTypes(dev string, size int64, types []string) []string {
	f, err := os.Open(dev)
	if err != nil {
		return types
	}
	defer f.Close()
	info, err := fsprobe.Probe(f, size)
	if err != nil {
		return types
	}
	if info.Type != "" {
		t, ok := kernelTypes[info.Type]
		if !ok {
			return types
		}
		var out []string
		cands := []string{t}
		if t == "ntfs3" {
			cands = []string{ntfs3g, "ntfs3", "ntfs"} // ntfs is older kernels' driver
		}
		for _, c := range cands {
			if c != "" && (autoload[c] || slices.Contains(types, c)) {
				out = append(out, c)
			}
		}
		return out
	}
	known := map[string]bool{}
	for _, t := range kernelTypes {
		known[t] = true
	}
	known["ext2"], known["ext3"], known["ntfs"], known["msdos"], known[ntfs3g] = true, true, true, true, true
	var out []string
	for _, t := range types {
		if !known[t] {
			out = append(out, t)
		}
	}
	return out
}
