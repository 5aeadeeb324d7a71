package tui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/imagemount"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// browseFile is a file put on the ext4 partition of filledLaptop.
type browseFile struct {
	path string
	data []byte
	mod  time.Time
}

// filledLaptop makes gptDisk's disk with files on its ext4 partition,
// captures it into a new repository as "laptop", and returns the
// repository and the files.
func filledLaptop(t *testing.T) (string, []browseFile) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, 9))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	base := time.Date(2024, 3, 14, 15, 9, 26, 535897000, time.UTC)
	files := []browseFile{
		{"top.txt", []byte("at the root\n"), base},
		{"docs/a.txt", []byte("the first file\n"), base.Add(time.Hour)},
		{"docs/b.bin", random(300 << 10), base.Add(2 * time.Hour)},
		{"docs/c.txt", []byte("not marked\n"), base.Add(3 * time.Hour)},
		{"docs/sub/d.txt", []byte("deeper\n"), base.Add(4 * time.Hour)},
	}
	repoDir := captureLaptop(t, 9, func(mnt string) {
		for _, f := range files {
			p := filepath.Join(mnt, f.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, f.mod, f.mod); err != nil {
				t.Fatal(err)
			}
		}
	})
	return repoDir, files
}

// captureLaptop makes gptDisk's disk (seed), lets fill write onto its
// ext4 partition (through a loop device at the partition's offset and a
// kernel mount, at the directory fill is given), captures the disk into
// a new repository as "laptop", and returns the repository.
func captureLaptop(t *testing.T, seed uint64, fill func(mnt string)) string {
	t.Helper()
	testutil.Root(t)
	img := gptDisk(t, "laptop.img", seed)
	const off, size = 1 << 20, 40 << 20
	dev := testutil.AttachAt(t, img, off, size)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-t", "ext4", dev, mnt)
	unmounted := false
	defer func() {
		if !unmounted { // fill failed the test
			testutil.Run(t, "umount", mnt)
		}
	}()
	fill(mnt)
	testutil.Run(t, "umount", mnt)
	unmounted = true
	testutil.DetachOver(t, dev, img, off)

	repoDir := filepath.Join(t.TempDir(), "repo")
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: img, Repo: repoDir, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Run(context.Background(), &progress.Tracker{})
	job.Close()
	if err != nil {
		t.Fatal(err)
	}
	return repoDir
}

// tableRow is the text of the highlighted row of the file table (the
// one titled with a partition's folder), "" when none is.
func (h *harness) tableRow() string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	cells, w, ht := h.scr.GetContents()
	top := -1
	for y := 0; y < ht && top < 0; y++ {
		var line strings.Builder
		for x := 0; x < w; x++ {
			if c := cells[y*w+x]; len(c.Runes) > 0 {
				line.WriteRune(c.Runes[0])
			}
		}
		if strings.Contains(line.String(), "-ext4:/") {
			top = y
		}
	}
	for y := top + 1; top >= 0 && y < ht; y++ {
		var line strings.Builder
		hi := false
		for x := 1; x < w-1; x++ {
			c := cells[y*w+x]
			if len(c.Runes) > 0 {
				line.WriteRune(c.Runes[0])
			}
			_, bg, attr := c.Style.Decompose()
			if attr&tcell.AttrReverse != 0 || bg == tcell.ColorWhite {
				hi = true
			}
		}
		if hi {
			return line.String()
		}
	}
	return ""
}

// browseDirs are the private mount directories of browsed images.
func browseDirs(t *testing.T) map[string]bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "lifeboat-browse-*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range m {
		out[d] = true
	}
	return out
}

