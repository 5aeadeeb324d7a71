package safety_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
	"golang.org/x/sys/unix"
)

const MiB = 1 << 20

// fixture returns the Source of testdata/sysfs/name, with the mountinfo
// and swaps tables of the given variant ("" or "-initramfs").
func fixture(name, variant string) inventory.Source {
	dir := filepath.Join("..", "..", "testdata", "sysfs", name)
	return inventory.Source{
		SysRoot:   filepath.Join(dir, "sys"),
		MountInfo: filepath.Join(dir, "mountinfo"+variant),
		Swaps:     filepath.Join(dir, "swaps"+variant),
		DevRoot:   "/dev",
	}
}

// node makes a block device node with a fixture's device number, so that
// the checks, which stat the path on this machine, find that fixture disk.
// The node is never opened.
func node(t *testing.T, name string, major, minor uint32) string {
	t.Helper()
	testutil.Root(t)
	p := filepath.Join(t.TempDir(), name)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatalf("mknod %s: %v", p, err)
	}
	return p
}

// fixtureRepo returns a new repository directory on this machine and makes
// sure that, seen through src, it lives on none of the given disks: its
// device number is the real one and might happen to be a fixture's.
func fixtureRepo(t *testing.T, src inventory.Source, notOn ...string) string {
	t.Helper()
	repo := t.TempDir()
	under, err := inventory.DisksUnder(src, repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range under {
		if slices.Contains(notOn, d.Name) {
			t.Fatalf("the temporary directory %s is on a device whose number is that of fixture disk %s; run the tests with TMPDIR elsewhere", repo, d.Name)
		}
	}
	return repo
}

// refused checks that err is a refusal whose message says each of want.
// A refusal names the device by the path it was given.
func refused(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed; want refused because %q", what, want)
		return
	}
	if !errors.Is(err, safety.ErrRefused) {
		t.Errorf("%s: error %q does not wrap ErrRefused", what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: refusal %q does not say %q", what, err, w)
		}
	}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v; want allowed", what, err)
	}
}

