package engine

// Used-block round trips of real file systems, made, filled and checked
// with their own tools on loop devices.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// fsCase is one file system to round-trip.
type fsCase struct {
	name    string
	typ     string // fsprobe's name for it
	size    int64  // partition size
	mkfs    []string
	fill    string // how files get in: mount, mkfs-d, mtools, ntfs-3g, exfat-fuse
	snap    string // how files are read back: debugfs, mount, mtools, ntfs-3g, exfat-fuse
	check   []string
	dataMiB int
	// mapped: a used-blocks capture is expected; otherwise every sector,
	// and the partition is not filled with garbage first.
	mapped bool
}

var e2fsck = []string{"e2fsck", "-fn"}

func fsCases() []fsCase {
	ext := func(name, mkfs string, size int64, extra ...string) fsCase {
		return fsCase{name: name, typ: strings.TrimPrefix(mkfs, "mkfs."), size: size,
			mkfs: append([]string{mkfs, "-q", "-F", "-E", "nodiscard"}, extra...),
			fill: "mount", snap: "debugfs", check: e2fsck, dataMiB: 24, mapped: true}
	}
	big := ext("ext4-64k-blocks", "mkfs.ext4", 160*MiB, "-b", "65536")
	big.fill = "mkfs-d" // the kernel cannot mount blocks larger than a page
	return []fsCase{
		ext("ext4", "mkfs.ext4", 96*MiB, "-b", "4096"),
		ext("ext4-1k-32bit-noflex", "mkfs.ext4", 64*MiB, "-b", "1024", "-O", "^64bit,^flex_bg"),
		ext("ext4-meta_bg", "mkfs.ext4", 96*MiB, "-b", "1024", "-g", "1024", "-O", "meta_bg,^resize_inode"),
		ext("ext4-sparse_super2", "mkfs.ext4", 96*MiB, "-b", "4096", "-g", "4096", "-O", "sparse_super2"),
		ext("ext4-bigalloc", "mkfs.ext4", 128*MiB, "-b", "4096", "-O", "bigalloc", "-C", "65536"),
		ext("ext4-gdt_csum", "mkfs.ext4", 64*MiB, "-b", "2048", "-O", "^metadata_csum,uninit_bg"),
		big,
		ext("ext3", "mkfs.ext3", 64*MiB),
		ext("ext2", "mkfs.ext2", 64*MiB),
		{name: "FAT12", typ: "vfat", size: 8 * MiB, mkfs: []string{"mkfs.vfat", "-F", "12", "-s", "4"},
			fill: "mtools", snap: "mtools", check: []string{"fsck.vfat", "-n"}, dataMiB: 3, mapped: true},
		{name: "FAT16", typ: "vfat", size: 64 * MiB, mkfs: []string{"mkfs.vfat", "-F", "16"},
			fill: "mtools", snap: "mtools", check: []string{"fsck.vfat", "-n"}, dataMiB: 20, mapped: true},
		{name: "FAT32", typ: "vfat", size: 48 * MiB, mkfs: []string{"mkfs.vfat", "-F", "32", "-s", "1"},
			fill: "mtools", snap: "mtools", check: []string{"fsck.vfat", "-n"}, dataMiB: 16, mapped: true},
		{name: "exFAT", typ: "exfat", size: 64 * MiB, mkfs: []string{"mkfs.exfat"},
			fill: "exfat-fuse", snap: "exfat-fuse", check: []string{"fsck.exfat", "-n"}, dataMiB: 20, mapped: true},
		{name: "NTFS", typ: "ntfs", size: 64 * MiB, mkfs: []string{"mkfs.ntfs", "-q", "-f", "-F"},
			fill: "ntfs-3g", snap: "ntfs-3g", check: []string{"ntfsfix", "-n"}, dataMiB: 20, mapped: true},
		{name: "XFS", typ: "xfs", size: 300 * MiB, mkfs: []string{"mkfs.xfs", "-q", "-f"},
			fill: "mount", snap: "mount", check: []string{"xfs_repair", "-n"}, dataMiB: 8},
		{name: "btrfs", typ: "btrfs", size: 128 * MiB, mkfs: []string{"mkfs.btrfs", "-q", "-f"},
			fill: "mount", snap: "mount", check: []string{"btrfs", "check"}, dataMiB: 8},
	}
}

