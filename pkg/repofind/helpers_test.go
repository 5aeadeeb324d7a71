package repofind

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const MiB = 1 << 20

// ext4File makes a sparse file holding an ext4 file system over its whole
// length (no partition table).
func ext4File(t *testing.T, name string) string {
	t.Helper()
	p := testutil.Sparse(t, name, 64*MiB)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-L", name, p)
	return p
}

// attach attaches file as a loop device (read-only with ro) and detaches it
// when the test ends.
func attach(t *testing.T, file string, ro bool) string {
	t.Helper()
	if !ro {
		return testutil.Loop(t, file, 0)
	}
	testutil.Root(t)
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-r", "-f", "--show", file))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// mountAt mounts dev at a new directory with the given options and
// unmounts it when the test ends, if it is still mounted.
func mountAt(t *testing.T, dev, opts string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{dev, dir}
	if opts != "" {
		args = append([]string{"-o", opts}, args...)
	}
	testutil.Run(t, "mount", args...)
	t.Cleanup(func() {
		if len(mountsOf(t, dev)) > 0 {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// withMounted mounts dev read-write for fn and unmounts it cleanly.
func withMounted(t *testing.T, dev string, fn func(dir string)) {
	t.Helper()
	dir := mountAt(t, dev, "")
	fn(dir)
	testutil.Run(t, "umount", dir)
}

// putRepo makes a repository in sub of the file system on dev (the root
// when sub is ""), with one image, captured from a small file.
func putRepo(t *testing.T, dev, sub string) {
	t.Helper()
	withMounted(t, dev, func(dir string) {
		r, err := repo.Create(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		src := testutil.Sparse(t, "small.img", 2*MiB)
		data := make([]byte, 256<<10)
		rand.Read(data)
		testutil.WriteAt(t, src, data, 512<<10)
		d, err := disk.Open(src, disk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := engine.Capture(context.Background(), d, r, engine.CaptureOptions{Name: "small", Tool: "repofind test"}); err != nil {
			t.Fatal(err)
		}
	})
}

// ext4Shutdown is EXT4_IOC_SHUTDOWN, _IOR('X', 125, __u32), and
// ext4GoingLogFlush its EXT4_GOING_FLAGS_LOGFLUSH: the file system stops
// as in a crash, after writing its log but before checkpointing it.
const (
	ext4Shutdown      = 0x8004587d
	ext4GoingLogFlush = 1
)

// makeDirty leaves the ext4 file system on dev as a crash would, in the
// two ways that make ext4 write to the disk on a read-only mount: a
// journal that needs replaying (a shut-down file system), and an orphan
// inode (a file deleted while open), which ext4 frees on a read-only mount
// even with "noload" unless the device itself is read-only.
func makeDirty(t *testing.T, dev string) {
	t.Helper()
	var ino uint64
	withMounted(t, dev, func(dir string) {
		p := filepath.Join(dir, "orphan")
		if err := os.WriteFile(p, bytes.Repeat([]byte("orphan\n"), 10000), 0o644); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		ino = st.Ino
	})
	withMounted(t, dev, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "late"), []byte("written just before the crash\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Syncfs(fd); err != nil {
			t.Fatal(err)
		}
		if err := unix.IoctlSetPointerInt(fd, ext4Shutdown, ext4GoingLogFlush); err != nil {
			t.Fatalf("shut down the file system on %s: %v", dev, err)
		}
	})
	n := strconv.FormatUint(ino, 10)
	for _, cmd := range []string{"unlink /orphan", "sif <" + n + "> links_count 0", "ssv last_orphan " + n} {
		testutil.Run(t, "debugfs", "-w", "-R", cmd, dev)
	}
	out := testutil.Run(t, "dumpe2fs", "-h", dev)
	if !strings.Contains(out, "needs_recovery") || !strings.Contains(out, "First orphan inode:       "+n) {
		t.Fatalf("%s is not left dirty:\n%s", dev, out)
	}
}

// checkFixtureWrites shows that the dirty file system in file makes a
// plain read-only mount with noload write to its device, on a copy; else
// the test that Scan writes nothing would prove nothing.
func checkFixtureWrites(t *testing.T, file string) {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.img")
	testutil.Copy(t, file, cp)
	dev := attach(t, cp, false)
	before := testutil.HashFile(t, dev, -1)
	dir := mountAt(t, dev, "ro,noload")
	testutil.Run(t, "umount", dir)
	if testutil.HashFile(t, dev, -1) == before {
		t.Fatal("the dirty ext4 fixture no longer makes a read-only noload mount write to the disk on this kernel; the test that Scan writes nothing would prove nothing")
	}
}

// mountsOf returns the mountinfo lines of the device at path.
func mountsOf(t *testing.T, dev string) []inventory.MountInfo {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	mi, err := readMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []inventory.MountInfo
	for _, m := range mi {
		if m.Major == unix.Major(st.Rdev) && m.Minor == unix.Minor(st.Rdev) {
			out = append(out, m)
		}
	}
	return out
}

// mountsUnder returns the mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	mi, err := readMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mi {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// roFlag reads a block device's read-only flag.
func roFlag(t *testing.T, dev string) int {
	t.Helper()
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	v, err := unix.IoctlGetInt(fd, unix.BLKROGET)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// only limits a Finder to the given devices, so that the tests leave the
// loop devices of tests running beside them alone.
func only(devs ...string) func(inventory.Disk) bool {
	return func(d inventory.Disk) bool {
		for _, p := range devs {
			if d.Path == p {
				return true
			}
		}
		return false
	}
}

// mountRoot returns a mount root for a Finder that does not exist yet.
func mountRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "mnt")
}

// closeAtEnd closes f when the test ends (a no-op when the test closed it).
func closeAtEnd(t *testing.T, f *Finder) {
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}
