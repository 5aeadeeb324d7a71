package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FileInfo describes one entry of a file system's tree: what FilledDisk
// put there, or what WalkTree found.
type FileInfo struct {
	Path    string // slash-separated, relative to the file system's root
	Dir     bool
	Symlink string // the link's target; "" when not a symbolic link
	Size    int64  // 0 for directories and links
	SHA256  string // of a regular file's content; "" otherwise
	ModTime time.Time
}

// FilledPart is one partition of a FilledDisk: its number, file system
// type ("ext4", "vfat", "exfat", "ntfs", "xfs", "btrfs"), label, byte
// range in the image, and the entries put on it, sorted by Path.
type FilledPart struct {
	Number      int
	FSType      string
	Label       string
	Start, Size int64
	Files       []FileInfo
}

// Reporter is the part of testing.TB that CompareTree reports through, so
// that a test can check what it reports.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

const mib = 1 << 20

// filledLayout is FilledDisk's partition table: sizes are the smallest
// each mkfs accepts, rounded up (mkfs.xfs wants more than 300 MB, btrfs
// 114 MiB; FAT32 needs 65525 clusters).
var filledLayout = []struct {
	fstype, label, gptType string
	size                   int64
	mkfs                   []string // the device is appended
}{
	{"ext4", "LBEXT4", "8300", 48 * mib, []string{"mkfs.ext4", "-q", "-F", "-L", "LBEXT4"}},
	{"vfat", "LBFAT", "0700", 64 * mib, []string{"mkfs.vfat", "-F", "32", "-n", "LBFAT"}},
	{"exfat", "LBEXFAT", "0700", 32 * mib, []string{"mkfs.exfat", "-L", "LBEXFAT"}},
	{"ntfs", "LBNTFS", "0700", 32 * mib, []string{"mkfs.ntfs", "-q", "-f", "-Q", "-L", "LBNTFS"}},
	{"xfs", "LBXFS", "8300", 320 * mib, []string{"mkfs.xfs", "-q", "-f", "-L", "LBXFS"}},
	{"btrfs", "LBBTRFS", "8300", 128 * mib, []string{"mkfs.btrfs", "-q", "-f", "-L", "LBBTRFS"}},
}

// FilledDisk makes a sparse disk image file (GPT) with six partitions,
// each holding a file system made by its own mkfs and filled with the
// same tree of files: 1 ext4 "LBEXT4", 2 FAT32 "LBFAT", 3 exFAT
// "LBEXFAT", 4 NTFS "LBNTFS", 5 XFS "LBXFS", 6 btrfs "LBBTRFS".
//
// The tree has directories three deep, small files of random content, an
// empty file, a 3 MiB random file, a 9 MiB file random in its first half
// and zero in its second, names with spaces and non-ASCII letters, and
// distinct modification times on even seconds (FAT keeps two-second
// ones). ext4, XFS and btrfs also get a symbolic link. The content is the
// same on every run. ext4, XFS and btrfs are filled through the kernel,
// FAT with mtools, exFAT through exfat-fuse and NTFS through ntfs-3g,
// each through a loop device over its partition's bytes; each file
// system's checker then has to find it clean. Blocks of the image that
// are all zero are left as holes: it takes about 50 MiB of its 626.
//
// It returns the image's path and what each partition holds.
func FilledDisk(t testing.TB, name string) (string, []FilledPart) {
	t.Helper()
	Root(t)
	for _, tool := range []string{"sgdisk", "losetup", "cp", "mount", "umount", "mkfs.ext4", "mkfs.vfat", "mkfs.exfat", "mkfs.ntfs", "mkfs.xfs", "mkfs.btrfs",
		"mcopy", "mount.exfat-fuse", "ntfs-3g", "e2fsck", "fsck.vfat", "fsck.exfat", "ntfsfix", "xfs_repair", "btrfs"} {
		Tool(t, tool)
	}
	total := int64(2 * mib) // the GPTs at both ends
	for _, l := range filledLayout {
		total += l.size
	}
	img := Sparse(t, name, total)
	args := []string{"-a", "2048"}
	var parts []FilledPart
	start := int64(mib)
	for i, l := range filledLayout {
		n := i + 1
		args = append(args, fmt.Sprintf("-n%d:%d:%d", n, start/512, (start+l.size)/512-1), fmt.Sprintf("-t%d:%s", n, l.gptType), fmt.Sprintf("-c%d:%s", n, l.label))
		parts = append(parts, FilledPart{Number: n, FSType: l.fstype, Label: l.label, Start: start, Size: l.size})
		start += l.size
	}
	Run(t, "sgdisk", append(args, img)...)
	t.Cleanup(func() { detachAllOver(t, img) })

	src := t.TempDir()
	tree := makeTree(t, src)
	for i := range parts {
		p := &parts[i]
		for _, f := range tree {
			if f.Symlink != "" && !keepsSymlinks(p.FSType) {
				continue
			}
			p.Files = append(p.Files, f)
		}
		fillPartition(t, img, *p, filledLayout[i].mkfs, src)
	}
	// mkfs.xfs zeroes a 64 MiB log, and a loop device zeroes by
	// allocating unwritten extents in the image, which neither
	// SEEK_DATA nor fallocate --dig-holes sees: a sparse copy keeps only
	// the blocks that are not all zero.
	Copy(t, img, img+".sparse")
	if err := os.Rename(img+".sparse", img); err != nil {
		t.Fatal(err)
	}
	return img, parts
}

