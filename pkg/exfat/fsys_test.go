package exfat

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestFS reads the exFAT partition of testutil.FilledDisk (filled by
// exfat-fuse: nested folders, non-ASCII names, a large file, times)
// through FS: fstest.TestFS checks the io/fs contract, and every entry's
// kind, size, content and time match what was put there.
func TestFS(t *testing.T) {
	img, parts := testutil.FilledDisk(t, "filled.img")
	p := parts[2]
	if p.FSType != "exfat" {
		t.Fatalf("partition 3 is %s", p.FSType)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := Parse(io.NewSectionReader(f, p.Start, p.Size), p.Size)
	if err != nil {
		t.Fatal(err)
	}
	fsys := v.FS()
	var names []string
	for _, e := range p.Files {
		if e.Symlink == "" {
			names = append(names, e.Path)
		}
	}
	if err := fstest.TestFS(fsys, names...); err != nil {
		t.Fatal(err)
	}
	for _, want := range p.Files {
		fi, err := fs.Stat(fsys, want.Path)
		if err != nil {
			t.Errorf("%s: %v", want.Path, err)
			continue
		}
		if fi.IsDir() != want.Dir {
			t.Errorf("%s: directory %v, want %v", want.Path, fi.IsDir(), want.Dir)
		}
		if d := fi.ModTime().Sub(want.ModTime); d > time.Second || d < -time.Second {
			t.Errorf("%s: time %v, want %v", want.Path, fi.ModTime(), want.ModTime)
		}
		if want.Dir {
			continue
		}
		b, err := fs.ReadFile(fsys, want.Path)
		if err != nil {
			t.Errorf("%s: %v", want.Path, err)
			continue
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != want.Size || hex.EncodeToString(sum[:]) != want.SHA256 {
			t.Errorf("%s: %d bytes read, other content than the %d put", want.Path, len(b), want.Size)
		}
	}
	// Names match without regard to case, as exFAT does.
	if _, err := fs.Stat(fsys, "PHOTOS"); err != nil {
		t.Errorf("PHOTOS: %v", err)
	}
}
