package fsresize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Growable says how a file system of type fs (blkid's names) is grown,
// or, when it is not, why (how is then empty).
func Growable(fs string) (how, why string) {
	switch fs {
	case "ext2", "ext3", "ext4":
		return "resize2fs", ""
	case "ntfs":
		return "ntfsresize", ""
	case "swap":
		return "a new swap header", ""
	case "xfs":
		return "xfs_growfs (mounted)", ""
	case "btrfs":
		if !btrfsHere() {
			return "", "btrfs-progs or the kernel's btrfs are not available here; grow it after booting with btrfs filesystem resize max /"
		}
		return "btrfs filesystem resize max, mounted, when no other disk holds a btrfs with its UUID", ""
	case "vfat":
		return "", "FAT grows while it is restored (package layout), not after"
	case "exfat":
		return "", "exFAT grows while it is restored (package layout), not after"
	case "":
		return "", "no file system recognised"
	}
	return "", "Lifeboat does not resize " + fs
}

// Grow grows the file system of type fs on dev, a block device holding
// exactly the partition, to fill it.
func Grow(ctx context.Context, dev, fs string) (string, error) {
	if _, why := Growable(fs); why != "" {
		return "", fmt.Errorf("cannot grow %s: %s", fs, why)
	}
	switch fs {
	case "ext2", "ext3", "ext4":
		// resize2fs wants a freshly checked file system; -p repairs only
		// what is safe and fails otherwise.
		if out, err := run(ctx, "e2fsck", "-f", "-p", dev); err != nil && !fixedOrClean(err) {
			return "", fmt.Errorf("e2fsck -f -p %s before growing: %w: %s", dev, err, out)
		}
		if out, err := run(ctx, "resize2fs", dev); err != nil {
			return "", fmt.Errorf("resize2fs %s: %w: %s", dev, err, out)
		}
		if out, err := run(ctx, "e2fsck", "-f", "-n", dev); err != nil {
			return "", fmt.Errorf("e2fsck -f -n %s after growing: %w: %s", dev, err, out)
		}
		return "with resize2fs; e2fsck finds it clean", nil
	case "ntfs":
		if out, err := run(ctx, "ntfsresize", "--force", "--no-progress-bar", dev); err != nil {
			return "", fmt.Errorf("ntfsresize %s: %w: %s", dev, err, out)
		}
		return "with ntfsresize (Windows runs chkdsk once at its next start)", nil
	case "swap":
		return growSwap(dev)
	case "xfs":
		return growMounted(ctx, dev, fs, "", "xfs_growfs", "xfs_growfs")
	case "btrfs":
		// The kernel finds a btrfs's devices by its UUID: with another
		// disk holding the same (the copy's source), mounting the copy
		// could write to that disk.
		if other, err := btrfsTwin(dev); err != nil {
			return "", err
		} else if other != "" {
			return "", fmt.Errorf("%s also holds a btrfs with this UUID, and mounting the copy could reach it; detach it, or grow the copy after booting with btrfs filesystem resize max /", other)
		}
		devid, n := btrfsDevice(dev)
		if n != 1 {
			return "", fmt.Errorf("a btrfs of %d devices is not grown; grow it after booting with btrfs filesystem resize", n)
		}
		arg := fmt.Sprintf("%d:max", devid)
		return growMounted(ctx, dev, fs, "device="+dev, "btrfs filesystem resize "+arg, "btrfs", "filesystem", "resize", arg)
	}
	return "", fmt.Errorf("cannot grow %s", fs)
}

// btrfsHere reports whether btrfs can be mounted and resized here.
func btrfsHere() bool {
	if _, err := exec.LookPath("btrfs"); err != nil {
		return false
	}
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\tbtrfs\n") {
		return true
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
		if _, err := os.Stat(filepath.Join("/lib/modules", rel, "kernel/fs/btrfs/btrfs.ko"+ext)); err == nil {
			return true
		}
	}
	return false
}

// btrfsDevice reads a btrfs superblock's own device id and the file
// system's device count.
func btrfsDevice(dev string) (devid uint64, devices uint64) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	b := make([]byte, 0xD1)
	if _, err := f.ReadAt(b, 64<<10); err != nil {
		return 0, 0
	}
	le := binary.LittleEndian
	return le.Uint64(b[0xC9:0xD1]), le.Uint64(b[0x88:0x90])
}