// TestFileSystemRoundTrip captures each file system with only its used
// blocks, restores it onto a disk full of garbage, and checks that the
// checker is clean, every file and its metadata match, the used bytes are
// identical, and the image holds little more than the files.
func TestFileSystemRoundTrip(t *testing.T) {
	testutil.Root(t)
	for _, c := range fsCases() {
		t.Run(c.name, func(t *testing.T) {
			testFileSystem(t, c)
		})
	}
}

func testFileSystem(t *testing.T, c fsCase) {
	dir := t.TempDir()
	const start = MiB
	src := filepath.Join(dir, "src.img")
	mk(t, src, c.size+2*MiB)
	partitionDisk(t, src, start, c.size)
	if c.mapped {
		garbage(t, src, start, c.size, 1)
	}
	dev := loopPart(t, src, start, c.size)
	tree := filepath.Join(dir, "tree")
	mkfs := append([]string(nil), c.mkfs...)
	var files []string
	var live int64
	if c.fill == "mkfs-d" {
		files, live = writeTree(t, tree, c.dataMiB, 7)
		mkfs = append(mkfs, "-d", tree)
	}
	testutil.Run(t, mkfs[0], append(mkfs[1:], dev)...)
	if c.fill != "mkfs-d" {
		files, live = fillFS(t, c, dev, tree)
	} else {
		live -= deleteFiles(t, c, dev, tree, files)
	}
	want := snapshot(t, c, dev)
	toolUsed := int64(-1)
	if c.snap == "debugfs" {
		toolUsed = extUsed(t, dev)
	}
	detach(t, dev)

	r := newRepo(t)
	m := capture(t, r, src, "img", CaptureOptions{})
	p := m.Table.Partitions[0]
	if p.FileSystem != c.typ {
		t.Errorf("partition holds %q, capture says %q", c.typ, p.FileSystem)
	}
	st := m.Stats
	t.Logf("%s: %s; files %.1f MiB, read %.1f MiB, stored %.1f MiB, partition %d MiB",
		c.name, p.Capture, mib(live), mib(st.BytesRead), mib(st.StoredBytes), c.size/MiB)
	if c.mapped {
		if !strings.HasPrefix(p.Capture, "used blocks") {
			t.Fatalf("capture of %s: %s, want used blocks", c.name, p.Capture)
		}
		// ext says how much it uses: the map must say the same.
		if toolUsed >= 0 && p.UsedBytes != toolUsed {
			t.Errorf("capture read %d bytes of the partition, dumpe2fs says %d are used", p.UsedBytes, toolUsed)
		}
		// The files are random bytes; a little metadata comes with them
		// (and ext's inode tables and journal, which mke2fs leaves as the
		// disk had them).
		limit := live + live/20 + 3*MiB
		if toolUsed >= 0 {
			limit = toolUsed + MiB
		}
		if st.StoredBytes > limit {
			t.Errorf("image stores %d bytes for %d bytes of files (limit %d): free space was captured", st.StoredBytes, live, limit)
		}
		if st.StoredBytes < live*95/100 {
			t.Errorf("image stores %d bytes for %d bytes of incompressible files", st.StoredBytes, live)
		}
	} else {
		if !strings.HasPrefix(p.Capture, "every sector") || len(m.Warnings) == 0 {
			t.Errorf("capture of %s: %q, warnings %q; want every sector, with a warning", c.name, p.Capture, m.Warnings)
		}
		if st.BytesRead != m.Disk.Size {
			t.Errorf("read %d bytes of a %d-byte disk", st.BytesRead, m.Disk.Size)
		}
	}

	// What the image holds is the source's bytes, where they are used.
	im := openImage(t, r, "img")
	srcDisk, err := disk.Open(src, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srcDisk.Close()
	if rep, err := VerifyTarget(context.Background(), im, srcDisk, VerifyOptions{UsedOnly: true}); err != nil {
		t.Fatalf("image against its source: %v %v", err, rep.Problems)
	}

	// Restore onto a disk full of garbage.
	dst := filepath.Join(dir, "dst.img")
	mk(t, dst, c.size+2*MiB)
	garbage(t, dst, 0, c.size+2*MiB, 2)
	dstLoop := testutil.Loop(t, dst, 0)
	d, err := disk.Open(dstLoop, disk.Options{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), im, d, RestoreOptions{Progress: &progress.Tracker{}}); err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{}); err != nil {
		t.Fatalf("restored disk against the image: %v %v", err, rep.Problems)
	}
	d.Close()

	rdev := loopPart(t, dst, start, c.size)
	if out, err := exec.Command(c.check[0], append(c.check[1:], rdev)...).CombinedOutput(); err != nil {
		t.Errorf("%s on the restored file system: %v\n%s", strings.Join(c.check, " "), err, out)
	}
	got := snapshot(t, c, rdev)
	if len(got) < len(files)/2 {
		t.Fatalf("snapshot of the restored file system lists %d entries", len(got))
	}
	diffSnapshots(t, want, got)
}