func TestRestoreFixtures(t *testing.T) {
	pc := fixture("pc", "")
	tests := []struct {
		name  string
		src   inventory.Source
		node  string
		maj   uint32
		min   uint32
		disk  string
		repo  []string // disks the repository must not be on for the case to hold
		want  []string // nil: allowed
		notIn []string // words the refusal must not contain
	}{
		{name: "boot disk under LVM", src: pc, node: "nvme0n1", maj: 259, min: 0, disk: "nvme0n1",
			want: []string{"Samsung SSD 980 PRO 1TB", "serial S5GXNX0T123456A", "is the disk the running system booted from"}},
		{name: "boot disk under partitioned md", src: fixture("server", ""), node: "sdb", maj: 8, min: 16, disk: "sdb",
			want: []string{"QEMU HARDDISK", "serial drive-scsi1", "is the disk the running system booted from"}},
		{name: "boot disk of a VM", src: fixture("vm", ""), node: "vda", maj: 254, min: 0, disk: "vda",
			want: []string{"is the disk the running system booted from"}},
		{name: "boot device named by the boot environment", node: "sdb", maj: 8, min: 16, disk: "sdb",
			src: func() inventory.Source {
				s := fixture("pc", "-initramfs")
				s.BootDevices = []string{"sdb1"}
				return s
			}(),
			want: []string{"SanDisk", "Ultra Fit", "is the disk the running system booted from"}},
		{name: "mounted and swap", src: pc, node: "sda", maj: 8, min: 0, disk: "sda",
			want: []string{"in use", "mounted at /mnt/data disk (sda1)", "mounted at /srv/backups (sda1)",
				"active swap sda2", "unmount it"},
			notIn: []string{"ATA,"}},
		{name: "read-only and mounted loop", src: pc, node: "loop1", maj: 7, min: 1, disk: "loop1",
			want: []string{"mounted at /snap/core/123 (loop1)", "read-only"}},
		{name: "swap", src: pc, node: "zram0", maj: 252, min: 0, disk: "zram0",
			want: []string{"active swap zram0"}},
		{name: "held by LVM, nothing mounted", src: fixture("pc", "-initramfs"), node: "nvme0n1", maj: 259, min: 0, disk: "nvme0n1",
			want: []string{"holds dm-0", "holds dm-1"}, notIn: []string{"booted", "mounted at"}},
		{name: "partition", src: pc, node: "sdb1", maj: 8, min: 17, disk: "sdb",
			want: []string{"partition sdb1 of /dev/sdb", "give /dev/sdb"}},
		{name: "partition of the boot disk", src: pc, node: "nvme0n1p2", maj: 259, min: 2, disk: "nvme0n1",
			want: []string{"partition nvme0n1p2 of /dev/nvme0n1"}},
		// A partition is a partition whatever its node is called.
		{name: "partition under another name", src: pc, node: "usb-stick", maj: 8, min: 17, disk: "sdb",
			want: []string{"partition sdb1 of /dev/sdb"}},
		{name: "card partition under another name", src: pc, node: "card", maj: 179, min: 1, disk: "mmcblk0",
			want: []string{"partition mmcblk0p1 of /dev/mmcblk0"}},
		{name: "free USB stick", src: pc, node: "sdb", maj: 8, min: 16, disk: "sdb", repo: []string{"sdb"}},
		{name: "free card under another name", src: pc, node: "card", maj: 179, min: 0, disk: "mmcblk0", repo: []string{"mmcblk0"}},
		{name: "USB stick when booted from an initramfs", src: fixture("pc", "-initramfs"), node: "sdb", maj: 8, min: 16, disk: "sdb",
			repo: []string{"sdb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := node(t, tc.node, tc.maj, tc.min)
			repo := fixtureRepo(t, tc.src, tc.repo...)
			dev, err := safety.CheckRestoreTarget(tc.src, target, repo)
			if dev.Path != target || !dev.Exists || dev.Disk == nil || dev.Disk.Name != tc.disk {
				t.Errorf("Device = %+v; want %s, existing, disk %s", dev, target, tc.disk)
			}
			if tc.want == nil {
				allowed(t, "restore to "+tc.name, err)
				return
			}
			refused(t, "restore to "+tc.name, err, append([]string{target}, tc.want...)...)
			for _, s := range tc.notIn {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("refusal %q says %q", err, s)
				}
			}
		})
	}
}

