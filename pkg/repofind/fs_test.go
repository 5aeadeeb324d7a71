package repofind

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// withNTFS mounts the NTFS volume on dev with ntfs-3g (read-only with ro)
// for fn, and unmounts it.
func withNTFS(t *testing.T, dev string, ro bool, fn func(dir string)) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{dev, dir}
	if ro {
		args = append([]string{"-o", "ro"}, args...)
	}
	cmd := exec.Command(testutil.Tool(t, "ntfs-3g"), args...)
	cmd.WaitDelay = 5 * time.Second // the daemon it leaves lets go of the output
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ntfs-3g %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	defer func() {
		if len(mountsOf(t, dev)) > 0 {
			testutil.Run(t, "umount", dir)
		}
	}()
	fn(dir)
}

// captureSmall captures a small disk of random bytes into r as name.
func captureSmall(t *testing.T, r *repo.Repo, name string) {
	t.Helper()
	src := testutil.Sparse(t, name+".img", 2*MiB)
	data := make([]byte, 256<<10)
	rand.Read(data)
	testutil.WriteAt(t, src, data, 512<<10)
	d, err := disk.Open(src, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := engine.Capture(context.Background(), d, r, engine.CaptureOptions{Name: name, Tool: "repofind test"}); err != nil {
		t.Fatal(err)
	}
}

// TestNTFS finds a repository on an NTFS volume (a Windows-formatted
// external disk), which this kernel has no driver for: Scan mounts it
// read-only with ntfs-3g, writing nothing; MakeWritable mounts it again
// read-write; a capture goes into it; UnmountAll leaves it unmounted and
// clean; and ntfs-3g on its own then reads both images.
func TestNTFS(t *testing.T) {
	testutil.Root(t)
	testutil.Tool(t, "ntfs-3g")
	file := testutil.Sparse(t, "ntfs.img", 64*MiB)
	dev := attach(t, file, false)
	testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-L", "WINDATA", dev)
	withNTFS(t, dev, false, func(dir string) {
		r, err := repo.Create(filepath.Join(dir, "Lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		captureSmall(t, r, "first")
	})
	before := testutil.HashFile(t, dev, -1)

	root := mountRoot(t)
	f := &Finder{MountRoot: root, Filter: only(dev)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 1 {
		t.Fatalf("found %+v, skipped %+v: want the repository on the NTFS volume", res.Found, res.Skipped)
	}
	fd := res.Found[0]
	want := Found{Dir: fd.MountPoint + "/Lifeboat", Device: dev, Disk: filepath.Base(dev), FSType: "ntfs", MountPoint: fd.MountPoint,
		MountedByUs: true, ReadOnly: true, Images: 1}
	if diff := cmp.Diff(want, fd, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if ms := mountsOf(t, dev); len(ms) != 1 || ms[0].FSType != "fuseblk" || !hasOption(ms[0].Options, "ro") {
		t.Errorf("%s mounts: %+v, want one, fuseblk, read-only", dev, ms)
	}
	if roFlag(t, dev) != 1 {
		t.Errorf("%s is not read-only while mounted to look", dev)
	}
	if testutil.HashFile(t, dev, -1) != before {
		t.Errorf("%s changed while Scan looked at it", dev)
	}
	if err := os.WriteFile(filepath.Join(fd.Dir, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write before MakeWritable: %v, want EROFS", err)
	}
	// A second scan looks where the volume is mounted, and says NTFS.
	res2, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Found{fd}, res2.Found, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("rescan (-want +got):\n%s", diff)
	}

	if err := f.MakeWritable(&fd); err != nil {
		t.Fatal(err)
	}
	if ms := mountsOf(t, dev); len(ms) != 1 || ms[0].FSType != "fuseblk" || hasOption(ms[0].Options, "ro") {
		t.Fatalf("%s mounts after MakeWritable: %+v, want one, fuseblk, read-write", dev, ms)
	}
	r, err := repo.Open(fd.Dir)
	if err != nil {
		t.Fatal(err)
	}
	captureSmall(t, r, "second")

	if err := f.UnmountAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Fatalf("%s still mounted after UnmountAll: %+v", dev, ms)
	}
	if roFlag(t, dev) != 0 {
		t.Errorf("%s left read-only", dev)
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Errorf("mount root holds %v (%v) after UnmountAll, want nothing", ents, err)
	}
	if out, err := exec.Command("ntfsfix", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("ntfsfix -n %s: %v\n%s", dev, err, out)
	}
	withNTFS(t, dev, true, func(dir string) {
		r, err := repo.Open(filepath.Join(dir, "Lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"first", "second"} {
			if _, err := r.ReadManifest(name); err != nil {
				t.Errorf("image %s on the NTFS volume: %v", name, err)
			}
		}
	})
}

// TestNTFSHibernated: an NTFS volume Windows left hibernated (Fast
// Startup) is found and read, but MakeWritable refuses it with
// ErrNTFSUnsafe, where ntfs-3g itself would mount it read-only and report
// success; the volume stays mounted read-only and is not written.
func TestNTFSHibernated(t *testing.T) {
	testutil.Root(t)
	dev := attach(t, testutil.Sparse(t, "ntfs.img", 64*MiB), false)
	testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-L", "WINDATA", dev)
	withNTFS(t, dev, false, func(dir string) {
		r, err := repo.Create(filepath.Join(dir, "lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		captureSmall(t, r, "first")
		// What Windows writes when it hibernates: hiberfil.sys starting
		// with "hibr".
		if err := os.WriteFile(filepath.Join(dir, "hiberfil.sys"), append([]byte("hibr"), make([]byte, 8192)...), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	before := testutil.HashFile(t, dev, -1)
	f := &Finder{MountRoot: mountRoot(t), Filter: only(dev)}
	closeAtEnd(t, f)
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 1 || res.Found[0].FSType != "ntfs" || res.Found[0].Images != 1 {
		t.Fatalf("found %+v, skipped %+v: want the repository on the NTFS volume, with one image", res.Found, res.Skipped)
	}
	fd := res.Found[0]
	err = f.MakeWritable(&fd)
	if !errors.Is(err, ErrNTFSUnsafe) || !strings.Contains(err.Error(), "hibernated") {
		t.Fatalf("MakeWritable: %v, want ErrNTFSUnsafe with ntfs-3g's word", err)
	}
	if !fd.ReadOnly {
		t.Error("ReadOnly cleared by a refused MakeWritable")
	}
	if ms := mountsOf(t, dev); len(ms) != 1 || ms[0].MountPoint != fd.MountPoint || !hasOption(ms[0].Options, "ro") {
		t.Errorf("%s mounts after the refusal: %+v, want one, read-only, at %s", dev, ms, fd.MountPoint)
	}
	if _, err := repo.Open(fd.Dir); err != nil {
		t.Errorf("the repository is not readable after the refusal: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if testutil.HashFile(t, dev, -1) != before {
		t.Errorf("%s changed", dev)
	}
}

// TestXFSAndBtrfs: repositories on XFS and btrfs are found even when the
// kernel's list of file systems does not have them yet (the rescue
// environment ships their modules but leaves them to the first mount),
// mounted read-only with their no-replay options, and made writable.
func TestXFSAndBtrfs(t *testing.T) {
	testutil.Root(t)
	notYet := filepath.Join(t.TempDir(), "filesystems")
	if err := os.WriteFile(notYet, []byte("nodev\tproc\n\text4\n\tvfat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fstype string
		mkfs   []string
	}{
		{"xfs", []string{"mkfs.xfs", "-q", "-f", "-L", "XFSREPO"}},
		{"btrfs", []string{"mkfs.btrfs", "-q", "-f", "-L", "BTRFSREPO"}},
	} {
		t.Run(tc.fstype, func(t *testing.T) {
			dev := attach(t, testutil.Sparse(t, tc.fstype+".img", 320*MiB), false)
			testutil.Run(t, tc.mkfs[0], append(tc.mkfs[1:], dev)...)
			putRepo(t, dev, "lifeboat")
			f := &Finder{MountRoot: mountRoot(t), Filter: only(dev), Filesystems: notYet}
			closeAtEnd(t, f)
			res, err := f.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Found) != 1 {
				t.Fatalf("found %+v, skipped %+v: want the repository on %s", res.Found, res.Skipped, tc.fstype)
			}
			fd := res.Found[0]
			if fd.FSType != tc.fstype || !fd.ReadOnly || !fd.MountedByUs || fd.Images != 1 {
				t.Errorf("found %+v: want %s, mounted read-only by us, one image", fd, tc.fstype)
			}
			if err := f.MakeWritable(&fd); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(fd.Dir, "written"), []byte("captured"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			withMounted(t, dev, func(dir string) {
				if b, err := os.ReadFile(filepath.Join(dir, "lifeboat", "written")); err != nil || !strings.HasPrefix(string(b), "captured") {
					t.Errorf("file written into the repository: %q, %v", b, err)
				}
			})
		})
	}
}