// btrfsFSID reads the btrfs UUID of the device at path ("" when it holds
// no btrfs).
func btrfsFSID(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 0x48)
	if _, err := f.ReadAt(b, 64<<10); err != nil || string(b[0x40:0x48]) != "_BHRfS_M" {
		return ""
	}
	return string(b[0x20:0x30])
}

// btrfsTwin finds another block device holding a btrfs with dev's UUID.
func btrfsTwin(dev string) (string, error) {
	id := btrfsFSID(dev)
	if id == "" {
		return "", fmt.Errorf("%s holds no btrfs superblock", dev)
	}
	self, err := os.Stat(dev)
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return "", err
	}
	// The disk a loop device reads from (the restore's target) and its
	// partitions, whose kernel view may still be the table from before.
	backing := ""
	if b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(dev), "loop/backing_file")); err == nil {
		if p := strings.TrimSpace(string(b)); strings.HasPrefix(p, "/dev/") {
			backing = filepath.Base(p)
		}
	}
	for _, e := range ents {
		p := "/dev/" + e.Name()
		if st, err := os.Stat(p); err != nil || os.SameFile(st, self) {
			continue
		}
		if backing != "" {
			real, _ := filepath.EvalSymlinks(filepath.Join("/sys/class/block", e.Name()))
			if e.Name() == backing || filepath.Base(filepath.Dir(real)) == backing {
				continue
			}
		}
		if sz, err := os.ReadFile(filepath.Join("/sys/class/block", e.Name(), "size")); err == nil && strings.TrimSpace(string(sz)) == "0" {
			continue // no medium
		}
		if btrfsFSID(p) == id {
			return p, nil
		}
	}
	return "", nil
}

