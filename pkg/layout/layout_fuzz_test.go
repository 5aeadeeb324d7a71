package layout

import (
	"encoding/binary"
	"testing"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
)

// FuzzFAT checks, for any boot sector, that parseFAT never panics, and
// that a growth it plans keeps every FAT and the data area inside the new
// size, moves the data area only forward, and covers the same clusters.
func FuzzFAT(f *testing.F) {
	for _, seed := range []struct {
		bps, spc, rsvd, fats, root, tot16, fsz16 int
		tot32, fsz32                             uint32
	}{
		{512, 4, 1, 2, 512, 16384, 12, 0, 0},       // FAT12, 8 MiB
		{512, 4, 4, 2, 512, 0, 128, 131072, 0},     // FAT16, 64 MiB
		{512, 1, 32, 2, 0, 0, 0, 98304, 757},       // FAT32, 48 MiB
		{4096, 8, 8, 2, 0, 0, 0, 1 << 20, 1024},    // FAT32, 4 KiB sectors
		{512, 64, 32, 1, 0, 0, 0, 1 << 24, 0x2000}, // FAT32, one FAT
	} {
		b := make([]byte, 512)
		le := binary.LittleEndian
		le.PutUint16(b[11:], uint16(seed.bps))
		b[13] = byte(seed.spc)
		le.PutUint16(b[14:], uint16(seed.rsvd))
		b[16] = byte(seed.fats)
		le.PutUint16(b[17:], uint16(seed.root))
		le.PutUint16(b[19:], uint16(seed.tot16))
		le.PutUint16(b[22:], uint16(seed.fsz16))
		le.PutUint32(b[32:], seed.tot32)
		le.PutUint32(b[36:], seed.fsz32)
		le.PutUint16(b[48:], 1)
		le.PutUint16(b[50:], 6)
		b[510], b[511] = 0x55, 0xAA
		f.Add(b, int64(64<<20), int64(100<<20))
	}
	f.Fuzz(func(t *testing.T, b []byte, part, grown int64) {
		if len(b) < 512 {
			return
		}
		b = append(b, make([]byte, 4096)...)[:4096]
		part = part&(1<<40-1) + 1
		g, err := parseFAT(b, part)
		if err != nil {
			return
		}
		if g.Total*g.BytesPerSec > part || g.Clusters <= 0 {
			t.Fatalf("parsed %+v for a %d-byte partition", g, part)
		}
		grown = part + grown&(1<<36-1)
		gr, ok := growFAT(g, grown)
		if !ok {
			return
		}
		n := gr.new
		if n.Total*n.BytesPerSec > grown || n.Clusters <= g.Clusters || n.Clusters > maxClusters(g.Bits) {
			t.Fatalf("growth %+v of %+v into %d bytes", n, g, grown)
		}
		if n.FATSize*n.BytesPerSec*8 < (n.Clusters+2)*int64(n.Bits) || n.DataStart() < g.DataStart() {
			t.Fatalf("growth %+v: FATs too small or data moved back (from %+v)", n, g)
		}
		var data Segment
		for _, s := range gr.segs {
			if s.Dst+s.Len > n.Total*n.BytesPerSec || s.Src+s.Len > g.Total*g.BytesPerSec {
				t.Fatalf("segment %+v outside the volumes", s)
			}
			data = s
		}
		if data.Src != g.DataStart()*g.BytesPerSec || data.Dst != n.DataStart()*n.BytesPerSec {
			t.Fatalf("data segment %+v, data areas at sectors %d and %d", data, g.DataStart(), n.DataStart())
		}
		for _, w := range gr.wipe {
			if w.Dst < n.Reserved*n.BytesPerSec || w.Dst+w.Len > n.DataStart()*n.BytesPerSec {
				t.Fatalf("zeroed range %+v outside the FATs", w)
			}
		}
	})
}

// sparseVolume is a volume whose first bytes are b and the rest zeros.
type sparseVolume []byte

func (v sparseVolume) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(v)) {
		copy(p, v[off:])
	}
	return len(p), nil
}

// FuzzExfat checks, for any exFAT volume start (boot region, FAT, root
// directory), that parsing and planning its growth never panic, and that
// a growth keeps its FAT large enough for its clusters, every write inside
// the new volume, and the heap where it was or later.
func FuzzExfat(f *testing.F) {
	// A small volume: 512-byte sectors and clusters, FAT at sector 24 (8
	// sectors), heap at 32 with 200 clusters; the root directory in
	// cluster 2 names the bitmap in cluster 3.
	b := make([]byte, (32+8)*512)
	le := binary.LittleEndian
	copy(b[3:11], "EXFAT   ")
	le.PutUint64(b[72:], 232)
	le.PutUint32(b[80:], 24)
	le.PutUint32(b[84:], 8)
	le.PutUint32(b[88:], 32)
	le.PutUint32(b[92:], 200)
	le.PutUint32(b[96:], 2)
	b[108], b[109], b[110] = 9, 0, 1
	b[510], b[511] = 0x55, 0xAA
	fat := 24 * 512
	le.PutUint32(b[fat+2*4:], 0xFFFFFFFF)
	le.PutUint32(b[fat+3*4:], 0xFFFFFFFF)
	root := 32 * 512
	b[root] = 0x81
	le.PutUint32(b[root+20:], 3)
	le.PutUint64(b[root+24:], 25)
	bitmap := root + 512
	b[bitmap] = 0x03
	f.Add(b, int64(240*512), int64(100<<20))
	f.Add(b, int64(240*512), int64(1024))
	f.Fuzz(func(t *testing.T, b []byte, part, grown int64) {
		if len(b) > 1<<20 {
			return
		}
		part = part&(1<<32-1) + 1
		grown = part + grown&(1<<30-1)
		v, err := exfat.Parse(sparseVolume(b), part)
		if err != nil {
			return
		}
		if v.VolLen*v.BPS > part || (v.Clusters+2)*4 > v.FatLen*v.BPS {
			t.Fatalf("parsed %+v for a %d-byte partition", v, part)
		}
		if v.Clusters > 1<<16 {
			return // reading its bitmap whole would only test the machine's memory
		}
		g, err := growExfat(v, 0, grown)
		if err != nil {
			return
		}
		n := g.new
		if n.Clusters <= v.Clusters || (n.Clusters+2)*4 > n.FatLen*n.BPS || n.HeapOff < v.HeapOff ||
			n.HeapOff+n.Clusters*n.SPC > n.VolLen || n.VolLen*n.BPS > grown || n.FatOff+n.FatLen > n.HeapOff {
			t.Fatalf("growth %+v of %+v into %d bytes", n, v, grown)
		}
		for _, s := range g.segs {
			if s.Src+s.Len > v.VolLen*v.BPS || s.Dst+s.Len > n.VolLen*n.BPS {
				t.Fatalf("segment %+v outside the volumes", s)
			}
		}
		for _, p := range g.patches {
			if p.Offset < 0 || p.Offset+int64(len(p.Data)) > n.VolLen*n.BPS {
				t.Fatalf("write of %d bytes at %d outside the %d-byte volume", len(p.Data), p.Offset, n.VolLen*n.BPS)
			}
		}
	})
}