// extUsed is what dumpe2fs says an ext file system uses, in bytes.
func extUsed(t *testing.T, dev string) int64 {
	t.Helper()
	out := testutil.Run(t, "dumpe2fs", "-h", dev)
	field := func(name string) int64 {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				var n int64
				fmt.Sscan(strings.TrimSpace(v), &n)
				return n
			}
		}
		t.Fatalf("dumpe2fs -h has no %q:\n%s", name, out)
		return 0
	}
	return (field("Block count") - field("Free blocks")) * field("Block size")
}

func mib(n int64) float64 { return float64(n) / MiB }

// partitionDisk writes a GPT with one partition.
func partitionDisk(t *testing.T, p string, start, size int64) {
	t.Helper()
	script := fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n", start/512, size/512)
	cmd := exec.Command("sfdisk", "-q", p)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
}

// garbage fills [off, off+n) of a file with random bytes (deleted data).
func garbage(t *testing.T, p string, off, n int64, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := mrand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, MiB)
	for done := int64(0); done < n; done += int64(len(buf)) {
		k := min(int64(len(buf)), n-done)
		rng.Read(buf[:k])
		if _, err := f.WriteAt(buf[:k], off+done); err != nil {
			t.Fatal(err)
		}
	}
}

// attached tracks the loop devices loopPart attached that are still
// attached: a device detached by detach must not be detached again when
// the test ends, as another test (of another package, running at the same
// time) may have been given the same device meanwhile.
var attached = struct {
	sync.Mutex
	m map[string]*bool
}{m: map[string]*bool{}}

// loopPart attaches a partition of a disk image as a loop device; it is
// detached when the test ends, unless detach did it first.
func loopPart(t *testing.T, p string, off, size int64) string {
	t.Helper()
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-o", fmt.Sprint(off), "--sizelimit", fmt.Sprint(size), p))
	done := new(bool)
	attached.Lock()
	attached.m[dev] = done
	attached.Unlock()
	t.Cleanup(func() {
		attached.Lock()
		defer attached.Unlock()
		if !*done {
			*done = true
			exec.Command("losetup", "-d", dev).Run()
		}
	})
	return dev
}

func detach(t *testing.T, dev string) {
	t.Helper()
	attached.Lock()
	if done := attached.m[dev]; done != nil {
		*done = true
	}
	attached.Unlock()
	testutil.Run(t, "losetup", "-d", dev)
}

