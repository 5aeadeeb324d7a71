package fatfs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

// TestFS puts a tree in FAT12/16/32 volumes with mtools (keeping the
// files' times), then reads it through FS: fstest.TestFS checks the
// io/fs contract, and every file's bytes (read whole and at offsets
// across fragmented clusters), size and time match what was put there.
func TestFS(t *testing.T) {
	for _, kind := range []struct {
		fat, spc string
		size     int64
	}{{"12", "4", 4 << 20}, {"16", "4", 32 << 20}, {"32", "1", 64 << 20}} {
		t.Run("FAT"+kind.fat, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "v.img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, kind.size); err != nil {
				t.Fatal(err)
			}
			run(t, "mkfs.vfat", "-F", kind.fat, "-s", kind.spc, img)
			src := filepath.Join(dir, "src")
			files := map[string][]byte{
				"Überweisung 2026.txt":          []byte("hello"),
				"café/menü.odt":                 random(t, 3000),
				"café/deep/er/big.bin":          random(t, 700<<10),
				"empty":                         nil,
				"UPPER.TXT":                     []byte("short name"),
				"a directory with spaces/x.y z": random(t, 1),
			}
			when := time.Date(2021, 3, 4, 5, 6, 8, 0, time.UTC)
			for p, data := range files {
				full := filepath.Join(src, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, data, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(full, when, when); err != nil {
					t.Fatal(err)
				}
			}
			// A file written in pieces with another in between, so that
			// its clusters are not all in one run.
			frag := filepath.Join(dir, "frag")
			fragData := random(t, 40<<10)
			if err := os.WriteFile(frag, fragData[:8<<10], 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "mcopy", "-i", img, "-s", "-m", filepath.Join(src, "Überweisung 2026.txt"), filepath.Join(src, "café"), filepath.Join(src, "empty"),
				filepath.Join(src, "UPPER.TXT"), filepath.Join(src, "a directory with spaces"), "::/")
			run(t, "mcopy", "-i", img, frag, "::/frag")
			run(t, "mcopy", "-i", img, frag, "::/spacer")
			if err := os.WriteFile(frag, fragData, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "mdel", "-i", img, "::/frag")
			run(t, "mcopy", "-i", img, frag, "::/frag")
			files["frag"] = fragData
			files["spacer"] = fragData[:8<<10]

			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v, err := Open(f, kind.size)
			if err != nil {
				t.Fatal(err)
			}
			fsys := v.FS()
			var names []string
			for p := range files {
				names = append(names, p)
			}
			if err := fstest.TestFS(fsys, names...); err != nil {
				t.Fatal(err)
			}
			for p, want := range files {
				got, err := fs.ReadFile(fsys, p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes read differ from the %d put", p, len(got), len(want))
				}
				fi, err := fs.Stat(fsys, p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != int64(len(want)) {
					t.Errorf("%s: size %d, want %d", p, fi.Size(), len(want))
				}
				if p != "frag" && p != "spacer" && !fi.ModTime().Equal(when) {
					t.Errorf("%s: time %v, want %v", p, fi.ModTime(), when)
				}
			}
			// Reads at offsets across the fragmented file's clusters.
			fh, err := fsys.Open("frag")
			if err != nil {
				t.Fatal(err)
			}
			ra := fh.(io.ReaderAt)
			for _, off := range []int64{0, 511, 512, 8<<10 - 1, 8 << 10, 20000, 40<<10 - 3} {
				buf := make([]byte, 9000)
				n, err := ra.ReadAt(buf, off)
				want := fragData[off:min(off+9000, int64(len(fragData)))]
				if n != len(want) || !bytes.Equal(buf[:n], want) || (n < len(buf) && err != io.EOF) {
					t.Errorf("frag at %d: %d bytes, %v; want %d bytes", off, n, err, len(want))
				}
			}
			if _, err := fs.Stat(fsys, "missing/x"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat of a missing file: %v", err)
			}
		})
	}
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
