package inventory

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// These tests run on the machine itself: they attach a loop device to a
// sparse file, so they need root.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to set up loop devices")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// sysInt reads a number the kernel chooses for a loop device (its physical
// sector size and rotational flag depend on the kernel and the backing file
// system), so the expected Disk can hold it.
func sysInt(t *testing.T, name, attr string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", name, attr))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newLoop attaches a loop device to a new sparse file of size bytes and
// returns the device path and the file; both go away when the test ends.
func newLoop(t *testing.T, size int64) (dev, file string) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "disk.img")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev = run(t, "losetup", "-f", "--show", file)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	})
	return dev, file
}

func loopDisk(t *testing.T, dev, file string, size int64) Disk {
	name := filepath.Base(dev)
	minor, err := strconv.Atoi(strings.TrimPrefix(name, "loop"))
	if err != nil {
		t.Fatalf("loop device %s: %v", dev, err)
	}
	return Disk{
		Name: name, Path: dev, Major: 7, Minor: uint32(minor),
		Size:               size,
		LogicalSectorSize:  512,
		PhysicalSectorSize: sysInt(t, name, "queue/physical_block_size"),
		Rotational:         sysInt(t, name, "queue/rotational") != 0,
		Transport:          "loop",
		BackingFile:        file,
	}
}

func TestLookupLive(t *testing.T) {
	needRoot(t)
	const size = 64 << 20
	dev, file := newLoop(t, size)
	want := loopDisk(t, dev, file, size)

	link := filepath.Join(t.TempDir(), "by-id-link")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dev, link} {
		got, ok, err := Lookup(DefaultSource(), p)
		if err != nil || !ok {
			t.Fatalf("Lookup(%s) = ok %v, err %v", p, ok, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Lookup(%s) (-want +got):\n%s", p, diff)
		}
		if r := got.InUse(); r != nil {
			t.Errorf("InUse of a fresh loop device = %q", r)
		}
	}

	// Scan sees the same disk.
	all, err := Scan(Source{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range all {
		if d.Name == want.Name {
			found = true
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("Scan's %s (-want +got):\n%s", want.Name, diff)
			}
		}
	}
	if !found {
		t.Errorf("Scan did not list %s", want.Name)
	}
}

func TestLookupNotBlock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/null", file, filepath.Dir(file)} {
		d, ok, err := Lookup(Source{}, p)
		if err != nil || ok || !cmp.Equal(d, Disk{}) {
			t.Errorf("Lookup(%s) = %+v, %v, %v; want not ok, no error", p, d, ok, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, ok, err := Lookup(Source{}, missing)
	if want := "stat " + missing + ": no such file or directory"; err == nil || err.Error() != want || ok {
		t.Errorf("Lookup(missing) = %v, %v; want error %q", ok, err, want)
	}
	if _, err := DisksUnder(Source{}, missing); err == nil || err.Error() != "stat "+missing+": no such file or directory" {
		t.Errorf("DisksUnder(missing) = %v", err)
	}
}

func TestDisksUnderLive(t *testing.T) {
	needRoot(t)
	for _, p := range []string{"/proc", "/proc/self/status", "/sys/block"} {
		got, err := DisksUnder(Source{}, p)
		if err != nil || len(got) != 0 {
			t.Errorf("DisksUnder(%s) = %v, %v; want none", p, got, err)
		}
	}
	shm := t.TempDir()
	run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", shm)
	t.Cleanup(func() { exec.Command("umount", shm).Run() })
	if got, err := DisksUnder(Source{}, shm); err != nil || len(got) != 0 {
		t.Errorf("DisksUnder(tmpfs) = %v, %v; want none", got, err)
	}

	const size = 32 << 20
	dev, file := newLoop(t, size)
	run(t, "mkfs.ext4", "-q", dev)
	mnt := filepath.Join(t.TempDir(), "mount point")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", dev, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	})
	loop := loopDisk(t, dev, file, size)
	loop.MountPoints = []string{mnt}
	loop.Mounts = []Mount{{Device: loop.Name, Point: mnt}}

	// The disks under the backing file, found independently: Scan's disks
	// whose device number, or a partition's, is the file's st_dev.
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	all, err := Scan(Source{})
	if err != nil {
		t.Fatal(err)
	}
	var backing []Disk
	for _, d := range all {
		if d.Major == unix.Major(st.Dev) && d.Minor == unix.Minor(st.Dev) {
			backing = append(backing, d)
		}
		for _, p := range d.Partitions {
			if p.Major == unix.Major(st.Dev) && p.Minor == unix.Minor(st.Dev) {
				backing = append(backing, d)
			}
		}
		if d.Name == loop.Name {
			if diff := cmp.Diff(loop, d); diff != "" {
				t.Errorf("Scan's %s (-want +got):\n%s", loop.Name, diff)
			}
		}
	}
	if unix.Major(st.Dev) != 0 && len(backing) != 1 {
		t.Fatalf("found %d disks for the temporary directory's device %d:%d", len(backing), unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	gotBacking, err := DisksUnder(Source{}, filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) != 0 {
		if diff := cmp.Diff(backing, gotBacking); diff != "" {
			t.Errorf("DisksUnder(%s) (-want +got):\n%s", filepath.Dir(file), diff)
		}
	}

	// A file on the loop's file system lives on the loop device and on
	// whatever holds its backing file.
	want := append([]Disk{loop}, gotBacking...)
	sortDisks(want)
	inner := filepath.Join(mnt, "image.lbimg")
	if err := os.WriteFile(inner, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{mnt, inner} {
		got, err := DisksUnder(DefaultSource(), p)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DisksUnder(%s) (-want +got):\n%s", p, diff)
		}
	}

	// Lookup of the mounted loop reports it in use.
	d, ok, err := Lookup(Source{}, dev)
	if err != nil || !ok {
		t.Fatalf("Lookup(%s) = %v, %v", dev, ok, err)
	}
	if diff := cmp.Diff([]string{"mounted at " + mnt + " (" + loop.Name + ")"}, d.InUse()); diff != "" {
		t.Errorf("InUse (-want +got):\n%s", diff)
	}
}

// The running system's root file system is on a disk marked Boot, and
// DisksUnder("/") finds exactly the disks Scan marks Boot when nothing else
// (BootDevices) marks them.
func TestRootLive(t *testing.T) {
	needRoot(t)
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) == 0 {
		t.Skip("/ is not on a block device here")
	}
	all, err := Scan(Source{})
	if err != nil {
		t.Fatal(err)
	}
	var boot []Disk
	for _, d := range all {
		if d.Boot {
			boot = append(boot, d)
		}
	}
	got, err := DisksUnder(Source{}, "/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(boot, got); diff != "" {
		t.Errorf("DisksUnder(/) against Scan's boot disks (-want +got):\n%s", diff)
	}
	if len(got) == 0 {
		t.Error("no disk under /")
	}
}

func sortDisks(ds []Disk) {
	slices.SortFunc(ds, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
}
