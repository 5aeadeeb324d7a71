package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/fsmap"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
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

// TestDiskImageExactRuns: an extent with more used runs than a manifest
// keeps is read as a capture reads it, only the used runs (zeros between
// them), though its manifest runs are merged.
func TestDiskImageExactRuns(t *testing.T) {
	p := testutil.Sparse(t, "disk.img", 8<<20)
	testutil.WriteAt(t, p, bytes.Repeat([]byte{0xab}, 8<<20), 0)
	d, err := disk.Open(p, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var used []fsmap.Range
	for off := int64(0); off < 4<<20; off += 8 << 10 {
		used = append(used, fsmap.Range{Off: off, Len: 512})
	}
	used = append(used, fsmap.Range{Off: 4 << 20, Len: 4 << 20})
	im, err := NewDiskImage(d, DiskImageOptions{Name: p, Plan: &CapturePlan{Table: &ptable.Table{}, used: used}})
	if err != nil {
		t.Fatal(err)
	}
	e := im.Manifest().Extents[0]
	if e.Hole || len(e.Used) == 0 || len(e.Used) > image.MaxRunsPerExtent {
		t.Fatalf("extent 0: hole %v, %d runs; want at most %d, merged from %d", e.Hole, len(e.Used), image.MaxRunsPerExtent, len(used)-1)
	}
	b, err := im.Extent(0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(b); off += 512 {
		want := byte(0)
		if off%(8<<10) == 0 {
			want = 0xab
		}
		if b[off] != want || b[off+511] != want {
			t.Fatalf("byte %d reads %#x, want %#x: only the used runs are read", off, b[off], want)
		}
	}
}
