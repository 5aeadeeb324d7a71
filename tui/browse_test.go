package tui

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/imagemount"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// browseFile is a file put on the ext4 partition of filledLaptop.
type browseFile struct {
	path string
	data []byte
	mod  time.Time
}

// filledLaptop makes gptDisk's disk with files on its ext4 partition
// (through a loop device at the partition's offset and a kernel mount),
// captures it into a new repository as "laptop", and returns the
// repository and the files.
func filledLaptop(t *testing.T) (string, []browseFile) {
	t.Helper()
	testutil.Root(t)
	img := gptDisk(t, "laptop.img", 9)
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
	const off, size = 1 << 20, 40 << 20
	dev := testutil.AttachAt(t, img, off, size)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-t", "ext4", dev, mnt)
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
	testutil.Run(t, "umount", mnt)
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
	return repoDir, files
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
