package imagemount

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestReader reads a captured disk of random data (every sector
// captured) through a Reader with a small cache: reads at random offsets
// and lengths from several goroutines match the disk; a sequential read
// has the extents after it decoded ahead; a damaged chunk fails the reads
// that touch it, every time (not cached), and reads again once repaired.
func TestReader(t *testing.T) {
	const extent = 64 << 10
	src := testutil.Sparse(t, "random.img", 4<<20)
	data := make([]byte, 4<<20)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, im := capture(t, src, true, extent)
	var errMu sync.Mutex
	var seen []error
	rd := NewReader(im, extent, 4*extent)
	defer rd.Close()
	rd.OnError = func(err error) { errMu.Lock(); seen = append(seen, err); errMu.Unlock() }

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(seed, seed))
			for i := 0; i < 200; i++ {
				off := rng.Int64N(int64(len(data)))
				n := rng.IntN(300 << 10)
				buf := make([]byte, n)
				k, err := rd.ReadAt(buf, off)
				want := data[off:min(off+int64(n), int64(len(data)))]
				if k != len(want) || !bytes.Equal(buf[:k], want) || (k < n && err != io.EOF) || (k == n && err != nil) {
					t.Errorf("read %d at %d: %d bytes, %v", n, off, k, err)
					return
				}
			}
		}(uint64(g))
	}
	wg.Wait()

	// Sequential: extents are decoded ahead of the reader (how many
	// depends on how fast the reader goes, but the third is always
	// started at the second's first read).
	seq := NewReader(im, extent, 16*extent)
	defer seq.Close()
	buf := make([]byte, 16<<10)
	for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
		if _, err := seq.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses, _ := seq.Stats()
	if misses >= int64(len(data)/extent) {
		t.Errorf("sequential read: %d of %d extents decoded on demand (%d hits); read-ahead did not run", misses, len(data)/extent, hits)
	}

	// A damaged chunk.
	id := im.M.Extents[5].ID
	chunk := filepath.Join(r.Dir(), repo.ChunkPath(id))
	good, err := os.ReadFile(chunk)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(chunk, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := NewReader(im, extent, 4*extent)
	defer fresh.Close()
	fresh.OnError = rd.OnError
	for try := 0; try < 2; try++ {
		if _, err := fresh.ReadAt(make([]byte, 10), 5*extent+100); err == nil || !bytes.Contains([]byte(err.Error()), []byte(id.String())) {
			t.Errorf("read over a damaged chunk, try %d: %v", try, err)
		}
	}
	if _, err := fresh.ReadAt(make([]byte, 10), 4*extent); err != nil {
		t.Errorf("read of the extent before it: %v", err)
	}
	if err := os.WriteFile(chunk, good, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	if _, err := fresh.ReadAt(got, 5*extent+100); err != nil || !bytes.Equal(got, data[5*extent+100:5*extent+110]) {
		t.Errorf("read after the chunk is repaired: %v", err)
	}
	errMu.Lock()
	if _, _, failed := fresh.Stats(); failed != 2 || len(seen) != 2 {
		t.Errorf("%d failures counted, %d seen by OnError; want 2", failed, len(seen))
	}
	errMu.Unlock()
	if _, err := fresh.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("read at a negative offset")
	}
	if k, err := fresh.ReadAt(make([]byte, 1), int64(len(data))); k != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at the end: %d, %v", k, err)
	}
}
