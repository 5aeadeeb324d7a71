package tui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
)

// harness runs the UI on a simulated 80x24 screen.
type harness struct {
	t    *testing.T
	sim  *sizedScreen
	scr  tcell.SimulationScreen
	done chan error
	stop context.CancelFunc
}

// fixture is the "pc" machine: an NVMe disk holding / (the boot disk), a
// SATA SSD, a USB stick... Its /dev is an empty directory, so those disks
// are listed but cannot be opened.
func fixture(t *testing.T) inventory.Source {
	dir := filepath.Join("..", "testdata", "sysfs", "pc")
	return inventory.Source{
		SysRoot:   filepath.Join(dir, "sys"),
		MountInfo: filepath.Join(dir, "mountinfo"),
		Swaps:     filepath.Join(dir, "swaps"),
		DevRoot:   t.TempDir(),
	}
}

// sizedScreen is a simulation screen that keeps its size when tview
// initializes it (Init resets a simulation screen to 80x25), and tells the
// harness when it is ready to be read.
type sizedScreen struct {
	tcell.SimulationScreen
	w, h  int
	ready chan struct{}
	// mu is held while the screen draws and while the harness reads it:
	// GetContents returns the cells Show writes to.
	mu sync.Mutex
}

func (s *sizedScreen) Show() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.SimulationScreen.Show()
}

func (s *sizedScreen) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.SimulationScreen.Sync()
}

func (s *sizedScreen) Init() error {
	if err := s.SimulationScreen.Init(); err != nil {
		return err
	}
	s.SetSize(s.w, s.h)
	close(s.ready)
	return nil
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	sim := &sizedScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), w: 80, h: 24, ready: make(chan struct{})}
	scr := sim.SimulationScreen
	cfg.Screen = sim
	cfg.Version = "test"
	if cfg.Env.Inventory.SysRoot == "" {
		cfg.Env.Inventory = fixture(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, sim: sim, scr: scr, done: make(chan error, 1), stop: cancel}
	go func() { h.done <- Run(ctx, cfg) }()
	select {
	case <-sim.ready:
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the UI did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the UI did not stop")
		}
	})
	return h
}

// stopUI stops the UI and waits for Run to return.
func (h *harness) stopUI() {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		h.t.Fatal("the UI did not stop")
	}
}

