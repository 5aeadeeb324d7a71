package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// rawDisk makes a 32 MiB disk file whose 4 MiB extent i holds 1 MiB of
// random bytes from seeds[i] (0: nothing).
func rawDisk(t *testing.T, path string, seeds ...uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(32 * MiB)
	f.Close()
	for i, s := range seeds {
		if s == 0 {
			continue
		}
		buf := make([]byte, MiB)
		r := rand.New(rand.NewPCG(s, s))
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		testutil.WriteAt(t, path, buf, int64(i)*4*MiB)
	}
	return path
}

type listed struct {
	Name    string `json:"name"`
	Note    string `json:"note"`
	OnDisk  int64  `json:"size_on_disk"`
	Chunks  int64  `json:"chunks_on_disk"`
	Unique  int64  `json:"unique_size"`
	UChunks int64  `json:"unique_size_chunks"`
	Disk    struct {
		Path string `json:"path"`
	} `json:"disk"`
}

func listImages(t *testing.T, args ...string) []listed {
	t.Helper()
	r := lifeboat(t, "", append([]string{"images", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatal(r)
	}
	var out []listed
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("images --json: %v\n%s", err, r.stdout)
	}
	return out
}

func names(l []listed) string {
	var s []string
	for _, im := range l {
		s = append(s, im.Name)
	}
	return strings.Join(s, " ")
}

// TestImagesDeletePrune: images lists sizes on disk and unique sizes,
// sorted and filtered, with notes set at capture and later; delete asks
// for the name, says what it reclaimed (exactly the unique size) and
// leaves the other images whole; an unknown name lists the images; prune
// is refused while another machine's capture holds a lock and goes ahead
// once a stale lock is removed.
func TestImagesDeletePrune(t *testing.T) {
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	t.Setenv("LIFEBOAT_REPO", repoDir)
	a := rawDisk(t, filepath.Join(dir, "a.img"), 1, 2, 3, 4)
	b := rawDisk(t, filepath.Join(dir, "b.img"), 1, 2, 5)
	c := rawDisk(t, filepath.Join(dir, "c.img"), 6, 7, 8, 9, 10, 11)
	for _, x := range []struct{ name, path, note string }{{"alpha", a, "Dell 7490 before the SSD swap"}, {"bravo", b, ""}, {"charlie", c, ""}} {
		r := lifeboat(t, "", "capture", "--name", x.name, "--note", x.note, "--quiet", x.path)
		if r.code != 0 {
			t.Fatal(r)
		}
	}
	if r := lifeboat(t, "", "capture", "--name", "delta", "--note", "bell\a", a); r.code != exitUsage {
		t.Errorf("a note with a control character: %s", r)
	}
	if r := lifeboat(t, "", "note", "--name", "bravo", "front desk PC, ticket 4411"); r.code != 0 {
		t.Fatal(r)
	}

	l := listImages(t, "--sort", "name")
	if names(l) != "alpha bravo charlie" {
		t.Fatalf("sorted by name: %s", names(l))
	}
	if l[0].Note != "Dell 7490 before the SSD swap" || l[1].Note != "front desk PC, ticket 4411" {
		t.Errorf("notes %q %q", l[0].Note, l[1].Note)
	}
	if l[0].Chunks != 4 || l[0].UChunks != 2 || l[1].Chunks != 3 || l[1].UChunks != 1 || l[2].UChunks != 6 || l[2].Unique != l[2].OnDisk {
		t.Errorf("usage %+v", l)
	}
	if got := names(listImages(t, "--sort", "size")); got != "charlie alpha bravo" {
		t.Errorf("sorted by size: %s", got)
	}
	if got := names(listImages(t, "--filter", "TICKET")); got != "bravo" {
		t.Errorf("filtered by note: %s", got)
	}
	if got := names(listImages(t, "--filter", "c.img")); got != "charlie" {
		t.Errorf("filtered by source: %s", got)
	}
	r := lifeboat(t, "", "images", "--sort", "name")
	if r.code != 0 || !strings.Contains(r.stdout, "ON DISK") || !strings.Contains(r.stdout, "UNIQUE") || !strings.Contains(r.stdout, "Dell 7490") {
		t.Fatal(r)
	}
	if r := lifeboat(t, "", "images", "--sort", "colour"); r.code != exitUsage {
		t.Error(r)
	}

	// An unknown name lists the images there are.
	r = lifeboat(t, "", "delete", "--name", "alfa")
	if r.code != exitFailed || !strings.Contains(r.err.Error(), "the images are: alpha, bravo, charlie") {
		t.Fatal(r)
	}
	// A wrong answer deletes nothing; a dry run neither.
	r = lifeboat(t, "bravo\n", "delete", "--name", "alpha")
	if r.code != exitRefused || !strings.Contains(r.stderr, `Type "alpha"`) || !strings.Contains(r.stderr, strconv.FormatInt(l[0].Unique, 10)+" bytes") {
		t.Fatal(r)
	}
	r = lifeboat(t, "", "delete", "--name", "alpha", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would delete alpha and reclaim") {
		t.Fatal(r)
	}
	if got := names(listImages(t, "--sort", "name")); got != "alpha bravo charlie" {
		t.Fatalf("after a refused delete: %s", got)
	}
	r = lifeboat(t, "alpha\n", "delete", "--name", "alpha")
	want := "deleted alpha; reclaimed " + human(l[0].Unique) + " (" + strconv.FormatInt(l[0].Unique, 10) + " bytes) in 2 chunks"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("want %q: %s", want, r)
	}
	if got := names(listImages(t, "--sort", "name")); got != "bravo charlie" {
		t.Fatalf("after the delete: %s", got)
	}
	for _, n := range []string{"bravo", "charlie"} {
		if r := lifeboat(t, "", "verify", "--name", n); r.code != 0 {
			t.Fatalf("%s after the delete: %s", n, r)
		}
	}
	// bravo's shared chunks are its own now.
	if l := listImages(t, "--filter", "bravo"); l[0].UChunks != 3 {
		t.Errorf("bravo after the delete %+v", l[0])
	}

	// Another machine's capture holds a lock: prune and delete refuse,
	// naming it; when it is old, the hint says how to remove it.
	lockDir := filepath.Join(repoDir, "locks")
	os.MkdirAll(lockDir, 0o755)
	lock := filepath.Join(lockDir, "0123456789abcdef.json")
	os.WriteFile(lock, []byte(`{"operation":"capture","exclusive":false,"image":"echo","host":"bench-2","pid":777,"started":"2026-12-01T10:00:00Z"}`), 0o644)
	r = lifeboat(t, "", "prune")
	if r.code != exitRefused || !strings.Contains(r.err.Error(), "capture of image echo by bench-2 pid 777") {
		t.Fatal(r)
	}
	if r := lifeboat(t, "", "delete", "--name", "bravo", "--yes", "--remove-stale-locks"); r.code != exitRefused {
		t.Fatal(r)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lock, old, old)
	r = lifeboat(t, "", "prune", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing was removed") {
		t.Fatal(r)
	}
	r = lifeboat(t, "", "prune")
	if r.code != exitRefused || !strings.Contains(r.err.Error(), "--remove-stale-locks") || !strings.Contains(r.err.Error(), "not refreshed") {
		t.Fatal(r)
	}
	r = lifeboat(t, "", "prune", "--remove-stale-locks", "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "removed stale lock 0123456789abcdef") || !strings.Contains(r.stdout, `"chunks_removed": 0`) {
		t.Fatal(r)
	}

	// Notes: printed, cleared.
	if r := lifeboat(t, "", "note", "--name", "bravo"); r.stdout != "front desk PC, ticket 4411\n" {
		t.Error(r)
	}
	if r := lifeboat(t, "", "note", "--name", "bravo", "--clear"); r.code != 0 {
		t.Fatal(r)
	}
	if l := listImages(t, "--filter", "bravo"); l[0].Note != "" {
		t.Errorf("cleared note %q", l[0].Note)
	}
}