// keepsSymlinks says whether FilledDisk puts the symbolic link on a file
// system of this type.
func keepsSymlinks(fstype string) bool {
	return fstype == "ext4" || fstype == "xfs" || fstype == "btrfs"
}

// fillPartition makes p's file system, copies the tree in src onto it and
// checks it, all through one loop device over p's bytes of img.
func fillPartition(t testing.TB, img string, p FilledPart, mkfs []string, src string) {
	t.Helper()
	dev := AttachAt(t, img, p.Start, p.Size)
	defer DetachOver(t, dev, img, p.Start)
	Run(t, mkfs[0], append(mkfs[1:], dev)...)
	switch p.FSType {
	case "vfat":
		noLinks := t.TempDir() // mcopy would copy what a link points to
		copyTree(t, src, noLinks, false)
		ents, err := os.ReadDir(noLinks)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"-s", "-m", "-Q", "-i", dev}
		for _, e := range ents {
			args = append(args, filepath.Join(noLinks, e.Name()))
		}
		runEnv(t, []string{"LC_ALL=C.UTF-8"}, "mcopy", append(args, "::/")...)
	case "exfat", "ntfs":
		prog := map[string]string{"exfat": "mount.exfat-fuse", "ntfs": "ntfs-3g"}[p.FSType]
		WithFUSE(t, prog, dev, false, func(dir string) { copyTree(t, src, dir, false) })
	default:
		mnt := t.TempDir()
		Run(t, "mount", "-t", p.FSType, dev, mnt)
		copyTree(t, src, mnt, true)
		Run(t, "umount", mnt)
	}
	check := map[string][]string{
		"ext4":  {"e2fsck", "-fn"},
		"vfat":  {"fsck.vfat", "-n"},
		"exfat": {"fsck.exfat", "-n"},
		"ntfs":  {"ntfsfix", "-n"},
		"xfs":   {"xfs_repair", "-n"},
		"btrfs": {"btrfs", "check", "--readonly"},
	}[p.FSType]
	out, err := exec.Command(check[0], append(check[1:], dev)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s on partition %d (%s) of %s at offset %d: %v\n%s", strings.Join(check, " "), p.Number, p.FSType, img, p.Start, err, out)
	}
}

// runEnv is Run with extra environment variables.
func runEnv(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// AttachAt attaches size bytes of file from off as a loop device; the
// device is detached when the test ends if it is still over file then.
func AttachAt(t testing.TB, file string, off, size int64) string {
	t.Helper()
	Root(t)
	dev := strings.TrimSpace(Run(t, "losetup", "-f", "--show", "-o", strconv.FormatInt(off, 10), "--sizelimit", strconv.FormatInt(size, 10), file))
	t.Cleanup(func() { DetachOver(t, dev, file, off) })
	return dev
}

// DetachOver detaches the loop device dev if it is still over file at
// off: once detached, the same name may be another test's device.
func DetachOver(t testing.TB, dev, file string, off int64) {
	t.Helper()
	if !loopOver(dev, file, off) {
		return
	}
	if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
		t.Errorf("detach %s (over %s at offset %d): %v %s", dev, file, off, err, out)
	}
}

// loopOver says whether the loop device dev is attached over file at off.
func loopOver(dev, file string, off int64) bool {
	sys := "/sys/block/" + filepath.Base(dev) + "/loop/"
	b, err := os.ReadFile(sys + "backing_file")
	if err != nil {
		return false
	}
	if strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)") != file {
		return false
	}
	o, err := os.ReadFile(sys + "offset")
	return err == nil && strings.TrimSpace(string(o)) == strconv.FormatInt(off, 10)
}

// detachAllOver detaches every loop device still over file (left by a
// test that failed half way).
func detachAllOver(t testing.TB, file string) {
	t.Helper()
	out, err := exec.Command("losetup", "-j", file).Output()
	if err != nil {
		t.Errorf("losetup -j %s: %v", file, err)
		return
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dev, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if o, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/offset"); err == nil {
			if off, err := strconv.ParseInt(strings.TrimSpace(string(o)), 10, 64); err == nil {
				DetachOver(t, dev, file, off)
			}
		}
	}
}

