package tui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// TestDeleteNotePrune: on the images screen, d asks for the image's name
// (a wrong one deletes nothing; a capture running into the repository
// makes it fail, named), then deletes it and says what was
// reclaimed, which is the unique size the list showed; the other image
// still verifies. n sets a note, shown in the list; p prunes.
func TestDeleteNotePrune(t *testing.T) {
	testutil.Root(t)
	// desk is laptop with other bytes in its second partition.
	a := gptDisk(t, "laptop.img", 11)
	b := filepath.Join(t.TempDir(), "desk.img")
	testutil.Copy(t, a, b)
	buf := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(12, 12))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	testutil.WriteAt(t, b, buf, 83968*512+(1<<20))
	repoDir := filepath.Join(t.TempDir(), "repo")
	env := ops.Env{Inventory: fixture(t), Tool: "test"}
	for _, c := range []struct{ name, path string }{{"desk", b}, {"laptop", a}} {
		job, err := ops.PrepareCapture(env, ops.CaptureRequest{Source: c.path, Repo: repoDir, Name: c.name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := job.Run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		job.Close()
	}
	list, err := ops.ListImages(repoDir)
	if err != nil || len(list) != 2 || list[0].Name != "desk" {
		t.Fatalf("images %+v %v", list, err)
	}
	desk := list[0].Usage
	if desk.Unique == 0 || desk.Unique >= desk.Stored {
		t.Fatalf("desk's usage %+v: the test wants shared and unique chunks", desk)
	}

	h := start(t, Config{Files: []string{a, b}, Repos: []string{repoDir}})
	h.waitFor("q quit")
	h.typeText("i")
	h.waitFor("ON DISK", "UNIQUE", "desk", "laptop", units.Bytes(desk.Unique), "d delete")

	// A wrong name deletes nothing.
	h.typeText("d")
	h.waitFor("Delete image desk", "Type the image's name", fmt.Sprintf("%d bytes", desk.Unique))
	h.typeText("laptop")
	h.key(tcell.KeyEnter)
	t.Logf("delete confirmation:\n%s", h.waitFor(`You typed "laptop", not "desk". Nothing was deleted.`))
	r, err := repo.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := r.Images(); len(names) != 2 {
		t.Fatalf("a wrong name deleted: %v", names)
	}
	// While a capture writes into the repository, the delete is refused
	// and names it.
	lk, err := r.LockShared(repo.OpCapture, "monday")
	if err != nil {
		t.Fatal(err)
	}
	h.typeText("desk")
	h.key(tcell.KeyEnter)
	h.waitFor("FAILED", "capture of image monday", "Another operation is using")
	lk.Unlock()
	if names, _ := r.Images(); len(names) != 2 {
		t.Fatalf("a refused delete deleted: %v", names)
	}
	h.key(tcell.KeyEnter)
	// Then the right name deletes.
	h.waitFor("desk", "d delete")
	h.typeText("d")
	h.waitFor("Delete image desk")
	h.typeText("desk")
	h.key(tcell.KeyEnter)
	s := h.waitFor("Image desk deleted", "Reclaimed")
	if !strings.Contains(strings.Join(strings.Fields(s), " "), fmt.Sprintf("(%d bytes)", desk.Unique)) {
		t.Errorf("the delete did not reclaim desk's %d unique bytes:\n%s", desk.Unique, s)
	}
	if names, _ := r.Images(); len(names) != 1 || names[0] != "laptop" {
		t.Fatalf("after the delete: %v", names)
	}
	if _, err := ops.Verify(context.Background(), ops.VerifyRequest{Repo: repoDir, Name: "laptop"}, nil); err != nil {
		t.Fatalf("laptop after the delete: %v", err)
	}
	h.key(tcell.KeyEnter)

	// A note.
	h.waitFor("laptop", "d delete")
	h.typeText("n")
	h.waitFor("Image note", "Note:")
	h.typeText("front desk, ticket 4411")
	h.key(tcell.KeyEnter)
	h.waitFor("front desk, tick", "d delete")
	m, err := r.ReadManifest("laptop")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.NoteOf(m); err != nil || n != "front desk, ticket 4411" {
		t.Fatalf("note %q %v", n, err)
	}

	// Prune: nothing is left to remove.
	h.typeText("p")
	h.waitFor("Remove the chunks no")
	h.typeText("y")
	h.waitFor("Removed 0 unused chunks", "in use by 1 image")
	h.key(tcell.KeyEnter)
	h.waitFor("d delete")
}
