package repofind

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const GiB = 1 << 30

// rootNames lists the root of the NTFS volume on dev, read through
// ntfs-3g read-only.
func rootNames(t *testing.T, dev string) []string {
	t.Helper()
	var names []string
	withNTFS(t, dev, true, func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	})
	return names
}

// TestNewRepositoryOnNTFS: a freshly formatted NTFS disk (a Windows USB
// drive) holding no repository is reported as a place for a new one,
// with its label and free space, and left unmounted and unwritten by the
// look; CreateRepo makes a repository in lifeboat/ at its root, touching
// nothing else; a capture goes into it; a second scan finds it; and after
// UnmountAll the volume is clean and ntfs-3g reads the image.
func TestNewRepositoryOnNTFS(t *testing.T) {
	testutil.Root(t)
	testutil.Tool(t, "ntfs-3g")
	dev := attach(t, testutil.Sparse(t, "usb.img", 2*GiB), false)
	testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-L", "WINDATA", dev)
	withNTFS(t, dev, false, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("the owner's file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	namesBefore := rootNames(t, dev)
	before := testutil.HashFile(t, dev, -1)

	root := mountRoot(t)
	f := &Finder{MountRoot: root, Filter: only(dev)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 0 || len(res.Spaces) != 1 {
		t.Fatalf("found %+v, spaces %+v, skipped %+v: want one space on the NTFS volume", res.Found, res.Spaces, res.Skipped)
	}
	sp := res.Spaces[0]
	if sp.Free < GiB || sp.Free > sp.Size || sp.Size > 2*GiB {
		t.Errorf("space %+v: free %d of %d, want more than 1 GiB of at most 2 GiB", sp, sp.Free, sp.Size)
	}
	want := Space{Device: dev, Disk: filepath.Base(dev), FSType: "ntfs", Label: "WINDATA", Size: sp.Size, Free: sp.Free}
	if diff := cmp.Diff(want, sp, cmpopts.EquateErrors(), cmpopts.IgnoreUnexported(Space{})); diff != "" {
		t.Errorf("space (-want +got):\n%s", diff)
	}
	if s := sp.String(); !strings.HasPrefix(s, "new repository on "+filepath.Base(dev)+" (ntfs, WINDATA, ") || !strings.HasSuffix(s, " free)") {
		t.Errorf("space shown as %q", s)
	}
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Errorf("%s left mounted after the look: %+v", dev, ms)
	}
	if roFlag(t, dev) != 0 {
		t.Errorf("%s left read-only after the look", dev)
	}
	if testutil.HashFile(t, dev, -1) != before {
		t.Errorf("%s changed while Scan looked at it", dev)
	}

	fd, err := f.CreateRepo(sp)
	if err != nil {
		t.Fatal(err)
	}
	if fd.Dir != filepath.Join(fd.MountPoint, "lifeboat") || !strings.HasPrefix(fd.MountPoint, root+"/") || fd.ReadOnly || !fd.MountedByUs || fd.FSType != "ntfs" {
		t.Errorf("created %+v: want lifeboat/ on a read-write mount of ours", fd)
	}
	r, err := repo.Open(fd.Dir)
	if err != nil {
		t.Fatal(err)
	}
	captureSmall(t, r, "first")
	res2, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fd.Images = 1
	if diff := cmp.Diff([]Found{fd}, res2.Found, cmpopts.EquateErrors()); diff != "" || len(res2.Spaces) != 0 {
		t.Errorf("rescan: found (-want +got):\n%s\nspaces %+v", diff, res2.Spaces)
	}

	if err := f.UnmountAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ntfsfix", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("ntfsfix -n %s: %v\n%s", dev, err, out)
	}
	namesAfter := rootNames(t, dev)
	if diff := cmp.Diff(append(slices.Clone(namesBefore), "lifeboat"), namesAfter, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("root of the volume (-before plus lifeboat +after):\n%s", diff)
	}
	withNTFS(t, dev, true, func(dir string) {
		r, err := repo.Open(filepath.Join(dir, "lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadManifest("first"); err != nil {
			t.Errorf("image first on the NTFS volume: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "letter.txt")); err != nil || string(b) != "the owner's file\n" {
			t.Errorf("the owner's file: %q, %v", b, err)
		}
	})
}

// TestSpaceRefused: file systems that hold no repository but must not
// get one are reported with the reason, and CreateRepo refuses them
// without writing: too little free space, a read-only medium, an NTFS
// volume Windows hibernated onto, and the disk Lifeboat booted from.
func TestSpaceRefused(t *testing.T) {
	testutil.Root(t)
	for _, tc := range []struct {
		name    string
		minFree int64
		prepare func(t *testing.T) (dev string, boot bool)
		want    error
		fstype  string
	}{
		{"too small", 0, func(t *testing.T) (string, bool) {
			return attach(t, ext4File(t, "small"), false), false
		}, ErrLowSpace, "ext4"},
		{"read-only medium", MiB, func(t *testing.T) (string, bool) {
			return attach(t, ext4File(t, "locked"), true), false
		}, ErrReadOnlyDevice, "ext4"},
		{"hibernated NTFS", MiB, func(t *testing.T) (string, bool) {
			testutil.Tool(t, "ntfs-3g")
			dev := attach(t, testutil.Sparse(t, "win.img", 64*MiB), false)
			testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-L", "WINDOWS", dev)
			withNTFS(t, dev, false, func(dir string) {
				// What Windows writes when it hibernates (Fast Startup).
				if err := os.WriteFile(filepath.Join(dir, "hiberfil.sys"), append([]byte("HIBR"), make([]byte, 8192)...), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			return dev, false
		}, ErrNTFSUnsafe, "ntfs"},
		{"boot disk", MiB, func(t *testing.T) (string, bool) {
			return attach(t, ext4File(t, "stick"), false), true
		}, ErrBootDisk, "ext4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev, boot := tc.prepare(t)
			before := testutil.HashFile(t, dev, -1)
			src := inventory.Source{}
			if boot {
				src.BootDevices = []string{filepath.Base(dev)}
			}
			f := &Finder{MountRoot: mountRoot(t), Filter: only(dev), MinFree: tc.minFree, Source: src}
			closeAtEnd(t, f)
			res, err := f.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Found) != 0 || len(res.Spaces) != 1 {
				t.Fatalf("found %+v, spaces %+v, skipped %+v: want one space", res.Found, res.Spaces, res.Skipped)
			}
			sp := res.Spaces[0]
			if !errors.Is(sp.Unfit, tc.want) || sp.FSType != tc.fstype || sp.Free <= 0 {
				t.Errorf("space %+v: want %s with free space, unfit: %v", sp, tc.fstype, tc.want)
			}
			if _, err := f.CreateRepo(sp); !errors.Is(err, tc.want) {
				t.Errorf("CreateRepo: %v, want %v", err, tc.want)
			}
			if ms := mountsOf(t, dev); len(ms) != 0 {
				t.Errorf("%s mounted: %+v", dev, ms)
			}
			if testutil.HashFile(t, dev, -1) != before {
				t.Errorf("%s changed", dev)
			}
		})
	}
}

// TestCreateRepoRefusesUnsafeNTFS: an NTFS volume that looked fit but that
// ntfs-3g will not mount read-write by the time CreateRepo is asked (here
// hibernated after the look) is refused with ErrNTFSUnsafe and ntfs-3g's
// words, and left unmounted and unwritten.
func TestCreateRepoRefusesUnsafeNTFS(t *testing.T) {
	testutil.Root(t)
	testutil.Tool(t, "ntfs-3g")
	dev := attach(t, testutil.Sparse(t, "win.img", 64*MiB), false)
	testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-L", "WINDOWS", dev)
	f := &Finder{MountRoot: mountRoot(t), Filter: only(dev), MinFree: MiB}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spaces) != 1 || res.Spaces[0].Unfit != nil {
		t.Fatalf("spaces %+v, skipped %+v: want one fit space", res.Spaces, res.Skipped)
	}
	withNTFS(t, dev, false, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "hiberfil.sys"), append([]byte("hibr"), make([]byte, 8192)...), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	before := testutil.HashFile(t, dev, -1)
	if _, err := f.CreateRepo(res.Spaces[0]); !errors.Is(err, ErrNTFSUnsafe) || !strings.Contains(err.Error(), "hibernated") {
		t.Errorf("CreateRepo: %v, want ErrNTFSUnsafe with ntfs-3g's words", err)
	}
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Errorf("%s mounted after the refusal: %+v", dev, ms)
	}
	if testutil.HashFile(t, dev, -1) != before {
		t.Errorf("%s changed", dev)
	}
}

// TestSpaceMountedElsewhere: a file system someone else has mounted
// read-write (a drive the desktop mounted) is offered where it is
// mounted, and CreateRepo makes the repository there, without mounting it
// again; mounted read-only, it is not offered.
func TestSpaceMountedElsewhere(t *testing.T) {
	testutil.Root(t)
	for _, ro := range []bool{false, true} {
		dev := attach(t, ext4File(t, "desk"), false)
		opts := ""
		if ro {
			opts = "ro"
		}
		dir := mountAt(t, dev, opts)
		f := &Finder{MountRoot: mountRoot(t), Filter: only(dev), MinFree: MiB}
		closeAtEnd(t, f)
		res, err := f.Scan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Spaces) != 1 || res.Spaces[0].MountPoint != dir {
			t.Fatalf("read-only %t: spaces %+v, skipped %+v: want one, mounted at %s", ro, res.Spaces, res.Skipped, dir)
		}
		sp := res.Spaces[0]
		fd, err := f.CreateRepo(sp)
		if ro {
			if sp.Unfit == nil || err == nil {
				t.Errorf("mounted read-only: unfit %v, CreateRepo %v, want both to say so", sp.Unfit, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want := Found{Dir: filepath.Join(dir, "lifeboat"), Device: dev, Disk: filepath.Base(dev), FSType: "ext4", MountPoint: dir}
		if diff := cmp.Diff(want, fd, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
		if _, err := repo.Open(fd.Dir); err != nil {
			t.Error(err)
		}
		if ms := mountsOf(t, dev); len(ms) != 1 {
			t.Errorf("%s mounts: %+v, want only the one it had", dev, ms)
		}
	}
}

// TestCreateRepoChecksTheDrive: between the scan and the user's Enter, a
// drive someone had mounted was unmounted, or another drive with a file
// system of the same kind and label took the device's place: the
// repository is not made, neither in the directory left behind nor on the
// other drive.
func TestCreateRepoChecksTheDrive(t *testing.T) {
	testutil.Root(t)
	dev := attach(t, ext4File(t, "desk"), false)
	dir := mountAt(t, dev, "")
	f := &Finder{MountRoot: mountRoot(t), Filter: only(dev), MinFree: MiB}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil || len(res.Spaces) != 1 || res.Spaces[0].MountPoint != dir {
		t.Fatalf("spaces %+v, %v: want one, mounted at %s", res.Spaces, err, dir)
	}
	testutil.Run(t, "umount", dir)
	if _, err := f.CreateRepo(res.Spaces[0]); err == nil || !strings.Contains(err.Error(), "no longer mounted at "+dir) {
		t.Errorf("CreateRepo after the drive was unmounted: %v, want refused", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%s, where the drive was mounted, now holds %v", dir, ents)
	}

	// Not mounted by anyone: the finder looks and unmounts; then the
	// device holds a new file system with the same label.
	res, err = f.Scan(context.Background())
	if err != nil || len(res.Spaces) != 1 || res.Spaces[0].MountPoint != "" {
		t.Fatalf("spaces %+v, %v: want one, not mounted", res.Spaces, err)
	}
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-L", "desk", dev)
	if _, err := f.CreateRepo(res.Spaces[0]); err == nil || !strings.Contains(err.Error(), "no longer holds") {
		t.Errorf("CreateRepo on another file system with the same label: %v, want refused", err)
	}
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Errorf("%s left mounted: %+v", dev, ms)
	}
}

// TestMountSpace: a file system with no repository is mounted read-write
// to copy files onto, even with too little room for a repository, files
// written there are on the disk after UnmountAll, and a second MountSpace
// after a rescan finds it where it is.
func TestMountSpace(t *testing.T) {
	testutil.Root(t)
	dev := attach(t, ext4File(t, "stick.img"), false)
	root := mountRoot(t)
	f := &Finder{MountRoot: root, Filter: only(dev), MinFree: 1 << 40}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spaces) != 1 || !errors.Is(res.Spaces[0].Unfit, ErrLowSpace) {
		t.Fatalf("spaces %+v: want one, too small for a repository", res.Spaces)
	}
	if _, err := f.CreateRepo(res.Spaces[0]); !errors.Is(err, ErrLowSpace) {
		t.Errorf("CreateRepo on a small space: %v", err)
	}
	dir, err := f.MountSpace(res.Spaces[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, root+"/") {
		t.Errorf("mounted at %s, not under %s", dir, root)
	}
	if err := os.WriteFile(filepath.Join(dir, "copied.txt"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spaces) != 1 {
		t.Fatalf("rescan: spaces %+v, skipped %+v", res.Spaces, res.Skipped)
	}
	again, err := f.MountSpace(res.Spaces[0])
	if err != nil || again != dir {
		t.Errorf("second MountSpace: %s, %v; want %s", again, err, dir)
	}
	if err := f.UnmountAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	withMounted(t, dev, func(d string) {
		if b, err := os.ReadFile(filepath.Join(d, "copied.txt")); err != nil || string(b) != "kept" {
			t.Errorf("copied file: %q, %v", b, err)
		}
	})
}