// WithFUSE mounts the file system on dev with a FUSE program
// (mount.exfat-fuse or ntfs-3g; read-only with ro), runs fn on the mount
// point, unmounts it and waits for the program to exit, so that what it
// held is written out when WithFUSE returns.
func WithFUSE(t testing.TB, prog, dev string, ro bool, fn func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	args := []string{dev, dir}
	if ro {
		args = append([]string{"-o", "ro"}, args...)
	}
	cmd := exec.Command(prog, args...)
	cmd.WaitDelay = 5 * time.Second // the daemon it leaves keeps the output open
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	mounted := true
	defer func() {
		if mounted { // fn failed the test
			exec.Command("umount", dir).Run()
		}
	}()
	fn(dir)
	mounted = false
	Run(t, "umount", dir)
	for deadline := time.Now().Add(30 * time.Second); daemonOn(dir); {
		if time.Now().After(deadline) {
			t.Fatalf("%s for %s on %s did not exit after the unmount", prog, dev, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemonOn says whether a process runs whose last argument is the mount
// point dir: a FUSE program that has not finished.
func daemonOn(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[len(args)-1] == dir {
			return true
		}
	}
	return false
}

// treeEntry is one entry of FilledDisk's tree: a directory (dir), a
// symbolic link (link), or a file of size bytes, random in its first
// random bytes and zero after.
type treeEntry struct {
	path         string
	dir          bool
	link         string
	size, random int64
}

// filledTree lists FilledDisk's tree, parents before children. A name
// with non-ASCII letters is kept from fitting 8.3 (a space, a long name),
// so that FAT holds it as a long name: "café" would be the short name
// CAFÉ with the lowercase flag, which mcopy -s writes but reads back as
// "cafÉ".
func filledTree() []treeEntry {
	e := []treeEntry{
		{path: "docs", dir: true},
		{path: "docs/2026", dir: true},
		{path: "docs/2026/Q1", dir: true},
		{path: "café crème", dir: true},
		{path: "café crème/Ärger & Ölpreis", dir: true},
		{path: "café crème/Ärger & Ölpreis/ñandú y ñu", dir: true},
		{path: "photos", dir: true},
		{path: "empty dir", dir: true},
		{path: "Überweisung 2026.txt", size: 1234},
		{path: "café crème/menü für heute.odt", size: 4096},
		{path: "empty", size: 0},
		{path: "photos/big 3MiB.bin", size: 3 * mib, random: 3 * mib},
		{path: "docs/2026/half zero 9MiB.img", size: 9 * mib, random: 9 * mib / 2},
		{path: "link to menü", link: "café crème/menü für heute.odt"},
	}
	dirs := []string{"", "docs", "docs/2026", "docs/2026/Q1", "café crème", "café crème/Ärger & Ölpreis", "café crème/Ärger & Ölpreis/ñandú y ñu", "photos"}
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 40 {
		size := int64(1 + r.IntN(5000))
		if i%7 == 0 {
			size = int64(1 + r.IntN(16)) // a few bytes
		}
		e = append(e, treeEntry{path: path.Join(dirs[i%len(dirs)], fmt.Sprintf("file %02d – größe %d.dat", i, size)), size: size, random: size})
	}
	return e
}

// makeTree makes filledTree in dir, with content from a fixed seed and
// distinct modification times on even seconds, and returns its
// description sorted by path.
func makeTree(t testing.TB, dir string) []FileInfo {
	t.Helper()
	entries := filledTree()
	r := rand.New(rand.NewPCG(2026, 12))
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.path))
		var err error
		switch {
		case e.dir:
			err = os.Mkdir(p, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, p)
		default:
			data := make([]byte, e.size)
			for i := range e.random {
				data[i] = byte(r.Uint32())
			}
			err = os.WriteFile(p, data, 0o644)
		}
		if err != nil {
			t.Fatalf("make test tree: %v", err)
		}
	}
	// Times go on after the content, children before their directories.
	base := time.Date(2019, 3, 4, 10, 20, 30, 0, time.UTC)
	for i := len(entries) - 1; i >= 0; i-- {
		mt := base.Add(time.Duration(i)*(37*time.Hour+14*time.Minute+26*time.Second) + time.Duration(i%3)*2*time.Second)
		p := filepath.Join(dir, filepath.FromSlash(entries[i].path))
		ts := []unix.Timeval{unix.NsecToTimeval(mt.UnixNano()), unix.NsecToTimeval(mt.UnixNano())}
		if err := unix.Lutimes(p, ts); err != nil {
			t.Fatalf("set the time of %s: %v", p, err)
		}
	}
	return WalkTree(t, dir)
}