func TestCaptureFixtures(t *testing.T) {
	pc := fixture("pc", "")
	tests := []struct {
		name     string
		node     string
		maj, min uint32
		disk     string
		refusal  []string // refused unless mounted disks are allowed
		warning  []string // the warning when they are
	}{
		{name: "mounted data disk", node: "sda", maj: 8, min: 0, disk: "sda",
			refusal: []string{"Samsung SSD 870", "is mounted (/mnt/data disk, /srv/backups, [SWAP])", "--allow-mounted"},
			warning: []string{"/mnt/data disk, /srv/backups", "inconsistent"}},
		{name: "running system", node: "nvme0n1", maj: 259, min: 0, disk: "nvme0n1",
			refusal: []string{"is mounted (/, /boot, /boot/efi, [SWAP])"},
			warning: []string{"/, /boot, /boot/efi"}},
		{name: "partition of a mounted disk", node: "sda1", maj: 8, min: 1, disk: "sda",
			refusal: []string{"/mnt/data disk"},
			warning: []string{"/mnt/data disk"}},
		{name: "free USB stick", node: "sdb", maj: 8, min: 16, disk: "sdb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			source := node(t, tc.node, tc.maj, tc.min)
			repo := fixtureRepo(t, pc, tc.disk)
			dev, warnings, err := safety.CheckCaptureSource(pc, source, repo, false)
			if dev.Path != source || !dev.Exists || dev.Disk == nil || dev.Disk.Name != tc.disk {
				t.Errorf("Device = %+v; want %s, existing, disk %s", dev, source, tc.disk)
			}
			if tc.refusal == nil {
				allowed(t, "capture of "+tc.name, err)
			} else {
				refused(t, "capture of "+tc.name, err, append([]string{source}, tc.refusal...)...)
			}
			if warnings != nil {
				t.Errorf("warnings without --allow-mounted: %q", warnings)
			}

			_, warnings, err = safety.CheckCaptureSource(pc, source, repo, true)
			allowed(t, "capture of "+tc.name+" with mounted disks allowed", err)
			if tc.warning == nil {
				if warnings != nil {
					t.Errorf("warnings for a disk not mounted: %q", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("warnings = %q; want one", warnings)
			}
			for _, w := range tc.warning {
				if !strings.Contains(warnings[0], w) {
					t.Errorf("warning %q does not say %q", warnings[0], w)
				}
			}
		})
	}
}

// A disk the kernel does not know is an error, not a refusal and not a
// pass.
func TestUnknownDevice(t *testing.T) {
	pc := fixture("pc", "")
	target := node(t, "ghost", 8, 99)
	repo := t.TempDir()
	if _, err := safety.CheckRestoreTarget(pc, target, repo); err == nil || errors.Is(err, safety.ErrRefused) || !strings.Contains(err.Error(), target) {
		t.Errorf("restore to an unknown device: %v; want an error naming %s", err, target)
	}
	if _, _, err := safety.CheckCaptureSource(pc, target, repo, true); err == nil || errors.Is(err, safety.ErrRefused) || !strings.Contains(err.Error(), target) {
		t.Errorf("capture of an unknown device: %v; want an error naming %s", err, target)
	}
}

func TestFiles(t *testing.T) {
	src := inventory.DefaultSource()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "old.img")
	if err := os.WriteFile(existing, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	inRepo := filepath.Join(repo, "chunks", "abc")
	if err := os.WriteFile(inRepo, []byte("chunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link outside the repository to a file in it: writing the link
	// writes the repository.
	link := filepath.Join(dir, "link.img")
	if err := os.Symlink(inRepo, link); err != nil {
		t.Fatal(err)
	}
	// A link in the repository to a file outside it is still named inside.
	outLink := filepath.Join(repo, "out.img")
	if err := os.Symlink(existing, outLink); err != nil {
		t.Fatal(err)
	}
	// The repository named through a link to it.
	repoLink := filepath.Join(dir, "repo-link")
	if err := os.Symlink(repo, repoLink); err != nil {
		t.Fatal(err)
	}

	t.Run("restore", func(t *testing.T) {
		newFile := filepath.Join(dir, "new.img")
		dev, err := safety.CheckRestoreTarget(src, newFile, repo)
		allowed(t, "restore to a new file", err)
		if dev.Path != newFile || dev.Exists || dev.Disk != nil {
			t.Errorf("new file: Device = %+v", dev)
		}
		dev, err = safety.CheckRestoreTarget(src, existing, repo)
		allowed(t, "restore to an existing file", err)
		if dev.Path != existing || !dev.Exists || dev.Disk != nil {
			t.Errorf("existing file: Device = %+v", dev)
		}
		if _, err := safety.CheckRestoreTarget(src, existing, ""); err != nil {
			t.Errorf("restore to a file with no repository given: %v", err)
		}
		// A sibling whose name starts like the repository is not in it.
		_, err = safety.CheckRestoreTarget(src, repo+"-other.img", repo)
		allowed(t, "restore beside the repository", err)

		for _, c := range []struct{ target, repo string }{
			{filepath.Join(repo, "new.img"), repo},
			{inRepo, repo},
			{filepath.Join(repo, "chunks", "new"), repo},
			{repo, repo},
			{filepath.Join(repo, "..", "repo", "x.img"), repo},
			{filepath.Join(repo, "x.img"), repoLink},
			{filepath.Join(repoLink, "x.img"), repo},
			{link, repo},
			{outLink, repo},
		} {
			_, err := safety.CheckRestoreTarget(src, c.target, c.repo)
			refused(t, fmt.Sprintf("restore to %s with repository %s", c.target, c.repo), err,
				c.target, "inside the repository "+c.repo)
		}
	})

	t.Run("capture", func(t *testing.T) {
		dev, warnings, err := safety.CheckCaptureSource(src, existing, repo, false)
		allowed(t, "capture of a file", err)
		if dev.Path != existing || !dev.Exists || dev.Disk != nil || warnings != nil {
			t.Errorf("capture of a file: Device = %+v, warnings %q", dev, warnings)
		}
		missing := filepath.Join(dir, "missing.img")
		_, _, err = safety.CheckCaptureSource(src, missing, repo, false)
		if err == nil || errors.Is(err, safety.ErrRefused) || !strings.Contains(err.Error(), missing) {
			t.Errorf("capture of a missing file: %v; want an error naming it", err)
		}
		for _, source := range []string{inRepo, link} {
			_, _, err := safety.CheckCaptureSource(src, source, repo, true)
			refused(t, "capture of "+source, err, source, "inside the repository "+repo)
		}
	})
}

// loop attaches a new sparse file as a loop device; extra losetup flags
// come first.
func loop(t *testing.T, size int64, flags ...string) (dev, file string) {
	t.Helper()
	testutil.Root(t)
	file = testutil.Sparse(t, "disk.img", size)
	if len(flags) == 0 {
		return testutil.Loop(t, file, 0), file
	}
	args := append(append([]string{}, flags...), "-f", "--show", file)
	dev = strings.TrimSpace(testutil.Run(t, "losetup", args...))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v %s", dev, err, out)
		}
	})
	return dev, file
}