// mountedUnder lists the mounts at or under dir.
func mountedUnder(t *testing.T, dir string) []string {
	t.Helper()
	out, err := imagemount.MountsUnder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBrowseAndCopy opens a captured image from the images screen, goes
// into a folder of its ext4 partition, marks two files, copies them onto
// the drive of a second repository and checks what arrived: the bytes and
// times of the two files, nothing else, and the summary. Going back to
// the images screen unmounts the image.
func TestBrowseAndCopy(t *testing.T) {
	repoDir, files := filledLaptop(t)
	destRepo := filepath.Join(t.TempDir(), "usb-repo")
	destDrive := filepath.Dir(destRepo)
	h := start(t, Config{Repos: []string{repoDir, destRepo}})

	h.typeText("i")
	h.waitFor("laptop", "o open")
	before := browseDirs(t)
	h.typeText("o")
	s := h.waitFor("Browse laptop", "Partitions", "1 ext4 data")
	t.Logf("browse screen:\n%s", s)
	var ours []string
	for d := range browseDirs(t) {
		if !before[d] {
			ours = append(ours, d)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("opening the image made %d browse directories (%v), want 1", len(ours), ours)
	}
	if len(mountedUnder(t, ours[0])) < 2 {
		t.Fatalf("the image is not mounted under %s: %v", ours[0], mountedUnder(t, ours[0]))
	}

	// Into the partition: folders first, by name.
	h.key(tcell.KeyEnter)
	s = h.waitFor("1-data-ext4:/ ", "docs/", "lost+found/", "top.txt")
	if strings.Index(s, "docs/") > strings.Index(s, "top.txt") || strings.Index(s, "lost+found/") > strings.Index(s, "top.txt") {
		t.Errorf("folders are not listed before files:\n%s", s)
	}
	if !strings.Contains(s, "12 B") || !strings.Contains(s, files[0].mod.Local().Format("2006-01-02 15:04")) {
		t.Errorf("top.txt's size and time are not shown:\n%s", s)
	}
	// docs/ is the first row.
	h.key(tcell.KeyEnter)
	s = h.waitFor("1-data-ext4:/docs ", "..", "sub/", "a.txt", "b.bin", "c.txt")
	t.Logf("docs:\n%s", s)
	// .., sub/, a.txt: mark a.txt and b.bin.
	h.key(tcell.KeyDown)
	h.key(tcell.KeyDown)
	if !strings.Contains(h.tableRow(), "a.txt") {
		t.Fatalf("a.txt is not highlighted:\n%s", h.text())
	}
	h.typeText(" ")
	h.waitFor("1 marked")
	h.typeText(" ")
	h.waitFor("2 marked")
	if !strings.Contains(h.tableRow(), "c.txt") {
		t.Errorf("Space did not move down to c.txt:\n%s", h.text())
	}
	s = h.text()
	for _, l := range strings.Split(s, "\n") {
		for _, n := range []string{"a.txt", "b.bin", "c.txt"} {
			if strings.Contains(l, n) && strings.Contains(l, "* "+n) != (n != "c.txt") {
				t.Errorf("row %q: want a.txt and b.bin marked, not c.txt", l)
			}
		}
	}

	h.typeText("c")
	h.waitFor("Copy to", destDrive+" (the drive of repository")
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	s = h.waitFor("Enter copies, Esc goes back", "2 entries: a.txt, b.bin", "in 2 files and 0 folders", "lifeboat-files/laptop ", "Free")
	t.Logf("confirmation:\n%s", s)
	if !strings.Contains(strings.Join(strings.Fields(s), " "), destDrive) {
		t.Fatalf("the confirmation does not copy onto %s:\n%s", destDrive, s)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("Copy files: done", "Copied 2 files (300.0 KiB), 0 folders to")
	t.Logf("summary:\n%s", s)

	got, err := filepath.Glob(filepath.Join(destDrive, "lifeboat-files", "laptop *"))
	if err != nil || len(got) != 1 {
		t.Fatalf("copy folders %v (%v), want one", got, err)
	}
	ents, err := os.ReadDir(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "a.txt b.bin" {
		t.Errorf("the copy folder holds %v, want a.txt and b.bin", names)
	}
	for _, f := range files[1:3] {
		p := filepath.Join(got[0], filepath.Base(f.path))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, f.data) {
			t.Errorf("%s: the copy's %d bytes differ from the original's %d", p, len(data), len(f.data))
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.ModTime().Equal(f.mod) {
			t.Errorf("%s: modified %v, want %v", p, st.ModTime(), f.mod)
		}
	}

	// Backspace goes up, to the folder left highlighted; the marks of a
	// folder go with it.
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/docs ")
	h.key(tcell.KeyBackspace2)
	h.waitFor("1-data-ext4:/ ", "top.txt")
	if row := h.tableRow(); !strings.Contains(row, "docs/") {
		t.Errorf("after Backspace the highlighted row is %q, want docs/", row)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("1-data-ext4:/docs ", "..")
	if strings.Contains(s, "* a.txt") {
		t.Errorf("a.txt is still marked after leaving its folder:\n%s", s)
	}
	// Enter on .. goes up too.
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/ ", "top.txt")

	// Back to the images screen: the image is unmounted and released.
	h.key(tcell.KeyEscape)
	h.key(tcell.KeyEscape)
	h.waitFor("Repositories", "o open")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(ours[0])
		m := mountedUnder(t, ours[0])
		if os.IsNotExist(err) && len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after leaving the browser, %s is still there (%v) with mounts %v", ours[0], err, m)
		}
	}
	// The read lock is gone: the image can be deleted.
	if _, err := ops.DeleteImage(context.Background(), repoDir, "laptop", nil); err != nil {
		t.Errorf("delete the image after browsing it: %v", err)
	}
}

// TestBrowseUnreadablePartition: a partition with no file system says why
// it cannot be read, in the list and when opened.
func TestBrowseUnreadablePartition(t *testing.T) {
	testutil.Root(t)
	repoDir := filepath.Join(t.TempDir(), "repo")
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: gptDisk(t, "laptop.img", 10), Repo: repoDir, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Run(context.Background(), &progress.Tracker{})
	job.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{Repos: []string{repoDir}})
	h.typeText("i")
	h.waitFor("laptop")
	h.key(tcell.KeyEnter)
	h.waitFor("Image details", "o open")
	h.typeText("o")
	s := h.waitFor("Browse laptop", "1 ext4 data", "2 - 23.0 MiB (cannot be read: ")
	t.Logf("browse screen:\n%s", s)
	h.key(tcell.KeyDown)
	s = h.waitFor("Partition 2 cannot be read: ")
	h.key(tcell.KeyEnter)
	s = h.waitFor("Partition 2 cannot be", "no file system", "recognised", "OK")
	t.Logf("opened:\n%s", s)
	h.key(tcell.KeyEnter)
	h.key(tcell.KeyEscape)
	h.waitFor("Repositories")
}

// treeOf describes every entry under root by its slash path: its kind,
// permissions, modification time to the nanosecond and, for a file, its
// size and SHA-256.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
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
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %s", fi.Mode(), fi.ModTime().UTC().Format(time.RFC3339Nano))
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d bytes %x", len(data), sha256.Sum256(data))
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// filesUnder lists the paths of the entries under root that are not
// directories.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// copyFolders are the folders made on a drive for copies from the image
// "laptop": lifeboat-files/laptop <time> under the drive's folder dir.
func copyFolders(t *testing.T, dir string) []string {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(dir, "lifeboat-files", "laptop *"))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openLaptop opens the image "laptop" from the images screen and lists
// the root of its ext4 partition.
func (h *harness) openLaptop() string {
	h.t.Helper()
	h.typeText("i")
	h.waitFor("laptop", "o open")
	h.typeText("o")
	h.waitFor("Browse laptop", "Partitions", "1 ext4 data")
	h.key(tcell.KeyEnter)
	return h.waitFor("1-data-ext4:/ ", "lost+found/")
}

// TestBrowseCopyFolder marks a whole folder and copies it onto the drive
// of a typed repository: the folder arrives with its files and
// subfolders (an empty one too), each with its content, permissions and
// modification time to the nanosecond, nothing else is copied, and the
// confirmation and the summary count the folders.
func TestBrowseCopyFolder(t *testing.T) {
	base := time.Date(2023, 11, 2, 8, 30, 15, 123456789, time.UTC)
	big := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{1}).Read(big)
	files := []struct {
		path string
		perm fs.FileMode
		data []byte
	}{
		{"projects/readme.txt", 0o644, []byte("read me\n")},
		{"projects/run.sh", 0o755, []byte("#!/bin/sh\necho run\n")},
		{"projects/secret.key", 0o600, []byte("do not share\n")},
		{"projects/src/main.go", 0o640, big},
		{"projects/src/deep/note.txt", 0o444, []byte("deep down\n")},
	}
	// Deepest first: a folder's time is set after what is in it.
	dirs := []struct {
		path string
		perm fs.FileMode
	}{
		{"projects/src/deep", 0o755},
		{"projects/src", 0o700},
		{"projects/empty", 0o711},
		{"projects", 0o750},
	}
	var want map[string]string
	var bytesIn int64
	repoDir := captureLaptop(t, 11, func(mnt string) {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(mnt, d.path), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(mnt, "top.txt"), []byte("not copied\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			p := filepath.Join(mnt, f.path)
			if err := os.WriteFile(p, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, f.perm); err != nil {
				t.Fatal(err)
			}
			mod := base.Add(time.Duration(i) * time.Hour)
			if err := os.Chtimes(p, mod, mod); err != nil {
				t.Fatal(err)
			}
			bytesIn += int64(len(f.data))
		}
		for i, d := range dirs {
			p := filepath.Join(mnt, d.path)
			if err := os.Chmod(p, d.perm); err != nil {
				t.Fatal(err)
			}
			mod := base.Add(-time.Duration(i+1) * 24 * time.Hour)
			if err := os.Chtimes(p, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
		want = treeOf(t, filepath.Join(mnt, "projects"))
	})
	if len(want) != len(files)+len(dirs)-1 {
		t.Fatalf("the source folder holds %d entries, want %d: %v", len(want), len(files)+len(dirs)-1, want)
	}
	destRepo := filepath.Join(t.TempDir(), "usb-repo")
	destDrive := filepath.Dir(destRepo)
	h := start(t, Config{Repos: []string{repoDir, destRepo}})

	s := h.openLaptop()
	if !strings.Contains(s, "projects/") {
		t.Fatalf("the partition's root does not list projects/:\n%s", s)
	}
	// lost+found/, projects/, top.txt.
	h.key(tcell.KeyDown)
	if !strings.Contains(h.tableRow(), "projects/") {
		t.Fatalf("projects/ is not highlighted:\n%s", h.text())
	}
	h.typeText(" ")
	h.waitFor("1 marked", "* projects/")
	h.typeText("c")
	h.waitFor("Copy to", "Copy 1 entry from partition 1 of laptop onto:", destDrive+" (the drive of repository")
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	s = h.waitFor("Enter copies, Esc goes back", "1 entry: projects", fmt.Sprintf("%s in 5 files and 4 folders", units.Bytes(bytesIn)))
	t.Logf("confirmation:\n%s", s)
	if strings.Contains(s, "Not enough free space") {
		t.Errorf("the confirmation warns of free space:\n%s", s)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("Copy files: done", fmt.Sprintf("Copied 5 files (%s), 4 folders to", units.Bytes(bytesIn)))
	t.Logf("summary:\n%s", s)

	got := copyFolders(t, destDrive)
	if len(got) != 1 {
		t.Fatalf("copy folders %v, want one", got)
	}
	ents, err := os.ReadDir(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "projects" {
		t.Fatalf("the copy folder holds %v, want projects alone", ents)
	}
	copied := treeOf(t, filepath.Join(got[0], "projects"))
	for p, w := range want {
		if g, ok := copied[p]; !ok {
			t.Errorf("%s was not copied (%s)", p, w)
		} else if g != w {
			t.Errorf("%s: copied as %s, want %s", p, g, w)
		}
	}
	for p, g := range copied {
		if _, ok := want[p]; !ok {
			t.Errorf("%s (%s) is in the copy, not in the image", p, g)
		}
	}
	st, err := os.Stat(filepath.Join(got[0], "projects"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o750 || !st.ModTime().Equal(base.Add(-4*24*time.Hour)) {
		t.Errorf("the copied folder projects has mode %v, time %v; want drwxr-x---, %v", st.Mode(), st.ModTime().UTC(), base.Add(-4*24*time.Hour))
	}
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/ ", "top.txt")
}

// TestBrowseCopyToSpace copies two files onto a drive that holds no
// repository (an ext4 file system the finder offers as a space): the
// copy mounts it read-write under the finder's mount root, and once the
// UI has stopped and unmounted it, the files are on it, with their bytes
// and times, and nothing else was added (no repository).
func TestBrowseCopyToSpace(t *testing.T) {
	repoDir, files := filledLaptop(t)
	usb := testutil.Sparse(t, "space.img", 64<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "SPACE", usb)
	dev := testutil.AttachAt(t, usb, 0, 64<<20)
	name := filepath.Base(dev)
	mountRoot := filepath.Join(t.TempDir(), "mnt")
	find := &repofind.Finder{
		MountRoot: mountRoot,
		Filter:    func(d inventory.Disk) bool { return d.Name == name },
		MinFree:   1 << 20,
	}
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Repos: []string{repoDir}, Find: find})
	offer := name + " (ext4, SPACE, "
	h.typeText("l")
	h.waitFor("room for a new repository on " + offer)
	h.key(tcell.KeyEscape)
	h.waitFor("Disks")
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Fatalf("%s is mounted before a copy onto it: %v", dev, ms)
	}

	h.openLaptop()
	h.key(tcell.KeyEnter) // docs/
	h.waitFor("1-data-ext4:/docs ", "a.txt", "b.bin")
	h.key(tcell.KeyDown)
	h.key(tcell.KeyDown)
	if !strings.Contains(h.tableRow(), "a.txt") {
		t.Fatalf("a.txt is not highlighted:\n%s", h.text())
	}
	h.typeText(" ")
	h.waitFor("1 marked")
	h.typeText(" ")
	h.waitFor("2 marked")
	h.typeText("c")
	// The typed repository's drive, then the space.
	s := h.waitFor("Copy to", offer)
	t.Logf("drives:\n%s", s)
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	s = h.waitFor("Enter copies, Esc goes back", "2 entries: a.txt, b.bin", "in 2 files and 0 folders", dev+", ")
	t.Logf("confirmation:\n%s", s)
	if !strings.Contains(squeeze(s), squeeze(mountRoot)) {
		t.Errorf("the confirmation does not copy under the mount root %s:\n%s", mountRoot, s)
	}
	ms := mountsOf(t, dev)
	if len(ms) != 1 || !strings.HasPrefix(ms[0], mountRoot+"/") {
		t.Fatalf("%s is mounted at %v, want once under %s", dev, ms, mountRoot)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(ms[0], &st); err != nil || st.Flags&unix.ST_RDONLY != 0 {
		t.Fatalf("%s at %s: flags %#x (%v), want read-write", dev, ms[0], st.Flags, err)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("Copy files: done", "Copied 2 files (300.0 KiB), 0 folders to")
	t.Logf("summary:\n%s", s)
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/docs ")
	// A second copy onto the same drive, chosen from the list made before
	// it was mounted, goes where the first one went: no second mount.
	h.typeText("c")
	h.waitFor("Copy to", offer)
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	h.waitFor("Enter copies, Esc goes back")
	h.key(tcell.KeyEnter)
	h.waitFor("Copy files: done", "Copied 2 files") // the marks stay; a folder of its own
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/docs ")
	if again := mountsOf(t, dev); len(again) != 1 || again[0] != ms[0] {
		t.Fatalf("after a second copy %s is mounted at %v, want only %s", dev, again, ms[0])
	}
	h.key(tcell.KeyEscape)
	h.key(tcell.KeyEscape)
	h.waitFor("Repositories", "o open")
	h.stopUI()

	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Fatalf("%s is still mounted at %v after the UI stopped", dev, ms)
	}
	testutil.Run(t, "e2fsck", "-fn", dev)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "lifeboat-files lost+found" {
		t.Errorf("the root of %s holds %q, want lifeboat-files and lost+found", dev, names)
	}
	got := copyFolders(t, mnt)
	if len(got) != 2 {
		t.Fatalf("copy folders on %s: %v, want two, one a copy", dev, got)
	}
	if second, err := os.ReadDir(got[1]); err != nil || len(second) != 2 {
		t.Errorf("the second copy's folder %s holds %v (%v), want a.txt and b.bin", got[1], second, err)
	}
	ents, err = os.ReadDir(got[0])
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "a.txt b.bin" {
		t.Errorf("the copy folder on %s holds %v, want a.txt and b.bin", dev, names)
	}
	for _, f := range files[1:3] {
		p := filepath.Join(got[0], filepath.Base(f.path))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, f.data) {
			t.Errorf("%s: the copy's %d bytes differ from the original's %d", p, len(data), len(f.data))
		}
		if st, err := os.Stat(p); err != nil || !st.ModTime().Equal(f.mod) {
			t.Errorf("%s: modified %v (%v), want %v", p, st.ModTime(), err, f.mod)
		}
	}
}

// bigLaptop captures a disk whose ext4 partition holds big.bin, n random
// bytes, and small.txt, into a new repository as "laptop".
func bigLaptop(t *testing.T, n int) string {
	t.Helper()
	return captureLaptop(t, 12, func(mnt string) {
		data := make([]byte, n)
		rand.NewChaCha8([32]byte{2}).Read(data)
		if err := os.WriteFile(filepath.Join(mnt, "big.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, "small.txt"), []byte("small\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBrowseCopyNoRoom copies a file of 4 MiB onto the drive of a typed
// repository, a tmpfs of 1 MiB: the confirmation warns that the room is
// short, and confirming fails with the copy's own error (not enough free
// space), saying what to do, with nothing written on the drive (the
// folder made for the copy is removed again).
func TestBrowseCopyNoRoom(t *testing.T) {
	repoDir := bigLaptop(t, 4<<20)
	small := t.TempDir()
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(small, 0); err != nil {
			t.Errorf("unmount %s: %v", small, err)
		}
	})
	destRepo := filepath.Join(small, "usb-repo")
	h := start(t, Config{Repos: []string{repoDir, destRepo}})

	h.openLaptop()
	h.waitFor("big.bin", "4.0 MiB", "small.txt")
	// lost+found/, big.bin, small.txt.
	h.key(tcell.KeyDown)
	if !strings.Contains(h.tableRow(), "big.bin") {
		t.Fatalf("big.bin is not highlighted:\n%s", h.text())
	}
	h.typeText(" ")
	h.waitFor("1 marked")
	h.typeText("c")
	h.waitFor("Copy to", small+" (the drive of repository")
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	s := h.waitFor("Enter copies, Esc goes back", "1 entry: big.bin", "Not enough free space:", "more are needed")
	t.Logf("confirmation:\n%s", s)
	if !strings.Contains(squeeze(s), squeeze(small)) {
		t.Errorf("the confirmation does not copy onto %s:\n%s", small, s)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("Copy files: FAILED", "not enough free space", "it needs 4194304 bytes", "The drive copied onto is too full")
	t.Logf("failed:\n%s", s)
	if strings.Contains(s, "Before that") {
		t.Errorf("the failure says something was copied before it:\n%s", s)
	}
	if f := filesUnder(t, small); len(f) != 0 {
		t.Errorf("the failed copy wrote %v", f)
	}
	if got := copyFolders(t, small); len(got) != 0 {
		t.Errorf("the failed copy left the folders %v", got)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/ ", "big.bin")
}

// TestBrowseCopyCancel pauses the copy of a file of 24 MiB with Esc while
// the file is under way and cancels it: the partial file is removed,
// nothing of the copy is left on the drive (not even the folder made for
// it), and the screen says the copy was cancelled and nothing copied.
func TestBrowseCopyCancel(t *testing.T) {
	repoDir := bigLaptop(t, 24<<20)
	destRepo := filepath.Join(t.TempDir(), "usb-repo")
	destDrive := filepath.Dir(destRepo)
	h := start(t, Config{Repos: []string{repoDir, destRepo}})

	h.openLaptop()
	h.waitFor("big.bin", "24.0 MiB")
	h.key(tcell.KeyDown)
	if !strings.Contains(h.tableRow(), "big.bin") {
		t.Fatalf("big.bin is not highlighted:\n%s", h.text())
	}
	// Nothing marked: c copies the highlighted file.
	h.typeText("c")
	h.waitFor("Copy to", "Copy 1 entry from partition 1", destDrive+" (the drive of repository")
	h.key(tcell.KeyDown)
	h.key(tcell.KeyEnter)
	h.waitFor("Enter copies, Esc goes back", "1 entry: big.bin", "24.0 MiB in 1 file and 0 folders")
	// Enter and Esc at once: the copy pauses at its first piece.
	h.scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	h.scr.InjectKey(tcell.KeyEscape, 0, tcell.ModNone)
	s := h.waitFor("Cancel copy files?", "Paused at")
	t.Logf("paused:\n%s", s)
	var partial []string
	for deadline := time.Now().Add(30 * time.Second); len(partial) == 0; time.Sleep(20 * time.Millisecond) {
		var err error
		partial, err = filepath.Glob(filepath.Join(destDrive, "lifeboat-files", "laptop *", ".lifeboat-partial-big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if len(partial) == 0 && time.Now().After(deadline) {
			t.Fatalf("no partial file while the copy is paused: %v\n%s", filesUnder(t, destDrive), h.text())
		}
	}
	if whole, _ := filepath.Glob(filepath.Join(destDrive, "lifeboat-files", "laptop *", "big.bin")); len(whole) != 0 {
		t.Fatalf("the copy finished before it was paused: %v", whole)
	}
	h.typeText("y")
	s = h.waitFor("Copy files: cancelled", "Cancelled after", "The copy was cancelled before a file was whole: nothing was copied")
	t.Logf("cancelled:\n%s", s)
	if strings.Contains(s, "context") {
		t.Errorf("the cancelled copy speaks of the context:\n%s", s)
	}
	if f := filesUnder(t, destDrive); len(f) != 0 {
		t.Errorf("the cancelled copy left %v", f)
	}
	if got := copyFolders(t, destDrive); len(got) != 0 {
		t.Errorf("the cancelled copy left the folders %v", got)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("1-data-ext4:/ ", "big.bin")
}
