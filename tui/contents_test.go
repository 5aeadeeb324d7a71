package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// partRow finds the row of partition num in a table that writeParts drew
// on the screen s, its fields split on blanks.
func partRow(s, num string) []string {
	for _, l := range strings.Split(s, "\n") {
		l = strings.Trim(l, "│║ ")
		if f := strings.Fields(l); len(f) > 0 && f[0] == num {
			return f
		}
	}
	return nil
}

// TestRestoreSummaryShowsTargetContents runs the UI on the running
// system's disks, among them a loop device over a disk whose file systems
// mkfs.ext4, mkfs.vfat and mkfs.ntfs made with labels. The disk's details
// on the home screen, and the restore's summary before it is confirmed,
// show each partition's file system, label, size and space in use; a
// wrong confirmation writes nothing.
func TestRestoreSummaryShowsTargetContents(t *testing.T) {
	testutil.Root(t)
	repoDir := filepath.Join(t.TempDir(), "repo")
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: gptDisk(t, "laptop.img", 5), Repo: repoDir, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Run(context.Background(), &progress.Tracker{})
	job.Close()
	if err != nil {
		t.Fatal(err)
	}
	tgt := testutil.Loop(t, testutil.LabelledDisk(t, "labelled.img"), 0)
	name := filepath.Base(tgt)
	before := testutil.HashFile(t, tgt, -1)
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Repos: []string{repoDir}})

	check := func(where, s string) {
		t.Helper()
		for _, want := range [][3]string{{"1", "ext4", "LBROOT"}, {"2", "FAT16", "LBBOOT"}, {"3", "ntfs", "LBDATA"}} {
			f := partRow(s, want[0])
			// # TYPE... FS LABEL SIZE USED, the sizes in two fields each.
			if len(f) < 8 || f[len(f)-6] != want[1] || f[len(f)-5] != want[2] || f[len(f)-4]+" "+f[len(f)-3] != "30.0 MiB" ||
				f[len(f)-2] == "-" || !strings.HasSuffix(f[len(f)-1], "iB") {
				t.Errorf("%s shows partition %s as %q, want %s %s 30.0 MiB and the space in use", where, want[0], f, want[1], want[2])
			}
		}
	}
	// The loop device's row, chosen from the top: other loop devices may
	// come and go while the test runs.
	h.waitFor("║" + name + " ")
	h.key(tcell.KeyHome)
	h.selectDisk(tgt)
	s := h.waitFor("gpt partition table, 3 partitions", "LBDATA")
	t.Logf("home screen:\n%s", s)
	check("the home screen", s)

	h.typeText("r")
	h.waitFor("1/3 choose the repository")
	h.key(tcell.KeyEnter)
	h.waitFor("1/3 choose the image", "laptop")
	h.key(tcell.KeyEnter)
	h.waitFor("2/3")
	for i := 0; i < 40 && !strings.Contains(h.selectedRow(), "║"+name+" "); i++ {
		row := h.selectedRow()
		h.key(tcell.KeyDown)
		for deadline := time.Now().Add(5 * time.Second); h.selectedRow() == row && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !strings.Contains(h.selectedRow(), "║"+name+" ") {
		t.Fatalf("%s is not offered as a target:\n%s", name, h.text())
	}
	h.key(tcell.KeyEnter)
	s = h.waitFor("DESTROY", "all lost", "Type "+name)
	t.Logf("restore summary:\n%s", s)
	check("the restore summary", s)

	h.typeText("nope")
	h.key(tcell.KeyEnter)
	h.waitFor("Nothing was written")
	if testutil.HashFile(t, tgt, -1) != before {
		t.Fatal("a wrong confirmation changed the target")
	}
	h.key(tcell.KeyEscape)
}

// TestImageDetailsShowUsed: an image's details show, for a partition
// captured by its file system's map, the space that map said was in use,
// and "-" for one read whole.
func TestImageDetailsShowUsed(t *testing.T) {
	testutil.Root(t)
	repoDir := filepath.Join(t.TempDir(), "repo")
	job, err := ops.PrepareCapture(ops.Env{}, ops.CaptureRequest{Source: gptDisk(t, "laptop.img", 6), Repo: repoDir, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := job.Run(context.Background(), &progress.Tracker{})
	job.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := m.Table.Partitions
	if len(p) != 2 || !strings.HasPrefix(p[0].Capture, "used blocks") || strings.HasPrefix(p[1].Capture, "used blocks") {
		t.Fatalf("image partitions %+v: want the ext4 by its map, the other whole", p)
	}
	h := start(t, Config{Repos: []string{repoDir}})
	h.typeText("i")
	h.waitFor("laptop")
	h.key(tcell.KeyEnter)
	s := h.waitFor("Image details", "used blocks")
	t.Logf("image details:\n%s", s)
	used := strings.Fields(units.Bytes(p[0].UsedBytes))
	if f := partRow(s, "1"); len(f) < 4 || f[len(f)-2] != used[0] || f[len(f)-1] != used[1] {
		t.Errorf("partition 1 shows as %q, want %s in use at the end", f, units.Bytes(p[0].UsedBytes))
	}
	if f := partRow(s, "2"); len(f) == 0 || f[len(f)-1] != "-" {
		t.Errorf("partition 2 shows as %q, want - in use (it was read whole)", f)
	}
	h.key(tcell.KeyEscape)
}