// mountExt4 makes an ext4 file system on the whole of dev and mounts it at
// a new directory whose name has a space; it is unmounted when the test
// ends.
func mountExt4(t *testing.T, dev string) string {
	t.Helper()
	testutil.Run(t, "mkfs.ext4", "-q", dev)
	mnt := filepath.Join(t.TempDir(), "mount point")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", dev, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// withoutMounts returns the running system's Source with a mountinfo that
// leaves out the file systems on the given devices, as if they were not
// mounted, so that the checks that come after the mount check can be seen.
func withoutMounts(t *testing.T, devs ...string) inventory.Source {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, d := range devs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		nums = append(nums, fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	}
	var keep []string
	dropped := 0
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && slices.Contains(nums, f[2]) {
			dropped++
			continue
		}
		keep = append(keep, l)
	}
	if dropped != len(devs) {
		t.Fatalf("mountinfo has %d lines for %v, want one each", dropped, devs)
	}
	p := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(p, []byte(strings.Join(keep, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	src := inventory.DefaultSource()
	src.MountInfo = p
	return src
}

func TestLoopFree(t *testing.T) {
	dev, file := loop(t, 32*MiB)
	repo := t.TempDir()
	src := inventory.DefaultSource()
	d, err := safety.CheckRestoreTarget(src, dev, repo)
	allowed(t, "restore to a free loop device", err)
	if d.Disk == nil || d.Disk.Path != dev || d.Disk.BackingFile != file || !d.Exists {
		t.Errorf("Device = %+v; want %s backed by %s", d, dev, file)
	}
	if got, want := d.Describe(), dev+" (loop)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	_, warnings, err := safety.CheckCaptureSource(src, dev, repo, false)
	allowed(t, "capture of a free loop device", err)
	if warnings != nil {
		t.Errorf("warnings = %q", warnings)
	}
	// The repository may live in the same file system as the loop device's
	// backing file: the loop device is not that disk.
	_, err = safety.CheckRestoreTarget(src, dev, filepath.Dir(file))
	allowed(t, "restore to a loop device with the repository beside its backing file", err)
}

func TestLoopReadOnly(t *testing.T) {
	dev, _ := loop(t, 32*MiB, "-r")
	_, err := safety.CheckRestoreTarget(inventory.DefaultSource(), dev, t.TempDir())
	refused(t, "restore to a read-only loop device", err, dev, "read-only")
}

func TestLoopMounted(t *testing.T) {
	dev, _ := loop(t, 32*MiB)
	mnt := mountExt4(t, dev)
	src := inventory.DefaultSource()
	elsewhere := t.TempDir()

	_, err := safety.CheckRestoreTarget(src, dev, elsewhere)
	refused(t, "restore to a mounted loop device", err, dev, "in use", "mounted at "+mnt+" ("+filepath.Base(dev)+")")

	_, warnings, err := safety.CheckCaptureSource(src, dev, elsewhere, false)
	refused(t, "capture of a mounted loop device", err, dev, "is mounted ("+mnt+")", "--allow-mounted")
	if warnings != nil {
		t.Errorf("warnings with a refusal: %q", warnings)
	}
	_, warnings, err = safety.CheckCaptureSource(src, dev, elsewhere, true)
	allowed(t, "capture of a mounted loop device with --allow-mounted", err)
	if len(warnings) != 1 || !strings.Contains(warnings[0], mnt) {
		t.Errorf("warnings = %q; want one naming %s", warnings, mnt)
	}
}

// The repository is on the disk: the restore target is mounted, so it is
// refused for that; capture is refused because of where the repository is,
// even when mounted disks are allowed.
func TestRepositoryOnLoop(t *testing.T) {
	dev, _ := loop(t, 32*MiB)
	mnt := mountExt4(t, dev)
	repo := filepath.Join(mnt, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	src := inventory.DefaultSource()

	_, err := safety.CheckRestoreTarget(src, dev, repo)
	refused(t, "restore onto the disk of the repository", err, dev, "mounted at "+mnt)

	for _, allow := range []bool{false, true} {
		_, warnings, err := safety.CheckCaptureSource(src, dev, repo, allow)
		refused(t, fmt.Sprintf("capture into a repository on the disk (allow mounted %v)", allow), err,
			"the repository "+repo+" is on "+dev, "the disk being captured", "another disk")
		if warnings != nil {
			t.Errorf("warnings with a refusal: %q", warnings)
		}
	}
	// A repository not made yet is judged by where it would be made.
	later := filepath.Join(repo, "not", "yet")
	_, _, err = safety.CheckCaptureSource(src, dev, later, true)
	refused(t, "capture into a repository to be made on the disk", err, "the repository "+later+" is on "+dev)
}

// The repository is on the target and nothing else is wrong with it: the
// mount is left out of the mount table the checks read, so the only reason
// left is where the repository lives.
func TestRestoreOntoRepositoryDisk(t *testing.T) {
	dev, _ := loop(t, 32*MiB)
	mnt := mountExt4(t, dev)
	repo := filepath.Join(mnt, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	src := withoutMounts(t, dev)
	d, ok, err := inventory.Lookup(src, dev)
	if err != nil || !ok || len(d.InUse()) != 0 {
		t.Fatalf("precondition: %s seen as in use %q (ok %v, %v)", dev, d.InUse(), ok, err)
	}

	_, err = safety.CheckRestoreTarget(src, dev, repo)
	refused(t, "restore onto the disk of the repository", err,
		"the repository "+repo+" is on "+dev, "overwrite the image being read")
	later := filepath.Join(repo, "not", "yet")
	_, err = safety.CheckRestoreTarget(src, dev, later)
	refused(t, "restore onto the disk of a repository to be made", err, "the repository "+later+" is on "+dev)
	_, err = safety.CheckRestoreTarget(src, dev, t.TempDir())
	allowed(t, "restore with the repository on another disk", err)

	// Two levels down: the repository is on a loop device whose backing
	// file lives on the target.
	inner := filepath.Join(mnt, "inner.img")
	if f, err := os.Create(inner); err != nil {
		t.Fatal(err)
	} else {
		if err := f.Truncate(16 * MiB); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	dev2 := testutil.Loop(t, inner, 0)
	mnt2 := mountExt4(t, dev2)
	src = withoutMounts(t, dev, dev2)
	_, err = safety.CheckRestoreTarget(src, dev, mnt2)
	refused(t, "restore onto the disk under the repository's loop device", err, "the repository "+mnt2+" is on "+dev)
	_, _, err = safety.CheckCaptureSource(src, dev, mnt2, true)
	refused(t, "capture of the disk under the repository's loop device", err, "the repository "+mnt2+" is on "+dev)
}
