package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
)

// TestDiskImageSourceChanged: a disk read as an image with hashes keeps
// each extent's SHA-256 from its first read; an extent read again after
// the disk changed is an error saying so, and one unchanged reads again.
func TestDiskImageSourceChanged(t *testing.T) {
	p := testutil.Sparse(t, "disk.img", 16<<20)
	for off := int64(0); off < 16<<20; off += 1 << 20 {
		testutil.WriteAt(t, p, bytes.Repeat([]byte{byte(off >> 20), 0x5a}, 1<<19), off)
	}
	d, err := disk.Open(p, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	im, err := NewDiskImage(d, DiskImageOptions{Name: p, Hash: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(im.Manifest().Extents); n != 4 {
		t.Fatalf("%d extents, want 4 of 4 MiB", n)
	}
	for i := range 4 {
		if _, err := im.Extent(i, nil, nil); err != nil {
			t.Fatalf("extent %d: %v", i, err)
		}
	}
	if im.BytesRead() != 16<<20 {
		t.Errorf("read %d bytes, want the whole disk (no table: every sector used)", im.BytesRead())
	}
	testutil.WriteAt(t, p, []byte{0xff}, 9<<20)
	if _, err := im.Extent(1, nil, nil); err != nil {
		t.Errorf("extent 1, unchanged, read again: %v", err)
	}
	if _, err := im.Extent(2, nil, nil); err == nil || !strings.Contains(err.Error(), "changed at extent 2") {
		t.Errorf("extent 2, changed, read again: %v", err)
	}
}
