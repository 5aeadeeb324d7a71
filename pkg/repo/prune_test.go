package repo_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const extent = 4 << 20

// randomExtent is the content of extent number n of the test disks: 256
// KiB of random bytes from seed n, then zeros.
func randomExtent(n uint64) []byte {
	buf := make([]byte, extent)
	r := rand.New(rand.NewPCG(n, n))
	for i := 0; i < 256<<10; i++ {
		buf[i] = byte(r.Uint32())
	}
	return buf
}

// diskWith makes a sparse disk of size bytes whose extent i holds
// randomExtent(seeds[i]) (seed 0: zeros, a hole).
func diskWith(t *testing.T, name string, size int64, seeds []uint64) string {
	t.Helper()
	p := testutil.Sparse(t, name, size)
	for i, s := range seeds {
		if s != 0 {
			testutil.WriteAt(t, p, randomExtent(s), int64(i)*extent)
		}
	}
	return p
}

func capture(t *testing.T, ctx context.Context, r *repo.Repo, path, name, note string) (*image.Manifest, error) {
	t.Helper()
	d, err := disk.Open(path, disk.Options{SectorSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return engine.Capture(ctx, d, r, engine.CaptureOptions{Name: name, Workers: 2, AllSectors: true, Note: note})
}

func mustCapture(t *testing.T, r *repo.Repo, path, name string) *image.Manifest {
	t.Helper()
	m, err := capture(t, context.Background(), r, path, name, "")
	if err != nil {
		t.Fatalf("capture %s: %v", name, err)
	}
	return m
}

// verifyImage checks every chunk of an image.
func verifyImage(t *testing.T, r *repo.Repo, name string) {
	t.Helper()
	m, err := r.ReadManifest(name)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := engine.Verify(context.Background(), r, m, engine.VerifyOptions{Workers: 2})
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("image %s does not verify: %v %v", name, err, rep.Problems)
	}
}

func chunkIDs(m *image.Manifest) map[image.Hash]int64 {
	ids := map[image.Hash]int64{}
	for _, e := range m.Extents {
		if !e.Hole {
			ids[e.ID] = int64(e.Stored)
		}
	}
	return ids
}

func present(r *repo.Repo, id image.Hash) bool {
	_, ok, _ := r.ChunkSize(id)
	return ok
}

// TestDeleteReclaimsUniqueChunks: two images share four chunks and have
// two of their own each. Deleting one reclaims exactly its own two (the
// usage said so beforehand), keeps the shared ones, and the other image
// still verifies.
func TestDeleteReclaimsUniqueChunks(t *testing.T) {
	a := diskWith(t, "a.img", 32<<20, []uint64{1, 2, 3, 4, 5, 6})
	b := diskWith(t, "b.img", 32<<20, []uint64{1, 2, 3, 4, 7, 8})
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	ma := mustCapture(t, r, a, "a")
	mb := mustCapture(t, r, b, "b")
	if err := r.SetNote("a", "old laptop"); err != nil {
		t.Fatal(err)
	}
	ida, idb := chunkIDs(ma), chunkIDs(mb)
	var unique, uniqueBytes, stored int64
	for id, n := range ida {
		stored += n
		if _, shared := idb[id]; !shared {
			unique++
			uniqueBytes += n
		}
	}
	if len(ida) != 6 || unique != 2 {
		t.Fatalf("image a has %d chunks, %d unique; the test wants 6 and 2", len(ida), unique)
	}
	u := repo.ImageUsage([]*image.Manifest{ma, mb})
	if want := (repo.Usage{Chunks: 6, Stored: stored, UniqueChunks: 2, Unique: uniqueBytes}); u[0] != want {
		t.Errorf("usage of a %+v, want %+v", u[0], want)
	}

	dry, err := r.Delete(context.Background(), "a", repo.PruneOptions{DryRun: true})
	if err != nil || dry.Prune.Chunks != 2 || dry.Prune.Bytes != uniqueBytes {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if ok, _ := r.HasImage("a"); !ok {
		t.Fatal("a dry run deleted the image")
	}
	res, err := r.Delete(context.Background(), "a", repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Prune.Chunks != 2 || res.Prune.Bytes != uniqueBytes || res.Usage.Unique != uniqueBytes || res.Prune.InUse != 6 {
		t.Errorf("delete reclaimed %+v (usage %+v), want 2 chunks of %d bytes, 6 in use", res.Prune, res.Usage, uniqueBytes)
	}
	for id := range ida {
		_, shared := idb[id]
		if present(r, id) != shared {
			t.Errorf("chunk %s: present %v, shared %v", id, present(r, id), shared)
		}
	}
	if ok, _ := r.HasImage("a"); ok {
		t.Error("image a is still listed")
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), repo.NotePath("a"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the note of a is left: %v", err)
	}
	verifyImage(t, r, "b")
	if _, err := r.Delete(context.Background(), "a", repo.PruneOptions{}); !errors.Is(err, repo.ErrNoImage) {
		t.Errorf("deleting a again: %v", err)
	}
	if locks, _ := r.Locks(); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
}

// TestPruneRemovesOrphans: chunks no manifest names (what an interrupted
// capture leaves), temporary files and notes of deleted images are
// removed; chunks images use stay; an unused chunk newer than the prune
// stays too.
func TestPruneRemovesOrphans(t *testing.T) {
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := repo.NewCodec(repo.LevelFast, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	put := func(seed uint64) (image.Hash, int64) {
		data := randomExtent(seed)
		id := image.Hash(sha256.Sum256(data))
		z := codec.Compress(nil, data)
		if _, err := r.PutChunk(id, z); err != nil {
			t.Fatal(err)
		}
		return id, int64(len(z))
	}
	orphan1, n1 := put(101)
	orphan2, n2 := put(102)
	fresh, _ := put(103)
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(r.Dir(), repo.ChunkPath(fresh)), future, future)
	tmp := filepath.Join(r.Dir(), filepath.Dir(repo.ChunkPath(orphan1)), ".tmp-0123456789ab")
	os.WriteFile(tmp, []byte("half a chunk"), 0o644)
	os.WriteFile(filepath.Join(r.Dir(), repo.NotePath("gone")), []byte(`{"note":"x"}`), 0o644)

	a := diskWith(t, "a.img", 16<<20, []uint64{1, 2, 0, 3})
	ma := mustCapture(t, r, a, "a")

	dry, err := r.Prune(context.Background(), repo.PruneOptions{DryRun: true})
	if err != nil || dry.Chunks != 2 {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	if !present(r, orphan1) {
		t.Fatal("a dry run removed a chunk")
	}
	res, err := r.Prune(context.Background(), repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := repo.PruneResult{Images: 1, Chunks: 2, Bytes: n1 + n2, Temps: 1, TempBytes: 12, Notes: 1, Kept: 1,
		KeptBytes: res.KeptBytes, InUse: 3, InUseBytes: ma.Stats.StoredBytes}
	if res != want {
		t.Errorf("prune %+v, want %+v", res, want)
	}
	if present(r, orphan1) || present(r, orphan2) || !present(r, fresh) {
		t.Error("wrong chunks removed")
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Error("temporary file left")
	}
	verifyImage(t, r, "a")
}

// TestPruneRefusedWhileLocked: a capture's shared lock (flock and lock
// file) refuses deletes and prunes, naming the capture; a lock file of a
// capture on another machine does too (no flock there); an exclusive lock
// refuses captures.
func TestPruneRefusedWhileLocked(t *testing.T) {
	a := diskWith(t, "a.img", 8<<20, []uint64{1, 2})
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	mustCapture(t, r, a, "a")
	lk, err := r.LockShared(repo.OpCapture, "monday")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, err = r.Prune(context.Background(), repo.PruneOptions{})
	var le *repo.LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "capture of image monday by "+host+" pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("prune during a capture: %v", err)
	}
	if _, err := r.Delete(context.Background(), "a", repo.PruneOptions{}); !errors.As(err, &le) {
		t.Fatalf("delete during a capture: %v", err)
	}
	if ok, _ := r.HasImage("a"); !ok {
		t.Fatal("a refused delete deleted the image")
	}
	// Captures share.
	lk2, err := r.LockShared(repo.OpCapture, "tuesday")
	if err != nil {
		t.Fatalf("second capture: %v", err)
	}
	lk2.Unlock()
	lk.Unlock()

	// Another machine's capture: only its lock file tells.
	other := repo.LockInfo{Operation: repo.OpCapture, Image: "remote", Host: "workshop-7", PID: 4242, Started: time.Now()}
	b, _ := json.Marshal(other)
	lf := filepath.Join(r.Dir(), "locks", "00ff00ff00ff00ff.json")
	if err := os.WriteFile(lf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = r.Prune(context.Background(), repo.PruneOptions{})
	if !errors.As(err, &le) || le.AllStale() || !strings.Contains(err.Error(), "capture of image remote by workshop-7 pid 4242") {
		t.Fatalf("prune during another machine's capture: %v", err)
	}
	if removed, err := r.RemoveStaleLocks(); err != nil || len(removed) != 0 {
		t.Fatalf("a fresh lock was removed as stale: %v %v", removed, err)
	}
	os.Remove(lf)

	ex, err := r.LockExclusive(repo.OpPrune)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capture(t, context.Background(), r, a, "b", ""); !errors.As(err, &le) || !strings.Contains(err.Error(), "prune by") {
		t.Fatalf("capture during a prune: %v", err)
	}
	if ok, _ := r.HasImage("b"); ok {
		t.Fatal("a refused capture wrote an image")
	}
	ex.Unlock()
	if _, err := r.Prune(context.Background(), repo.PruneOptions{}); err != nil {
		t.Fatalf("prune after the locks are gone: %v", err)
	}
}

// TestStaleLocks: a lock of a process of this machine that is gone, and
// one not refreshed for longer than LockStale, are stale: prunes are
// refused until they are removed, and RemoveStaleLocks removes only them.
// A capture whose lock is removed meanwhile writes no image.
func TestStaleLocks(t *testing.T) {
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	host, _ := os.Hostname()
	dir := filepath.Join(r.Dir(), "locks")
	os.MkdirAll(dir, 0o755)
	write := func(id string, l repo.LockInfo, age time.Duration) {
		b, _ := json.Marshal(l)
		p := filepath.Join(dir, id+".json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		os.Chtimes(p, then, then)
	}
	write("dead", repo.LockInfo{Operation: repo.OpCapture, Image: "x", Host: host, PID: dead, Started: time.Now()}, 0)
	write("old", repo.LockInfo{Operation: repo.OpPrune, Exclusive: true, Host: "elsewhere", PID: 1, Started: time.Now()}, repo.LockStale+time.Minute)
	write("live", repo.LockInfo{Operation: repo.OpCapture, Image: "y", Host: host, PID: os.Getpid(), Started: time.Now()}, 0)

	locks, err := r.Locks()
	if err != nil || len(locks) != 3 {
		t.Fatalf("locks %v %v", locks, err)
	}
	stale := map[string]string{}
	for _, l := range locks {
		stale[l.ID] = l.Stale
	}
	if !strings.Contains(stale["dead"], "not running") || !strings.Contains(stale["old"], "not refreshed") || stale["live"] != "" {
		t.Errorf("staleness %q", stale)
	}
	_, err = r.Prune(context.Background(), repo.PruneOptions{})
	var le *repo.LockedError
	if !errors.As(err, &le) || le.AllStale() || !strings.Contains(err.Error(), "stale: process") {
		t.Fatalf("prune with stale and live locks: %v", err)
	}
	removed, err := r.RemoveStaleLocks()
	if err != nil || len(removed) != 2 {
		t.Fatalf("removed %v %v", removed, err)
	}
	os.Remove(filepath.Join(dir, "live.json"))
	if _, err := r.Prune(context.Background(), repo.PruneOptions{}); err != nil {
		t.Fatalf("prune after removing stale locks: %v", err)
	}

	lk, err := r.LockShared(repo.OpCapture, "z")
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Check(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, lk.Info().ID+".json"))
	if err := lk.Check(); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("check of a removed lock: %v", err)
	}
	lk.Unlock()
}

// TestPruneDuringCapture runs a capture of a 1 GiB disk whose first half
// is already in the repository as unused chunks (left by a deleted
// image), and prunes again and again while it runs: every prune is
// refused, the capture's image verifies completely, and a prune
// afterwards removes none of its chunks.
func TestPruneDuringCapture(t *testing.T) {
	const n = 256
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(1000 + i)
	}
	src := diskWith(t, "big.img", n*extent, seeds)
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := repo.NewCodec(repo.LevelFast, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds[:n/2] {
		data := randomExtent(s)
		if _, err := r.PutChunk(sha256.Sum256(data), codec.Compress(nil, data)); err != nil {
			t.Fatal(err)
		}
	}
	codec.Close()

	done := make(chan error, 1)
	go func() {
		_, err := capture(t, context.Background(), r, src, "big", "")
		done <- err
	}()
	// Wait for the capture's lock, then prune until the capture ends.
	locked := false
	for i := 0; i < 100000 && !locked; i++ {
		locks, _ := r.Locks()
		locked = len(locks) > 0
		select {
		case err := <-done:
			t.Fatalf("the capture ended before its lock was seen: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	if !locked {
		t.Fatal("the capture never took a lock")
	}
	refused := 0
	var capErr error
loop:
	for i := 0; i < 1000000; i++ {
		select {
		case capErr = <-done:
			break loop
		default:
		}
		_, err := r.Prune(context.Background(), repo.PruneOptions{})
		var le *repo.LockedError
		if err == nil {
			// Possible only once the capture has written its manifest.
			continue
		}
		if !errors.As(err, &le) {
			t.Fatalf("prune: %v", err)
		}
		refused++
	}
	if capErr != nil {
		t.Fatalf("capture: %v", capErr)
	}
	verifyImage(t, r, "big")
	if refused == 0 {
		t.Fatal("no prune ran while the capture did")
	}
	t.Logf("%d prunes refused during the capture", refused)
	res, err := r.Prune(context.Background(), repo.PruneOptions{})
	if err != nil || res.Chunks != 0 || res.InUse != n {
		t.Fatalf("prune after the capture: %+v %v", res, err)
	}
	verifyImage(t, r, "big")
}

// TestNotes: a note given at capture is in the manifest; one set later
// replaces it (an object of its own); notes are bounded and checked.
func TestNotes(t *testing.T) {
	a := diskWith(t, "a.img", 8<<20, []uint64{1})
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := capture(t, context.Background(), r, a, "a", "Dell 7490, before the SSD swap")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := r.ReadManifest("a")
	if err != nil || m2.Note != "Dell 7490, before the SSD swap" || m2.ID != m.ID {
		t.Fatalf("manifest note %q %v", m2.Note, err)
	}
	if n, err := r.NoteOf(m2); err != nil || n != m2.Note {
		t.Fatalf("note %q %v", n, err)
	}
	if err := r.SetNote("a", "customer: Smith\nticket 4411"); err != nil {
		t.Fatal(err)
	}
	if n, err := r.NoteOf(m2); err != nil || n != "customer: Smith\nticket 4411" {
		t.Fatalf("note after SetNote %q %v", n, err)
	}
	if err := r.SetNote("a", ""); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.NoteOf(m2); n != "" {
		t.Fatalf("cleared note reads %q", n)
	}
	for _, bad := range []string{strings.Repeat("x", image.MaxNoteSize+1), "bell\a", "\xff\xfe"} {
		if err := r.SetNote("a", bad); err == nil {
			t.Errorf("note %q accepted", bad)
		}
	}
	if err := r.SetNote("nope", "x"); !errors.Is(err, repo.ErrNoImage) {
		t.Errorf("note of a missing image: %v", err)
	}
	if _, err := capture(t, context.Background(), r, a, "b", "tab\tok\x00not"); err == nil {
		t.Error("a capture note with a NUL was accepted")
	}
}

func FuzzParseNote(f *testing.F) {
	f.Add([]byte(`{"note":"hello","updated":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{"note":"\u0007"}`))
	f.Add([]byte(`{"note":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := repo.ParseNote(b)
		if err != nil {
			return
		}
		if image.ValidNote(n.Text) != nil {
			t.Fatalf("accepted an invalid note %q", n.Text)
		}
		// What was accepted survives a round trip.
		out, _ := json.Marshal(n)
		n2, err := repo.ParseNote(out)
		if err != nil || n2.Text != n.Text {
			t.Fatalf("round trip: %q -> %q %v", n.Text, n2.Text, err)
		}
	})
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(`{"operation":"capture","exclusive":false,"image":"a","host":"h","pid":1,"started":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := repo.ParseLock(b)
		if err != nil {
			return
		}
		if l.Operation == "" {
			t.Fatal("accepted a lock without an operation")
		}
		_ = l.String()
	})
}

// TestPausedPruneRemovesNothing: a prune whose tracker is paused (the UI
// asking whether to cancel it) removes nothing until it is resumed, and
// one cancelled while paused has removed nothing.
func TestPausedPruneRemovesNothing(t *testing.T) {
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := repo.NewCodec(repo.LevelFast, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	var paths []string
	past := time.Now().Add(-time.Hour)
	for seed := uint64(201); seed < 205; seed++ {
		data := randomExtent(seed)
		id := image.Hash(sha256.Sum256(data))
		if _, err := r.PutChunk(id, codec.Compress(nil, data)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(r.Dir(), repo.ChunkPath(id))
		os.Chtimes(p, past, past)
		paths = append(paths, p)
	}
	left := func() int {
		n := 0
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				n++
			}
		}
		return n
	}
	tr := &progress.Tracker{}
	tr.Pause()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Prune(ctx, repo.PruneOptions{Progress: tr})
		done <- err
	}()
	for i := 0; i < 3000 && tr.Snapshot().Stage != "removing unused chunks"; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if s := tr.Snapshot(); s.Stage != "removing unused chunks" || !s.Held {
		t.Fatalf("the prune did not reach its removals held: %+v", s)
	}
	time.Sleep(300 * time.Millisecond) // what an unheld prune needs many times over
	if n := left(); n != len(paths) {
		t.Errorf("a paused prune removed %d of %d unused chunks", len(paths)-n, len(paths))
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("prune cancelled while paused: %v", err)
	}
	if n := left(); n != len(paths) {
		t.Errorf("a prune cancelled while paused removed %d chunks", len(paths)-n)
	}
	res, err := r.Prune(context.Background(), repo.PruneOptions{})
	if err != nil || res.Chunks != int64(len(paths)) || left() != 0 {
		t.Fatalf("prune afterwards: %+v %v, %d left", res, err, left())
	}
}