// copyTree copies the tree in src into dst (the root of a mounted file
// system), keeping modification times; links are copied when links is
// set, left out otherwise. File contents are written out in full, with
// no holes.
func copyTree(t testing.TB, src, dst string, links bool) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			dirs = append(dirs, rel)
			return os.Mkdir(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			if !links {
				return nil
			}
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
			return setTime(p, to)
		default:
			if err := copyFile(p, to); err != nil {
				return err
			}
			return setTime(p, to)
		}
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
	for _, rel := range slices.Backward(dirs) {
		if err := setTime(filepath.Join(src, rel), filepath.Join(dst, rel)); err != nil {
			t.Fatalf("copy %s to %s: %v", src, dst, err)
		}
	}
}

// copyFile copies a regular file's content with plain reads and writes.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	// Hidden behind plain interfaces, so that no copy_file_range or
	// sendfile makes holes of the zeros.
	_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 256<<10))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}

// setTime gives to (not followed when a link) the modification time of
// from.
func setTime(from, to string) error {
	var st unix.Stat_t
	if err := unix.Lstat(from, &st); err != nil {
		return fmt.Errorf("stat %s: %w", from, err)
	}
	tv := unix.NsecToTimeval(st.Mtim.Nano())
	if err := unix.Lutimes(to, []unix.Timeval{tv, tv}); err != nil {
		return fmt.Errorf("set the time of %s: %w", to, err)
	}
	return nil
}

// skipped says whether WalkTree leaves out the entry at the slash path
// rel: a file system's own directories at its root.
func skipped(rel string) bool {
	switch rel {
	case "lost+found", "System Volume Information", "$RECYCLE.BIN":
		return true
	}
	return false
}

// walk describes the tree under root, sorted by Path.
func walk(root string) ([]FileInfo, error) {
	var files []FileInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skipped(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		f := FileInfo{Path: rel, ModTime: fi.ModTime()}
		switch {
		case fi.IsDir():
			f.Dir = true
		case fi.Mode()&fs.ModeSymlink != 0:
			if f.Symlink, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			f.Size = fi.Size()
			if f.SHA256, err = hashOf(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is neither a file, a directory nor a link (%v)", p, fi.Mode())
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	slices.SortFunc(files, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func hashOf(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WalkTree describes the tree under root (a mounted file system, say),
// sorted by Path, leaving out the file system's own directories at its
// root: lost+found, "System Volume Information" and "$RECYCLE.BIN".
func WalkTree(t testing.TB, root string) []FileInfo {
	t.Helper()
	files, err := walk(root)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TimePrecision is the precision at which a file system of type fstype
// keeps modification times (as FilledPart.FSType names it): two seconds
// for FAT, taken as one second for the others.
func TimePrecision(fstype string) time.Duration {
	if fstype == "vfat" {
		return 2 * time.Second
	}
	return time.Second
}

// CompareTree reports through t every difference between want and the
// tree under root: entries missing or extra, a directory, link or file
// where another was wanted, a file's size or content, a link's target,
// and modification times further apart than the file system's precision
// (TimePrecision of fstype).
func CompareTree(t Reporter, want []FileInfo, root, fstype string) {
	t.Helper()
	got, err := walk(root)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	prec := TimePrecision(fstype)
	wants := make(map[string]FileInfo, len(want))
	for _, w := range want {
		wants[w.Path] = w
	}
	kind := func(f FileInfo) string {
		switch {
		case f.Dir:
			return "a directory"
		case f.Symlink != "":
			return "a link"
		}
		return "a file"
	}
	for _, g := range got {
		w, ok := wants[g.Path]
		if !ok {
			t.Errorf("%s (%s): extra %s %q", root, fstype, kind(g), g.Path)
			continue
		}
		delete(wants, g.Path)
		if kind(g) != kind(w) {
			t.Errorf("%s (%s): %q is %s, want %s", root, fstype, g.Path, kind(g), kind(w))
			continue
		}
		if g.Symlink != w.Symlink {
			t.Errorf("%s (%s): link %q points to %q, want %q", root, fstype, g.Path, g.Symlink, w.Symlink)
		}
		if g.Size != w.Size {
			t.Errorf("%s (%s): %q has %d bytes, want %d", root, fstype, g.Path, g.Size, w.Size)
		} else if g.SHA256 != w.SHA256 {
			t.Errorf("%s (%s): %q has other content: SHA-256 %s, want %s", root, fstype, g.Path, g.SHA256, w.SHA256)
		}
		if d := g.ModTime.Sub(w.ModTime).Abs(); d >= prec {
			t.Errorf("%s (%s): %q was modified %v, want %v (%v apart, precision %v)", root, fstype, g.Path, g.ModTime.UTC(), w.ModTime.UTC(), d, prec)
		}
	}
	for _, w := range want {
		if _, ok := wants[w.Path]; ok {
			t.Errorf("%s (%s): missing %s %q", root, fstype, kind(w), w.Path)
		}
	}
}
