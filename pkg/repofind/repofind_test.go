package repofind

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestScan attaches four loop devices, each a whole-device file system or
// none: a crashed ext4 with a repository in lifeboat/, a crashed ext4
// without one, an ext4 with a repository at its root that the test has
// mounted, and one of random bytes. Scan must find the two repositories,
// leave the others unmounted, and write not one byte to the devices it
// looked at.
func TestScan(t *testing.T) {
	testutil.Root(t)
	fileA := ext4File(t, "a.img")
	a := attach(t, fileA, false)
	putRepo(t, a, "lifeboat")
	makeDirty(t, a)
	checkFixtureWrites(t, fileA)

	b := attach(t, ext4File(t, "b.img"), false)
	makeDirty(t, b)

	c := attach(t, ext4File(t, "c.img"), false)
	putRepo(t, c, "")
	cDir := mountAt(t, c, "")

	fileD := testutil.Sparse(t, "d.img", 8*MiB)
	junk := make([]byte, 1*MiB)
	for i := range junk {
		junk[i] = byte(i*7 + i>>9)
	}
	testutil.WriteAt(t, fileD, junk, 0)
	d := attach(t, fileD, false)

	untouched := []string{a, b, d}
	before := map[string]string{}
	for _, dev := range untouched {
		before[dev] = testutil.HashFile(t, dev, -1)
	}

	root := mountRoot(t)
	f := &Finder{MountRoot: root, Filter: only(a, b, c, d)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 2 {
		t.Fatalf("found %d repositories, want 2: %+v (skipped %+v)", len(res.Found), res.Found, res.Skipped)
	}
	// Loop device numbers are handed out by the kernel, lowest free first,
	// and other tests take and free them meanwhile: order by the test's
	// own devices.
	order := map[string]int{a: 0, b: 1, c: 2, d: 3}
	slices.SortFunc(res.Found, func(x, y Found) int { return order[x.Device] - order[y.Device] })
	slices.SortFunc(res.Skipped, func(x, y Skipped) int { return order[x.Device] - order[y.Device] })
	mpA := res.Found[0].MountPoint
	if want := root + "/" + filepath.Base(a) + "-"; !strings.HasPrefix(mpA, want) {
		t.Errorf("%s mounted at %s, want a new directory %s*", a, mpA, want)
	}
	wantFound := []Found{
		{Dir: mpA + "/lifeboat", Device: a, Disk: filepath.Base(a), FSType: "ext4", MountPoint: mpA,
			MountedByUs: true, ReadOnly: true, Images: 1},
		{Dir: cDir, Device: c, Disk: filepath.Base(c), FSType: "ext4", MountPoint: cDir, Images: 1},
	}
	if diff := cmp.Diff(wantFound, res.Found, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	wantSkipped := []Skipped{
		{Device: b, Disk: filepath.Base(b), Reason: "no Lifeboat repository on its ext4 file system"},
		{Device: d, Disk: filepath.Base(d), Reason: "no file system this system can mount"},
	}
	if diff := cmp.Diff(wantSkipped, res.Skipped, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}

	// a stays mounted read-only, on a device made read-only; b and d are
	// neither mounted nor left read-only.
	if ms := mountsOf(t, a); len(ms) != 1 || ms[0].MountPoint != mpA || !hasOption(ms[0].Options, "ro") {
		t.Errorf("%s mounts: %+v, want one, read-only, at %s", a, ms, mpA)
	}
	if roFlag(t, a) != 1 {
		t.Errorf("%s is not read-only while mounted to look", a)
	}
	for _, dev := range []string{b, d} {
		if ms := mountsOf(t, dev); len(ms) != 0 {
			t.Errorf("%s left mounted: %+v", dev, ms)
		}
		if roFlag(t, dev) != 0 {
			t.Errorf("%s left read-only", dev)
		}
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 1 {
		t.Errorf("mount root holds %v (%v), want only the mount point of %s", ents, err, a)
	}
	// The repository is readable as it is.
	r, err := repo.Open(res.Found[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadManifest("small"); err != nil {
		t.Errorf("read the image on %s: %v", a, err)
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := mountsOf(t, a); len(ms) != 0 {
		t.Errorf("%s still mounted after Close: %+v", a, ms)
	}
	if roFlag(t, a) != 0 {
		t.Errorf("%s left read-only after Close", a)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount root %s left behind: %v", root, err)
	}
	if ms := mountsOf(t, c); len(ms) != 1 || ms[0].MountPoint != cDir {
		t.Errorf("%s, mounted by the test, now has mounts %+v", c, ms)
	}
	for _, dev := range untouched {
		if h := testutil.HashFile(t, dev, -1); h != before[dev] {
			t.Errorf("%s changed while Scan looked at it", dev)
		}
	}
	if _, err := f.Scan(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
}

// TestMakeWritable captures into a repository found read-only.
func TestMakeWritable(t *testing.T) {
	testutil.Root(t)
	a := attach(t, ext4File(t, "a.img"), false)
	putRepo(t, a, "lifeboat")
	makeDirty(t, a)

	f := &Finder{MountRoot: mountRoot(t), Filter: only(a)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 1 {
		t.Fatalf("found %+v, skipped %+v: want one repository", res.Found, res.Skipped)
	}
	fd := res.Found[0]
	if err := os.WriteFile(filepath.Join(fd.Dir, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write before MakeWritable: %v, want EROFS", err)
	}
	if err := f.MakeWritable(&fd); err != nil {
		t.Fatal(err)
	}
	if fd.ReadOnly {
		t.Error("ReadOnly still set after MakeWritable")
	}
	if ms := mountsOf(t, a); len(ms) != 1 || ms[0].MountPoint != fd.MountPoint || hasOption(ms[0].Options, "ro") {
		t.Fatalf("%s mounts after MakeWritable: %+v, want one, read-write, at %s", a, ms, fd.MountPoint)
	}
	if err := os.WriteFile(filepath.Join(fd.Dir, "written"), []byte("captured"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The journal was replayed by the read-write mount: the file written
	// just before the crash is there.
	if b, err := os.ReadFile(filepath.Join(fd.MountPoint, "late")); err != nil || string(b) != "written just before the crash\n" {
		t.Errorf("late file after the read-write mount: %q, %v", b, err)
	}
	if err := f.MakeWritable(&fd); err != nil {
		t.Errorf("MakeWritable again: %v", err)
	}
	// A rescan sees the same mount, still ours and now read-write.
	res2, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Found{fd}, res2.Found, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("rescan (-want +got):\n%s", diff)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := mountsOf(t, a); len(ms) != 0 {
		t.Fatalf("%s still mounted after Close: %+v", a, ms)
	}
	withMounted(t, a, func(dir string) {
		if b, err := os.ReadFile(filepath.Join(dir, "lifeboat", "written")); err != nil || string(b) != "captured" {
			t.Errorf("file written into the repository: %q, %v", b, err)
		}
	})
	if err := f.MakeWritable(&fd); !errors.Is(err, ErrClosed) {
		t.Errorf("MakeWritable after Close: %v, want ErrClosed", err)
	}
}

// TestReadOnlyDevice: a repository on a read-only device is found, but
// MakeWritable refuses it, and the device stays read-only.
func TestReadOnlyDevice(t *testing.T) {
	testutil.Root(t)
	file := ext4File(t, "a.img")
	rw := attach(t, file, false)
	putRepo(t, rw, "")
	// A second, read-only loop device over the same file (the first one
	// stays attached until the test ends).
	a := attach(t, file, true)
	before := testutil.HashFile(t, a, -1)

	f := &Finder{MountRoot: mountRoot(t), Filter: only(a)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 1 {
		t.Fatalf("found %+v, skipped %+v: want one repository", res.Found, res.Skipped)
	}
	fd := res.Found[0]
	if !fd.DeviceReadOnly || !fd.ReadOnly || !fd.MountedByUs || fd.Images != 1 {
		t.Errorf("found %+v: want a read-only device, mounted read-only by us, with one image", fd)
	}
	if err := f.MakeWritable(&fd); !errors.Is(err, ErrReadOnlyDevice) {
		t.Errorf("MakeWritable: %v, want ErrReadOnlyDevice", err)
	}
	if !fd.ReadOnly {
		t.Error("ReadOnly cleared by a refused MakeWritable")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if roFlag(t, a) != 1 {
		t.Errorf("%s is no longer read-only", a)
	}
	if testutil.HashFile(t, a, -1) != before {
		t.Errorf("%s changed", a)
	}
}

// TestNotMine: a file system mounted read-only by someone else is looked
// at where it is, and MakeWritable leaves it alone.
func TestNotMine(t *testing.T) {
	testutil.Root(t)
	a := attach(t, ext4File(t, "a.img"), false)
	putRepo(t, a, "lifeboat")
	dir := mountAt(t, a, "ro")

	f := &Finder{MountRoot: mountRoot(t), Filter: only(a)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{{Dir: dir + "/lifeboat", Device: a, Disk: filepath.Base(a), FSType: "ext4", MountPoint: dir, ReadOnly: true, Images: 1}}
	if diff := cmp.Diff(want, res.Found, cmpopts.EquateErrors()); diff != "" {
		t.Fatalf("found (-want +got):\n%s", diff)
	}
	if err := f.MakeWritable(&res.Found[0]); err == nil || !strings.Contains(err.Error(), "by someone else") {
		t.Errorf("MakeWritable: %v, want a refusal", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := mountsOf(t, a); len(ms) != 1 || ms[0].MountPoint != dir || !hasOption(ms[0].Options, "ro") {
		t.Errorf("%s mounts: %+v, want the test's own, read-only", a, ms)
	}
}

// TestDevicesNotLookedAt: a device held open exclusively by another
// program, a device node missing from DevRoot and a node that names
// another device are passed over, and nothing is written or mounted.
func TestDevicesNotLookedAt(t *testing.T) {
	testutil.Root(t)
	busy := attach(t, ext4File(t, "busy.img"), false)
	putRepo(t, busy, "")
	missing := attach(t, ext4File(t, "missing.img"), false)
	putRepo(t, missing, "")
	wrong := attach(t, ext4File(t, "wrong.img"), false)
	putRepo(t, wrong, "")
	other := attach(t, ext4File(t, "other.img"), false)

	fd, err := unix.Open(busy, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	// A /dev of our own: busy as it is, missing left out, wrong pointing
	// at other's device number.
	devRoot := t.TempDir()
	mknod := func(name, like string) {
		var st unix.Stat_t
		if err := unix.Stat(like, &st); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(devRoot, name), unix.S_IFBLK|0o600, int(st.Rdev)); err != nil {
			t.Fatal(err)
		}
	}
	mknod(filepath.Base(busy), busy)
	mknod(filepath.Base(wrong), other)
	path := func(dev string) string { return filepath.Join(devRoot, filepath.Base(dev)) }

	hashes := map[string]string{}
	for _, dev := range []string{busy, missing, wrong, other} {
		hashes[dev] = testutil.HashFile(t, dev, -1)
	}
	src := inventory.DefaultSource()
	src.DevRoot = devRoot
	f := &Finder{MountRoot: mountRoot(t), Source: src, Filter: only(path(busy), path(missing), path(wrong))}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(wrong, &st); err != nil {
		t.Fatal(err)
	}
	want := []Skipped{
		{Device: path(busy), Disk: filepath.Base(busy), Reason: "in use by another program"},
		{Device: path(missing), Disk: filepath.Base(missing), Reason: "no device node " + path(missing)},
		{Device: path(wrong), Disk: filepath.Base(wrong), Reason: fmt.Sprintf("%s is not device %d:%d", path(wrong), unix.Major(st.Rdev), unix.Minor(st.Rdev))},
	}
	if len(res.Found) != 0 {
		t.Errorf("found %+v, want nothing", res.Found)
	}
	sortSkipped := cmpopts.SortSlices(func(a, b Skipped) bool { return a.Device < b.Device })
	if diff := cmp.Diff(want, res.Skipped, cmpopts.EquateErrors(), sortSkipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for dev, h := range hashes {
		if len(mountsOf(t, dev)) != 0 {
			t.Errorf("%s mounted", dev)
		}
		if roFlag(t, dev) != 0 {
			t.Errorf("%s left read-only", dev)
		}
		if testutil.HashFile(t, dev, -1) != h {
			t.Errorf("%s changed", dev)
		}
	}
}

// TestOtherDisksLeftAlone scans the machine's own disks (all but loop
// devices, which tests running beside this one may be using): Scan must
// not fail on devices it cannot open or mount, must account for every
// device, and must leave every mount and read-only flag as it found them.
func TestOtherDisksLeftAlone(t *testing.T) {
	testutil.Root(t)
	notLoop := func(d inventory.Disk) bool { return d.Transport != "loop" && !strings.HasPrefix(d.Name, "loop") }
	disks, err := inventory.Scan(inventory.DefaultSource())
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, d := range disks {
		if !notLoop(d) {
			continue
		}
		if len(d.Partitions) == 0 {
			devs = append(devs, d.Path)
		}
		for _, p := range d.Partitions {
			devs = append(devs, p.Path)
		}
	}
	if len(devs) == 0 {
		t.Fatal("this machine has no disk but loop devices; the test would prove nothing")
	}
	ro := map[string]int{}
	mounts := map[string][]inventory.MountInfo{}
	for _, dev := range devs {
		if _, err := os.Stat(dev); err != nil {
			continue
		}
		// A device this process may not open (a sandboxed machine's
		// system disk) cannot be touched by the Finder either; its
		// read-only flag cannot be read, so only its mounts are compared.
		if fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			ro[dev] = roFlag(t, dev)
		}
		mounts[dev] = mountsOf(t, dev)
	}

	root := mountRoot(t)
	f := &Finder{MountRoot: root, Filter: notLoop}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, fd := range res.Found {
		seen = append(seen, fd.Device)
		t.Logf("found %s on %s", fd.Dir, fd.Device)
	}
	for _, s := range res.Skipped {
		seen = append(seen, s.Device)
		t.Logf("skipped %s: %s (%v)", s.Device, s.Reason, s.Err)
	}
	if diff := cmp.Diff(devs, seen, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("devices accounted for (-want +got):\n%s", diff)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := mountsUnder(t, root); len(ms) != 0 {
		t.Errorf("left mounted: %v", ms)
	}
	for dev, v := range ro {
		if got := roFlag(t, dev); got != v {
			t.Errorf("%s read-only flag %d, was %d", dev, got, v)
		}
	}
	for dev := range mounts {
		if diff := cmp.Diff(mounts[dev], mountsOf(t, dev), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s mounts changed (-before +after):\n%s", dev, diff)
		}
	}
}

// TestCancel: a cancelled context stops Scan before the next device, and
// a device being looked at when the context ends is cleaned up by Close,
// or by itself when Close has run, wherever it was.
func TestCancel(t *testing.T) {
	testutil.Root(t)
	a := attach(t, ext4File(t, "a.img"), false)
	putRepo(t, a, "lifeboat")
	b := attach(t, ext4File(t, "b.img"), false)
	putRepo(t, b, "lifeboat")

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		root := mountRoot(t)
		f := &Finder{MountRoot: root, Filter: only(a, b)}
		closeAtEnd(t, f)
		res, err := f.Scan(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan: %v, want context.Canceled", err)
		}
		if len(res.Found)+len(res.Skipped) != 0 {
			t.Errorf("looked at %+v", res)
		}
		if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mount root made: %v", err)
		}
	})
	t.Run("between devices", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &Finder{MountRoot: mountRoot(t), Filter: only(a, b)}
		closeAtEnd(t, f)
		n := 0
		testHookDevice = func(string) {
			if n++; n == 2 {
				cancel()
			}
		}
		defer func() { testHookDevice = nil }()
		res, err := f.Scan(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan: %v, want context.Canceled", err)
		}
		if len(res.Found) != 1 || len(res.Skipped) != 0 {
			t.Errorf("looked at %+v, want the first device only", res)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f.pending.Wait()
		for _, dev := range []string{a, b} {
			if ms := mountsOf(t, dev); len(ms) != 0 {
				t.Errorf("%s mounted: %+v", dev, ms)
			}
		}
	})
	for _, stage := range []string{"open", "mounted"} {
		t.Run("while looking/"+stage, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The mount root exists, so that the device is mounted
			// whenever the goroutine gets to it.
			root := mountRoot(t)
			if err := os.Mkdir(root, 0o700); err != nil {
				t.Fatal(err)
			}
			f := &Finder{MountRoot: root, Filter: only(a)}
			closeAtEnd(t, f)
			release := make(chan struct{})
			testHookLook = func(_, s string) {
				if s == stage {
					cancel()
					<-release
				}
			}
			defer func() { testHookLook = nil }()
			res, err := f.Scan(ctx)
			if !errors.Is(err, context.Canceled) || len(res.Found) != 0 {
				t.Errorf("Scan: %+v, %v; want nothing and context.Canceled", res, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			close(release)
			f.pending.Wait()
			if ms := mountsOf(t, a); len(ms) != 0 {
				t.Errorf("%s mounted: %+v", a, ms)
			}
			if roFlag(t, a) != 0 {
				t.Errorf("%s left read-only", a)
			}
			if ms := mountsUnder(t, root); len(ms) != 0 {
				t.Errorf("left mounted: %v", ms)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("mount root holds %v", ents)
			}
		})
	}
}

// TestTwoFinders: two Finders sharing a mount root (the text UI on two
// consoles) scan at once, again and again; each finds the repository every
// time, and neither passes a device over as held by the other's look.
func TestTwoFinders(t *testing.T) {
	testutil.Root(t)
	dev := attach(t, ext4File(t, "shared.img"), false)
	putRepo(t, dev, "lifeboat")
	empty := attach(t, ext4File(t, "empty.img"), false)
	root := mountRoot(t)
	var wg sync.WaitGroup
	var finders []*Finder
	for i := 0; i < 2; i++ {
		f := &Finder{MountRoot: root, Filter: only(dev, empty)}
		closeAtEnd(t, f)
		finders = append(finders, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				res, err := f.Scan(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Found) != 1 || res.Found[0].Device != dev {
					t.Errorf("finder %d, round %d: found %+v, skipped %+v", i, round, res.Found, res.Skipped)
				}
				for _, s := range res.Skipped {
					if strings.Contains(s.Reason, "in use") {
						t.Errorf("finder %d, round %d: %s passed over: %s", i, round, s.Device, s.Reason)
					}
				}
			}
		}()
	}
	wg.Wait()

	// The one that did not mount it can still capture into it: it takes
	// the other's read-only mount over and mounts it read-write.
	adopted := false
	for i, f := range finders {
		res, err := f.Scan(context.Background())
		if err != nil || len(res.Found) != 1 {
			t.Fatalf("finder %d: %+v, %v", i, res, err)
		}
		fd := res.Found[0]
		if fd.MountedByUs {
			continue
		}
		if !fd.ReadOnly {
			t.Fatalf("finder %d: %+v: want the other's read-only mount", i, fd)
		}
		if err := f.MakeWritable(&fd); err != nil {
			t.Fatalf("finder %d: %v", i, err)
		}
		if err := os.WriteFile(filepath.Join(fd.Dir, "written"), []byte("x"), 0o644); err != nil {
			t.Fatalf("finder %d: write into the repository: %v", i, err)
		}
		adopted = true
	}
	if !adopted {
		t.Fatal("both finders say they mounted the repository")
	}
}

// TestProbeTypes: a recognised file system is mounted with its one type
// (even one the kernel has not loaded yet), NTFS with ntfs-3g first; swap
// is not mounted at all; a blank device is offered only to the types the
// prober does not know, so that no file system driver complains about it
// in the kernel log.
func TestProbeTypes(t *testing.T) {
	kernel := []string{"ext4", "vfat", "exfat", "iso9660", "squashfs", "f2fs"}
	blank := testutil.Sparse(t, "blank.img", 64*MiB)
	fat := testutil.Sparse(t, "fat.img", 64*MiB)
	testutil.Run(t, "mkfs.vfat", fat)
	swap := testutil.Sparse(t, "swap.img", 64*MiB)
	testutil.Run(t, "mkswap", swap)
	ntfs := testutil.Sparse(t, "ntfs.img", 64*MiB)
	testutil.Run(t, "mkfs.ntfs", "-q", "-F", "-f", ntfs)
	xfs := testutil.Sparse(t, "xfs.img", 320*MiB)
	testutil.Run(t, "mkfs.xfs", "-q", xfs)
	btrfs := testutil.Sparse(t, "btrfs.img", 320*MiB)
	testutil.Run(t, "mkfs.btrfs", "-q", btrfs)
	for _, tc := range []struct {
		file  string
		types []string
		want  []string
	}{
		{ext4File(t, "ext4.img"), kernel, []string{"ext4"}},
		{fat, []string{"ext4"}, []string{"vfat"}}, // its module not loaded yet
		{ext4File(t, "ext4-not-here.img"), []string{"vfat"}, []string{"ext4"}},
		{swap, kernel, nil},
		// NTFS only where the kernel has a driver for it: no modprobe
		// run for one the rescue environment lacks.
		{ntfs, kernel, nil},
		{ntfs, append([]string{"ntfs3"}, kernel...), []string{"ntfs3"}},
		// ntfs-3g first where the Finder has it, the kernel's driver
		// after it.
		{ntfs, append(kernel, ntfs3g), []string{ntfs3g}},
		{ntfs, append([]string{"ntfs3", ntfs3g}, kernel...), []string{ntfs3g, "ntfs3"}},
		// XFS and btrfs even before their modules are loaded (the
		// rescue environment ships them and leaves them to the first
		// mount).
		{xfs, kernel, []string{"xfs"}},
		{btrfs, kernel, []string{"btrfs"}},
		{blank, append(kernel, ntfs3g), []string{"f2fs"}},
		{blank, kernel, []string{"f2fs"}},
		{filepath.Join(t.TempDir(), "missing"), kernel, kernel},
	} {
		if got := probeTypes(tc.file, 64*MiB, tc.types); !slices.Equal(got, tc.want) {
			t.Errorf("%s: types %q, want %q", filepath.Base(tc.file), got, tc.want)
		}
	}
}