// run runs a tool and returns its output, the last lines of it when long.
func run(ctx context.Context, name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", fmt.Errorf("%s is not available here: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return tail(string(out), 6), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// fixedOrClean says e2fsck -p exited 0 (clean) or 1 (errors fixed).
func fixedOrClean(err error) bool {
	c := exitCode(err)
	return c == 0 || c == 1
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// growMounted mounts dev (with options opts) on a temporary directory,
// runs the tool with the mount point as its last argument, and unmounts.
func growMounted(ctx context.Context, dev, fs, opts, what string, tool ...string) (string, error) {
	dir, err := os.MkdirTemp("", "lifeboat-grow-")
	if err != nil {
		return "", err
	}
	defer os.Remove(dir)
	if err := unix.Mount(dev, dir, fs, 0, opts); err != nil {
		return "", fmt.Errorf("mount %s (%s) to grow it: %w; grow it with %s after booting", dev, fs, err, what)
	}
	out, rerr := run(ctx, tool[0], append(tool[1:], dir)...)
	uerr := unix.Unmount(dir, 0)
	if rerr != nil {
		return "", fmt.Errorf("%s on %s: %w: %s", what, dev, rerr, out)
	}
	if uerr != nil {
		return "", fmt.Errorf("unmount %s after growing: %w", dir, uerr)
	}
	return "with " + what, nil
}

// Shrink shrinks the file system of type fs on dev (ext2/3/4 or NTFS)
// to size bytes. dev holds the whole file system, which is larger.
func Shrink(ctx context.Context, dev, fs string, size int64) (string, error) {
	switch fs {
	case "ext2", "ext3", "ext4":
		if out, err := run(ctx, "e2fsck", "-f", "-p", dev); err != nil && !fixedOrClean(err) {
			return "", fmt.Errorf("e2fsck -f -p %s before shrinking: %w: %s", dev, err, out)
		}
		if need, err := extMinimum(ctx, dev); err != nil {
			return "", err
		} else if need > size {
			return "", fmt.Errorf("resize2fs -P says the file system cannot be made smaller than %d bytes; the partition has %d", need, size)
		}
		if out, err := run(ctx, "resize2fs", dev, fmt.Sprintf("%dK", size/1024)); err != nil {
			return "", fmt.Errorf("resize2fs %s %dK: %w: %s", dev, size/1024, err, out)
		}
		if out, err := run(ctx, "e2fsck", "-f", "-n", dev); err != nil {
			return "", fmt.Errorf("e2fsck -f -n %s after shrinking: %w: %s", dev, err, out)
		}
		if err := fitsIn(dev, fs, size); err != nil {
			return "", err
		}
		return "with resize2fs; e2fsck finds it clean", nil
	case "ntfs":
		out, err := run(ctx, "ntfsresize", "--info", "--force", "--no-progress-bar", dev)
		if err != nil {
			return "", fmt.Errorf("ntfsresize --info %s: %w: %s", dev, err, out)
		}
		if m := regexp.MustCompile(`resize at (\d+) bytes`).FindStringSubmatch(out); m != nil {
			if need, _ := strconv.ParseInt(m[1], 10, 64); need > size {
				return "", fmt.Errorf("ntfsresize says the volume cannot be made smaller than %d bytes; the partition has %d", need, size)
			}
		}
		if out, err := run(ctx, "ntfsresize", "--force", "--no-progress-bar", "--size", fmt.Sprint(size), dev); err != nil {
			return "", fmt.Errorf("ntfsresize --size %d %s: %w: %s", size, dev, err, out)
		} else if err := fitsIn(dev, fs, size); err != nil {
			return "", fmt.Errorf("%w (ntfsresize said: %s)", err, out)
		}
		return "with ntfsresize (Windows runs chkdsk once at its next start)", nil
	}
	return "", fmt.Errorf("cannot shrink %s", fs)
}

// fitsIn checks that the file system on dev now says it is at most size
// bytes: a tool that stopped without an error (a question with nobody to
// answer it) must not pass for a shrink.
func fitsIn(dev, fs string, size int64) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 2048)
	if _, err := f.ReadAt(b, 0); err != nil {
		return fmt.Errorf("read %s after shrinking: %w", dev, err)
	}
	le := binary.LittleEndian
	var n int64
	switch fs {
	case "ntfs":
		n = int64(le.Uint64(b[40:48])) * int64(le.Uint16(b[11:13]))
	default:
		sb := b[1024:]
		blocks := int64(le.Uint32(sb[4:8]))
		if le.Uint32(sb[96:100])&0x80 != 0 {
			blocks |= int64(le.Uint32(sb[0x150:0x154])) << 32
		}
		n = blocks * (1024 << min(le.Uint32(sb[24:28]), 6))
	}
	if n > size {
		return fmt.Errorf("%s on %s is still %d bytes after shrinking, more than its partition's %d", fs, dev, n, size)
	}
	return nil
}

// extMinimum asks resize2fs -P for the smallest size of the ext file
// system on dev, in bytes.
func extMinimum(ctx context.Context, dev string) (int64, error) {
	out, err := run(ctx, "resize2fs", "-P", dev)
	if err != nil {
		return 0, fmt.Errorf("resize2fs -P %s: %w: %s", dev, err, out)
	}
	blocks, err := parseMinimum(out)
	if err != nil {
		return 0, fmt.Errorf("resize2fs -P %s: %w", dev, err)
	}
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, fmt.Errorf("read the superblock of %s: %w", dev, err)
	}
	return blocks * (1024 << binary.LittleEndian.Uint32(sb[24:28])), nil
}

// parseMinimum reads the block count resize2fs -P prints.
func parseMinimum(out string) (int64, error) {
	const key = "minimum size of the filesystem:"
	i := strings.Index(out, key)
	if i < 0 {
		return 0, fmt.Errorf("no estimate in %q", out)
	}
	num := strings.TrimSpace(out[i+len(key):])
	if j := strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
		num = num[:j]
	}
	return strconv.ParseInt(num, 10, 64)
}