// writeTree writes directories of files of random bytes, sizes from 0 to
// a few MiB, about dataMiB in all, under root. It returns the files
// (relative paths) and their total size.
func writeTree(t *testing.T, root string, dataMiB int, seed uint64) ([]string, int64) {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 1))
	data := mrand.NewChaCha8([32]byte{byte(seed), 1})
	sizes := []int64{0, 1, 511, 4096, 4097, 65536, 200000, MiB + 3, 3 * MiB}
	var (
		files []string
		total int64
	)
	for i := 0; total < int64(dataMiB)*MiB; i++ {
		d := fmt.Sprintf("dir%d/sub%d", i%4, i%3)
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		n := sizes[rng.IntN(len(sizes))]
		if i%9 == 0 {
			n = rng.Int64N(5*MiB) + 1
		}
		buf := make([]byte, n)
		data.Read(buf)
		name := filepath.Join(d, fmt.Sprintf("file%03d.bin", i))
		full := filepath.Join(root, name)
		if err := os.WriteFile(full, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(2020, 1, 2, 3, 4, 6, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		os.Chtimes(full, mt, mt)
		files = append(files, name)
		total += n
	}
	return files, total
}

// fillFS writes the tree into the file system on dev and deletes every
// third file. It returns the files and the bytes left in them.
func fillFS(t *testing.T, c fsCase, dev, tree string) ([]string, int64) {
	t.Helper()
	switch c.fill {
	case "mtools":
		files, total := writeTree(t, tree, c.dataMiB, 7)
		ents, _ := os.ReadDir(tree)
		for _, e := range ents {
			testutil.Run(t, "mcopy", "-i", dev, "-s", "-m", filepath.Join(tree, e.Name()), "::/")
		}
		return files, total - deleteFiles(t, c, dev, tree, files)
	default:
		mnt := mount(t, c.fill, dev, false)
		files, total := writeTree(t, mnt, c.dataMiB, 7)
		total -= deleteFiles(t, c, dev, mnt, files)
		unmount(t, mnt)
		return files, total
	}
}

// deleteFiles deletes every third file and returns the bytes deleted.
func deleteFiles(t *testing.T, c fsCase, dev, root string, files []string) int64 {
	t.Helper()
	var gone int64
	for i, f := range files {
		if i%3 != 1 {
			continue
		}
		switch {
		case c.fill == "mtools", c.fill == "mkfs-d":
			// root is the tree on this machine the files came from.
			fi, err := os.Stat(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			gone += fi.Size()
			if c.fill == "mtools" {
				testutil.Run(t, "mdel", "-i", dev, "::/"+f)
			} else {
				testutil.Run(t, "debugfs", "-w", "-R", "rm /"+f, dev)
			}
		default:
			fi, err := os.Stat(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			gone += fi.Size()
			if err := os.Remove(filepath.Join(root, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return gone
}

// mount mounts dev (kernel or FUSE, as how says) on a new directory.
func mount(t *testing.T, how, dev string, ro bool) string {
	t.Helper()
	mnt := t.TempDir()
	var args []string
	switch how {
	case "ntfs-3g":
		args = []string{"ntfs-3g", dev, mnt}
	case "exfat-fuse":
		args = []string{"mount.exfat-fuse", dev, mnt}
	default:
		args = []string{"mount", dev, mnt}
	}
	if ro {
		args = append(args[:1], append([]string{"-o", "ro"}, args[1:]...)...)
	}
	testutil.Run(t, args[0], args[1:]...)
	return mnt
}

// unmount unmounts mnt and, for a FUSE file system, waits for its daemon
// to finish writing.
func unmount(t *testing.T, mnt string) {
	t.Helper()
	testutil.Run(t, "umount", mnt)
	for i := 0; ; i++ {
		if exec.Command("pgrep", "-f", " "+mnt+"$").Run() != nil {
			return
		}
		if i == 300 {
			t.Fatalf("the file system daemon for %s did not exit", mnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshot describes every file and directory of the file system on dev:
// type, size, permissions, modification time and content hash, read
// through the file system's own tools.
func snapshot(t *testing.T, c fsCase, dev string) map[string]string {
	t.Helper()
	switch c.snap {
	case "debugfs":
		out := t.TempDir()
		testutil.Run(t, "debugfs", "-R", "rdump / "+out, dev)
		return walkTree(t, out, true)
	case "mtools":
		out := t.TempDir()
		testutil.Run(t, "mcopy", "-i", dev, "-s", "-m", "-n", "::/*", out)
		return walkTree(t, out, false)
	default:
		mnt := mount(t, c.snap, dev, true)
		defer unmount(t, mnt)
		return walkTree(t, mnt, c.snap == "mount")
	}
}

func walkTree(t *testing.T, root string, owners bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v mtime=%d", fi.Mode(), fi.ModTime().Unix())
		if owners {
			st := fi.Sys().(*syscall.Stat_t)
			desc += fmt.Sprintf(" uid=%d gid=%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += fmt.Sprintf(" size=%d sha256=%s", len(b), hex.EncodeToString(sum[:8]))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(t *testing.T, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if want[k] != got[k] {
			bad++
			if bad <= 10 {
				t.Errorf("%s:\n source:   %q\n restored: %q", k, want[k], got[k])
			}
		}
	}
	if bad > 10 {
		t.Errorf("%d entries differ in all", bad)
	}
}