// text is the screen as lines of text.
func (h *harness) text() string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	cells, w, ht := h.scr.GetContents()
	var b strings.Builder
	for y := 0; y < ht; y++ {
		for x := 0; x < w; x++ {
			c := cells[y*w+x]
			if len(c.Runes) == 0 || c.Runes[0] == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteRune(c.Runes[0])
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// waitFor waits until the screen shows every one of the strings. A string
// may be wrapped over lines: the screen is also searched with its lines
// joined and runs of blanks made one.
func (h *harness) waitFor(want ...string) string {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := h.text()
		flat := strings.Join(strings.Fields(s), " ")
		ok := true
		for _, w := range want {
			if !strings.Contains(s, w) && !strings.Contains(flat, w) {
				ok = false
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) key(k tcell.Key) {
	h.scr.InjectKey(k, 0, tcell.ModNone)
	time.Sleep(30 * time.Millisecond)
}

func (h *harness) typeText(s string) {
	for _, r := range s {
		h.scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	time.Sleep(30 * time.Millisecond)
}

// selectDisk moves the home screen's cursor to the disk whose details
// title shows path, one row at a time, waiting for the details to follow
// each key so that a slow redraw cannot make it overshoot.
func (h *harness) selectDisk(path string) {
	h.t.Helper()
	h.waitFor("Disks")
	title := func() string {
		for _, l := range strings.Split(h.text(), "\n") {
			if strings.Contains(l, "┌") {
				return l
			}
		}
		return ""
	}
	for i := 0; i < 40; i++ {
		cur := title()
		if strings.Contains(cur, " "+path+" ") {
			return
		}
		h.key(tcell.KeyDown)
		for deadline := time.Now().Add(5 * time.Second); title() == cur && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	h.t.Fatalf("disk %s not found on the screen:\n%s", path, h.text())
}

// toCaptureSummary walks the capture wizard for the disk at path to its
// summary: the first repository offered (the screen must show repo, a
// directory or "found on ..."), the image named name ("" keeps the default
// name), default compression, only used blocks. It returns the summary
// screen.
func (h *harness) toCaptureSummary(path, repo, name string) string {
	h.t.Helper()
	return h.toCaptureSummaryWith(path, repo, name, false)
}

// toCaptureSummaryWith is toCaptureSummary with the "All sectors" box
// ticked or not.
func (h *harness) toCaptureSummaryWith(path, repo, name string, allSectors bool) string {
	h.t.Helper()
	h.selectDisk(path)
	h.typeText("c")
	h.waitFor("1/4 choose the disk to capture")
	h.key(tcell.KeyEnter)
	h.waitFor("2/4 choose the repository", repo)
	h.key(tcell.KeyEnter)
	h.waitFor("3/4 name and options", "Image name")
	if name != "" {
		h.key(tcell.KeyCtrlU)
		h.typeText(name)
	}
	h.key(tcell.KeyTab) // compression
	h.key(tcell.KeyTab) // all sectors
	if allSectors {
		h.typeText(" ")
	}
	h.key(tcell.KeyTab) // Next
	h.key(tcell.KeyEnter)
	return h.waitFor("4/4 summary", "Press Enter to start")
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// gptDisk makes a disk image file with a GPT, an ext4 file system labelled
// "data" in partition 1 and random bytes in partition 2.
func gptDisk(t *testing.T, name string, seed uint64) string {
	t.Helper()
	p := testutil.Sparse(t, name, 64<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n", "1:2048:83967", "-t", "1:8300", "-c", "1:root", "-n", "2:83968:0", "-t", "2:0700", p)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "data", "-E", "offset=1048576", p, "40M")
	buf := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	testutil.WriteAt(t, p, buf, 83968*512+(1<<20))
	return p
}

func TestHomeListsDisksAndPartitions(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 1)
	h := start(t, Config{Files: []string{a}})
	s := h.waitFor("nvme0n1", "sda", "laptop.img", "boot", "q quit")
	if _, w, ht := h.scr.GetContents(); w != 80 || ht != 24 {
		t.Fatalf("screen is %dx%d, want 80x24", w, ht)
	}
	if lines := strings.Split(strings.TrimRight(s, "\n"), "\n"); !strings.Contains(lines[len(lines)-1], "q quit") {
		t.Errorf("the key hints are not on the last line:\n%s", s)
	}
	for _, want := range []string{"DISK", "SIZE", "SERIAL", "64.0 MiB", "gpt"} {
		if !strings.Contains(s, want) {
			t.Errorf("home screen lacks %q:\n%s", want, s)
		}
	}
	h.selectDisk(a)
	s = h.waitFor("ext4", "data", "Linux filesystem", "2 partitions")
	t.Logf("home screen:\n%s", s)
	// Every line fits the 80-column screen (the simulation clips anyway,
	// so look for the key hints being whole).
	if !strings.Contains(s, "c capture") || !strings.Contains(s, "r restore") {
		t.Errorf("key hints are not all visible:\n%s", s)
	}
}

// TestBootModeHints: as the rescue console, the home screen offers reboot
// and power off instead of quit, and every hint fits on the 80-column line.
func TestBootModeHints(t *testing.T) {
	h := start(t, Config{Boot: true})
	s := h.waitFor("nvme0n1")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	last := strings.TrimRight(lines[len(lines)-1], " ")
	if !strings.HasSuffix(last, "p power off") || !strings.Contains(last, "c capture") || !strings.Contains(last, "d clone") || strings.Contains(last, "q quit") {
		t.Errorf("boot-mode hints %q", last)
	}
}

// TestCaptureRestoreVerify captures a disk through the wizard, restores it
// onto another disk with a typed confirmation (a wrong one first), and
// verifies the image.
func TestCaptureRestoreVerify(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 1)
	b := testutil.Sparse(t, "spare.img", 64<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n", "1:2048:0", "-t", "1:0700", b)
	repoDir := filepath.Join(t.TempDir(), "repo")
	h := start(t, Config{Files: []string{a, b}, Repos: []string{repoDir}})

	// Capture.
	s := h.toCaptureSummary(a, repoDir, "laptop-monday")
	if !strings.Contains(s, `as image "laptop-monday"`) || !strings.Contains(s, "Nothing on the disk is changed") {
		t.Errorf("capture summary:\n%s", s)
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("finished in", "Image laptop-monday")
	t.Logf("capture done:\n%s", s)
	list, err := ops.ListImages(repoDir)
	if err != nil || len(list) != 1 || list[0].Name != "laptop-monday" {
		t.Fatalf("repository holds %+v, %v", list, err)
	}
	parts := list[0].Manifest.Table.Partitions
	if len(parts) != 2 || parts[0].FileSystem != "ext4" || parts[0].FSLabel != "data" {
		t.Errorf("image partitions %+v: want ext4 \"data\" first", parts)
	} else if !strings.HasPrefix(parts[0].Capture, "used blocks") {
		t.Errorf("ext4 partition captured as %q, want used blocks", parts[0].Capture)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")

	// Restore onto b: the wrong confirmation writes nothing.
	before := hashFile(t, b)
	h.typeText("i")
	h.waitFor("Repositories", "laptop-monday")
	h.typeText("r")
	h.waitFor("2/3 choose the disk", "Not offered:", "nvme0n1 (Lifeboat booted from it)")
	h.selectTarget(b)
	s = h.waitFor("DESTROY", "spare.img", "Type spare.img")
	if !strings.Contains(s, "Write") || !strings.Contains(s, "laptop-monday") {
		t.Errorf("restore summary:\n%s", s)
	}
	// F2 plans each layout in turn, then the first that works again.
	h.key(tcell.KeyF2)
	h.waitFor("Layout  keep (F2", "F2 layout: keep", "Type spare.img")
	h.key(tcell.KeyF2)
	h.waitFor("Layout  grow (F2", "a new gpt partition table", "Type spare.img")
	h.key(tcell.KeyF2)
	h.waitFor("Layout  scale (F2", "Type spare.img")
	h.key(tcell.KeyF2)
	h.waitFor("Layout  fit (F2", "nothing needed shrinking", "Type spare.img")
	h.key(tcell.KeyF2)
	h.waitFor("Layout  keep (F2", "F2 layout: auto", "Type spare.img")
	// F3 plans new identities, and back.
	h.key(tcell.KeyF3)
	h.waitFor("New ID  disk disk GUID", "F3 new ids: yes", "Type spare.img")
	h.key(tcell.KeyF3)
	h.waitFor("F3 new ids: no", "Type spare.img")
	h.typeText("sda")
	h.key(tcell.KeyEnter)
	h.waitFor("You typed \"sda\", not \"spare.img\". Nothing was written.")
	if hashFile(t, b) != before {
		t.Fatal("a wrong confirmation changed the target")
	}
	h.typeText("spare.img")
	h.key(tcell.KeyEnter)
	s = h.waitFor("finished in", "every chunk matched its hash")
	t.Logf("restore done:\n%s", s)
	if hashFile(t, b) != hashFile(t, a) {
		t.Fatal("the restored disk differs from the source")
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")

	// Verify.
	h.typeText("i")
	h.waitFor("laptop-monday")
	h.typeText("v")
	h.waitFor("chunks present and intact")
	h.key(tcell.KeyEnter)
	h.key(tcell.KeyEscape)
	h.waitFor("q quit")
}

// selectTarget moves the target list's cursor to the row of path's base
// name and presses Enter.
func (h *harness) selectTarget(path string) {
	h.t.Helper()
	name := filepath.Base(path)
	for i := 0; i < 20; i++ {
		if h.selectedRowHas(name) {
			h.key(tcell.KeyEnter)
			return
		}
		before := h.selectedRow()
		h.key(tcell.KeyDown)
		// Wait for the highlight to move before looking again.
		for deadline := time.Now().Add(5 * time.Second); h.selectedRow() == before && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	h.t.Fatalf("target %s not found:\n%s", name, h.text())
}

// selectedRowHas reports whether the highlighted table row shows s.
func (h *harness) selectedRowHas(s string) bool {
	return strings.Contains(h.selectedRow(), s)
}

// selectedRow is the text of the highlighted table row ("" when none).
func (h *harness) selectedRow() string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	cells, w, ht := h.scr.GetContents()
	for y := 0; y < ht; y++ {
		var line strings.Builder
		hi := false
		for x := 0; x < w; x++ {
			c := cells[y*w+x]
			if len(c.Runes) > 0 {
				line.WriteRune(c.Runes[0])
			}
			_, bg, attr := c.Style.Decompose()
			if attr&tcell.AttrReverse != 0 || bg == tcell.ColorWhite {
				hi = true
			}
		}
		if hi && strings.Contains(line.String(), "║") { // a table row, not the title bar
			return line.String()
		}
	}
	return ""
}

// busyDisk makes a 1 GiB disk image with 64 KiB of random bytes in every 4
// MiB extent: every extent is hashed, compressed and written on restore,
// which takes long enough to pause.
func busyDisk(t *testing.T, name string, seed uint64) string {
	t.Helper()
	const size = 1 << 30
	p := testutil.Sparse(t, name, size)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; off += 4 << 20 {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

var doneOf = regexp.MustCompile(`([0-9.]+ [KMGTPE]?i?B) of ([0-9.]+ [KMGTPE]?i?B)`)

// pausedAt is where the cancel question says the paused job stands: "1.2
// GiB of 4.0 GiB".
func (h *harness) pausedAt() string {
	h.t.Helper()
	// The question is a modal: its lines wrap inside its border.
	flat := strings.Join(strings.Fields(strings.ReplaceAll(h.waitFor("Paused at"), "║", " ")), " ")
	m := doneOf.FindString(flat[strings.Index(flat, "Paused at"):])
	if m == "" {
		h.t.Fatalf("the question does not say where the job is: %q", flat)
	}
	return m
}

// waitStarted waits until the job's progress shows some bytes done.
func (h *harness) waitStarted() {
	h.t.Helper()
	for i := 0; ; i++ {
		s := h.waitFor("Esc pauses")
		if m := doneOf.FindStringSubmatch(s); m != nil && m[1] != "0 B" {
			return
		}
		if i == 4500 {
			h.t.Fatalf("the job never got going:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPauseAndCancel: Esc during a capture pauses it while the question is
// shown (the bytes done stay where they are), no resumes it to the end,
// yes cancels it with no image written; Esc during a restore onto a disk
// that held another GPT disk pauses it too, and yes leaves the target with
// no partition table and says so.
func TestPauseAndCancel(t *testing.T) {
	testutil.Root(t)
	a := busyDisk(t, "a.img", 7)
	b := busyDisk(t, "b.img", 8)
	victim := testutil.Sparse(t, "victim.img", 1<<30)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+100M", "-n2:0:0", victim)
	repoDir := filepath.Join(t.TempDir(), "repo")
	h := start(t, Config{Files: []string{a, b, victim}, Repos: []string{repoDir}})
	images := func() []string {
		r, err := repo.Open(repoDir)
		if err != nil {
			t.Fatal(err)
		}
		names, err := r.Images()
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	// Paused, then resumed: the capture completes.
	h.toCaptureSummary(a, repoDir, "first")
	h.key(tcell.KeyEnter)
	h.waitStarted()
	h.key(tcell.KeyEscape)
	h.waitFor("Cancel capture first?")
	first := h.pausedAt()
	time.Sleep(time.Second) // time for a capture that runs on to move
	if again := h.pausedAt(); again != first {
		t.Fatalf("the paused capture moved on: %q, then %q", first, again)
	}
	if strings.HasPrefix(first, "0 B") || strings.HasPrefix(first, "1.0 GiB") {
		t.Fatalf("the capture paused at %q: not part way", first)
	}
	t.Logf("paused: %s", first)
	h.typeText("n")
	h.waitFor("finished in")
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	if got := images(); len(got) != 1 || got[0] != "first" {
		t.Fatalf("after the resumed capture the repository holds %q", got)
	}

	// Paused, then cancelled: no image, and the screen says so.
	h.toCaptureSummary(b, repoDir, "second")
	h.key(tcell.KeyEnter)
	h.waitStarted()
	h.key(tcell.KeyEscape)
	h.waitFor("Cancel capture second?", "Paused at")
	h.typeText("y")
	s := h.waitFor("second: cancelled", "no image was written")
	t.Logf("capture cancelled:\n%s", s)
	if got := images(); len(got) != 1 {
		t.Fatalf("the cancelled capture left images: %q", got)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")

	// A restore paused and cancelled.
	h.typeText("r")
	h.waitFor("1/3 choose the repository")
	h.key(tcell.KeyEnter)
	h.waitFor("1/3 choose the image", "first")
	h.key(tcell.KeyEnter)
	h.waitFor("2/3")
	h.selectTarget(victim)
	h.waitFor("Type victim.img")
	h.typeText("victim.img")
	h.key(tcell.KeyEnter)
	h.waitStarted()
	h.key(tcell.KeyEscape)
	h.waitFor("Cancel restore first?", "Paused at")
	h.typeText("y")
	s = h.waitFor("first: cancelled", "Restore cancelled at", "victim.img is partly written and holds no", "Restore again to finish")
	t.Logf("restore cancelled:\n%s", s)
	if strings.Contains(s, "context canceled") {
		t.Error("the cancelled restore speaks of the context")
	}
	d, err := disk.Open(victim, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if tb, err := ptable.Read(d, d.Size(), d.LogicalSectorSize()); err != nil || tb.Type != ptable.TypeNone {
		t.Errorf("the cancelled restore left the table %+v (%v)", tb, err)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
}

func TestRestoreErrors(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 3)
	small := testutil.Sparse(t, "small.img", 32<<20)
	victim := gptDisk(t, "victim.img", 4)
	repoDir := filepath.Join(t.TempDir(), "repo")
	h := start(t, Config{Files: []string{a, small, victim}, Repos: []string{repoDir}})

	// Capture a through the UI, every sector.
	if s := h.toCaptureSummaryWith(a, repoDir, "golden", true); !strings.Contains(s, "every sector is read") {
		t.Errorf("capture summary does not say every sector is read:\n%s", s)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("finished in")
	h.key(tcell.KeyEnter)
	if list, err := ops.ListImages(repoDir); err != nil || len(list) != 1 || list[0].Manifest.Stats.BytesRead != list[0].Manifest.Disk.Size {
		t.Fatalf("an every-sector capture: %+v, %v", list, err)
	}

	// Too small a target: refused before anything is written.
	smallBefore := hashFile(t, small)
	h.typeText("r")
	h.waitFor("1/3 choose the repository")
	h.key(tcell.KeyEnter)
	h.waitFor("1/3 choose the image", "golden")
	h.key(tcell.KeyEnter)
	h.waitFor("2/3")
	h.selectTarget(small)
	s := h.waitFor("cannot start", "What to do: Choose a target of at least", "bytes) short")
	t.Logf("too small:\n%s", s)
	if hashFile(t, small) != smallBefore {
		t.Fatal("the too-small target was written")
	}
	h.key(tcell.KeyEscape)
	h.key(tcell.KeyEscape)
	h.key(tcell.KeyEscape)
	h.key(tcell.KeyEscape)
	h.waitFor("q quit")

	// A corrupt chunk: the restore stops, names the chunk, and leaves no
	// partition table: the old one was cleared first, the new one is
	// written last.
	m, err := ops.ListImages(repoDir)
	if err != nil || len(m) != 1 {
		t.Fatal(m, err)
	}
	var chunk string
	for _, e := range m[0].Manifest.Extents {
		if !e.Hole {
			chunk = filepath.Join(repoDir, repo.ChunkPath(e.ID))
		}
	}
	data, err := os.ReadFile(chunk)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(chunk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h.typeText("i")
	h.waitFor("golden")
	h.typeText("r")
	h.waitFor("2/3")
	h.selectTarget(victim)
	h.waitFor("Type victim.img")
	h.typeText("victim.img")
	h.key(tcell.KeyEnter)
	s = h.waitFor("FAILED", "chunk", "What to do", "damaged", "victim.img is partly written and holds no")
	t.Logf("corrupt chunk:\n%s", s)
	d, err := disk.Open(victim, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := ptable.Read(d, d.Size(), d.LogicalSectorSize())
	d.Close()
	if err != nil || tb.Type != ptable.TypeNone {
		t.Errorf("the failed restore left the table %+v (%v)", tb, err)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	if !strings.Contains(fmt.Sprint(h.text()), "Disks") {
		t.Error("not back on the disks screen")
	}
}

// TestFoundRepository: a repository on an attached disk (a loop device
// with ext4 over its whole length) is found without being typed, looked at
// without a byte of the disk changing, and captured into after the UI
// mounts it read-write.
func TestFoundRepository(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 5)
	usb := testutil.Sparse(t, "usb.img", 256<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "STICK", usb)
	dev := testutil.Loop(t, usb, 0)

	// Put a repository with one image on it.
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: a, Repo: filepath.Join(mnt, "lifeboat"), Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	job.Close()
	testutil.Run(t, "umount", mnt)
	before := testutil.HashFile(t, dev, -1)

	root := t.TempDir()
	name := filepath.Base(dev)
	find := &repofind.Finder{
		MountRoot: filepath.Join(root, "mnt"),
		Filter:    func(d inventory.Disk) bool { return d.Name == name },
	}
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Files: []string{a}, Find: find})
	h.waitFor(name, "repo")
	h.typeText("i")
	h.waitFor("found on "+dev+" (ext4)", "first")
	if got := testutil.HashFile(t, dev, -1); got != before {
		t.Fatal("looking for repositories changed the disk")
	}
	h.key(tcell.KeyEscape)

	// Capture into it: the wizard offers the found repository.
	h.toCaptureSummary(a, "found on "+dev, "second")
	h.key(tcell.KeyEnter)
	h.waitFor("finished in", "Image second")
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	h.stopUI()

	// The UI unmounted the disk when it stopped; the repository on it now
	// holds both images and the file system is clean.
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Fatalf("%s still mounted at %v", dev, ms)
	}
	testutil.Run(t, "e2fsck", "-fn", dev)
	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	list, err := ops.ListImages(filepath.Join(mnt, "lifeboat"))
	if err != nil || len(list) != 2 {
		t.Fatalf("repository on %s holds %d images (%v), want 2", dev, len(list), err)
	}
}

// mountsOf returns where dev is mounted.
func mountsOf(t *testing.T, dev string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == dev {
			out = append(out, f[1])
		}
	}
	return out
}
