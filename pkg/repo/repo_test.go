package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
)

func TestCreateOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	if _, err := Open(dir); !errors.Is(err, ErrNotRepository) || !errors.Is(err, os.ErrNotExist) || !strings.HasSuffix(err.Error(), ": no such directory") {
		t.Fatalf("open missing: %v", err)
	}
	empty := t.TempDir()
	if _, err := Open(empty); !errors.Is(err, ErrNotRepository) || errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "not a Lifeboat repository") {
		t.Fatalf("open an empty directory: %v", err)
	}
	if _, err := Create(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	// Create on an existing repository opens it.
	if _, err := Create(dir); err != nil {
		t.Fatal(err)
	}
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "holiday.jpg"), []byte("x"), 0o644)
	if _, err := Create(busy); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("create in a non-empty directory: %v", err)
	}
}

func TestChunksAndManifests(t *testing.T) {
	r, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(LevelDefault, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("lifeboat "), 100000)
	id := image.Hash(sha256.Sum256(data))
	z := c.Compress(nil, data)
	if wrote, err := r.PutChunk(id, z); err != nil || !wrote {
		t.Fatalf("put: %v %v", wrote, err)
	}
	if wrote, err := r.PutChunk(id, z); err != nil || wrote {
		t.Fatalf("second put wrote again: %v %v", wrote, err)
	}
	if n, ok, err := r.ChunkSize(id); err != nil || !ok || n != int64(len(z)) {
		t.Fatalf("size %d %v %v", n, ok, err)
	}
	raw, err := r.ReadChunk(id, nil, MaxStored(int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Decompress(id, 0, nil, raw, len(data))
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("decompress: %v", err)
	}
	if _, err := c.Decompress(id, 0, nil, raw, len(data)-1); err == nil {
		t.Fatal("wrong expected size accepted")
	}
	var other image.Hash
	if _, err := r.ReadChunk(other, nil, 100); !errors.Is(err, ErrMissingChunk) || !IsContentError(err) {
		t.Fatalf("missing chunk: %v", err)
	}
	if err := r.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := r.PutManifest("a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := r.PutManifest("a", []byte("two")); !errors.Is(err, ErrImageExists) {
		t.Fatalf("replace: %v", err)
	}
	if err := r.PutManifest("../x", []byte("x")); err == nil {
		t.Fatal("bad name accepted")
	}
	names, err := r.Images()
	if err != nil || len(names) != 1 || names[0] != "a" {
		t.Fatalf("images %q %v", names, err)
	}
	// No temporary files are left behind.
	filepath.Walk(r.Dir(), func(p string, fi os.FileInfo, err error) error {
		if strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("left %s", p)
		}
		return nil
	})
}

func FuzzDecompress(f *testing.F) {
	c, err := NewCodec(LevelDefault, 1)
	if err != nil {
		f.Fatal(err)
	}
	data := bytes.Repeat([]byte("abc"), 5000)
	f.Add(c.Compress(nil, data), len(data))
	f.Add(c.Compress(nil, nil), 0)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, 10)
	f.Fuzz(func(t *testing.T, src []byte, want int) {
		if want < 0 || want > 1<<20 {
			return
		}
		id := image.Hash(sha256.Sum256(data))
		out, err := c.Decompress(id, 0, nil, src, want)
		if err != nil {
			var ce *ChunkError
			if !errors.As(err, &ce) {
				t.Fatalf("not a ChunkError: %v", err)
			}
			return
		}
		if !bytes.Equal(out, data) {
			t.Fatal("accepted bytes that are not the chunk")
		}
	})
}