// ExtMinimum asks resize2fs -P how small the ext2/3/4 file system of size
// bytes that r holds (an image's partition) can be made, in bytes.
// resize2fs reads only the superblock and the group descriptors for that,
// so those alone are copied into a sparse scratch file of the file
// system's size (in dir, "" for the system's temporary directory). File
// systems with meta_bg, whose descriptors are spread over the disk, are
// not handled.
func ExtMinimum(ctx context.Context, r io.ReaderAt, size int64, dir string) (int64, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err != nil {
		return 0, fmt.Errorf("read the ext superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[56:58]) != 0xEF53 {
		return 0, errors.New("no ext superblock")
	}
	logBS := le.Uint32(sb[24:28])
	incompat := le.Uint32(sb[96:100])
	if logBS > 6 || incompat&0x10 != 0 {
		return 0, errors.New("block size out of range, or meta_bg")
	}
	bs := int64(1024) << logBS
	blocks := int64(le.Uint32(sb[4:8]))
	descSize := int64(32)
	if incompat&0x80 != 0 {
		blocks |= int64(le.Uint32(sb[0x150:0x154])) << 32
		if d := int64(le.Uint16(sb[0xFE:0x100])); d >= 32 {
			descSize = d
		}
	}
	first, bpg := int64(le.Uint32(sb[20:24])), int64(le.Uint32(sb[32:36]))
	if bpg == 0 || blocks == 0 || blocks*bs > size {
		return 0, errors.New("superblock fields out of range")
	}
	groups := (blocks - first + bpg - 1) / bpg
	head := (first + 1 + (groups*descSize+bs-1)/bs) * bs
	if head > 64<<20 {
		return 0, fmt.Errorf("group descriptors of %d bytes", head)
	}
	buf := make([]byte, head)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return 0, fmt.Errorf("read the ext group descriptors: %w", err)
	}
	f, err := os.CreateTemp(dir, "lifeboat-extmin-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		return 0, err
	}
	out, err := run(ctx, "resize2fs", "-P", f.Name())
	if err != nil {
		return 0, fmt.Errorf("resize2fs -P: %w: %s", err, out)
	}
	n, err := parseMinimum(out)
	if err != nil {
		return 0, fmt.Errorf("resize2fs -P: %w", err)
	}
	return n * bs, nil
}

// growSwap rewrites a Linux swap header's last-page field for the
// device's size.
func growSwap(dev string) (string, error) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, 2)
	if err != nil {
		return "", fmt.Errorf("size of %s: %w", dev, err)
	}
	hdr := make([]byte, 65536)
	n, _ := f.ReadAt(hdr, 0)
	hdr = hdr[:n]
	page := 0
	for _, ps := range []int{4096, 8192, 16384, 65536} {
		if ps <= len(hdr) && bytes.Equal(hdr[ps-10:ps], []byte("SWAPSPACE2")) {
			page = ps
			break
		}
	}
	if page == 0 {
		return "", fmt.Errorf("%s: no swap header (SWAPSPACE2) found", dev)
	}
	le := binary.LittleEndian
	if v := le.Uint32(hdr[1024:1028]); v != 1 {
		return "", fmt.Errorf("%s: swap header version %d, not 1", dev, v)
	}
	last := size/int64(page) - 1
	if last > 0xFFFFFFFF {
		last = 0xFFFFFFFF
	}
	old := le.Uint32(hdr[1028:1032])
	if int64(old) == last {
		return "swap area already fills the partition", nil
	}
	b := make([]byte, 4)
	le.PutUint32(b, uint32(last))
	if _, err := f.WriteAt(b, 1028); err != nil {
		return "", fmt.Errorf("write swap header of %s: %w", dev, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", dev, err)
	}
	return fmt.Sprintf("with a new swap header (%d pages, was %d)", last+1, old+1), nil
}

// SetExtUUID gives the ext2/3/4 file system on dev a new UUID with
// tune2fs (after e2fsck -f -p, which tune2fs wants for a file system with
// metadata checksums, all of which it then rewrites).
func SetExtUUID(ctx context.Context, dev, uuid string) error {
	if out, err := run(ctx, "e2fsck", "-f", "-p", dev); err != nil && !fixedOrClean(err) {
		return fmt.Errorf("e2fsck -f -p %s: %w: %s", dev, err, out)
	}
	if out, err := run(ctx, "tune2fs", "-U", uuid, dev); err != nil {
		return fmt.Errorf("tune2fs -U %s %s: %w: %s", uuid, dev, err, out)
	}
	return nil
}
