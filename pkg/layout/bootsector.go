package layout

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// fatGeometry is what a FAT boot sector says of the volume's layout, in
// sectors of BytesPerSec bytes.
type fatGeometry struct {
	BytesPerSec, SecPerClus int64
	Reserved, NumFATs       int64
	FATSize                 int64
	RootSectors             int64
	Total                   int64
	Clusters                int64
	Bits                    int // 12, 16 or 32
	FSInfo, Backup          int64
	boot                    []byte
}

func (g fatGeometry) dataStart() int64 { return g.Reserved + g.NumFATs*g.FATSize + g.RootSectors }

// maxClusters is the most clusters each FAT type may count.
func maxClusters(bits int) int64 {
	switch bits {
	case 12:
		return 4084
	case 16:
		return 65524
	}
	return 0x0FFFFFF5
}

// parseFAT reads a FAT boot sector; every field is checked against the
// partition's size.
func parseFAT(b []byte, partSize int64) (fatGeometry, error) {
	le := binary.LittleEndian
	var g fatGeometry
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return g, errors.New("no boot sector signature")
	}
	g.BytesPerSec = int64(le.Uint16(b[11:13]))
	g.SecPerClus = int64(b[13])
	g.Reserved = int64(le.Uint16(b[14:16]))
	g.NumFATs = int64(b[16])
	rootEnts := int64(le.Uint16(b[17:19]))
	g.Total = int64(le.Uint16(b[19:21]))
	if g.Total == 0 {
		g.Total = int64(le.Uint32(b[32:36]))
	}
	g.FATSize = int64(le.Uint16(b[22:24]))
	if g.FATSize == 0 {
		g.FATSize = int64(le.Uint32(b[36:40]))
	}
	bps := g.BytesPerSec
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || g.SecPerClus == 0 || g.SecPerClus&(g.SecPerClus-1) != 0 ||
		g.Reserved == 0 || g.NumFATs == 0 || g.NumFATs > 4 || g.FATSize == 0 || g.Total == 0 {
		return g, errors.New("boot sector fields out of range")
	}
	g.RootSectors = (rootEnts*32 + bps - 1) / bps
	if g.Total*bps > partSize || g.dataStart() >= g.Total {
		return g, fmt.Errorf("volume of %d sectors of %d bytes does not fit its partition of %d bytes", g.Total, bps, partSize)
	}
	g.Clusters = (g.Total - g.dataStart()) / g.SecPerClus
	switch {
	case g.Clusters <= maxClusters(12):
		g.Bits = 12
	case g.Clusters <= maxClusters(16):
		g.Bits = 16
	default:
		g.Bits = 32
		if rootEnts != 0 {
			return g, errors.New("FAT32 with a fixed root directory")
		}
		g.FSInfo = int64(le.Uint16(b[48:50]))
		g.Backup = int64(le.Uint16(b[50:52]))
	}
	if g.FATSize*bps*8 < (g.Clusters+2)*int64(g.Bits) {
		return g, fmt.Errorf("FAT of %d sectors is too small for %d clusters", g.FATSize, g.Clusters)
	}
	g.boot = append([]byte(nil), b[:bps]...)
	return g, nil
}

// fatGrowth is how a FAT volume is laid out in a larger partition: the
// FATs grow (their new entries free), the data area moves after them
// unchanged, so cluster numbers and directories stay as they are.
type fatGrowth struct {
	old, new fatGeometry
	segs     []Segment // relative to the partitions' starts
	wipe     []Segment // new FAT sectors, relative to the new start
}

// growFAT plans a FAT volume's growth into newSize bytes. It returns false
// when the volume cannot grow (at its type's cluster limit).
func growFAT(g fatGeometry, newSize int64) (fatGrowth, bool) {
	bps, spc := g.BytesPerSec, g.SecPerClus
	n := g
	total := newSize / bps
	align := max(spc, 4096/bps) // keep the data area's alignment
	bits := int64(g.Bits)
	for f := g.FATSize; ; f++ {
		if (g.NumFATs*(f-g.FATSize))%align != 0 {
			continue
		}
		n.FATSize = f
		if n.dataStart() >= total {
			return fatGrowth{}, false
		}
		n.Clusters = min((total-n.dataStart())/spc, maxClusters(g.Bits))
		if f*bps*8 >= (n.Clusters+2)*bits {
			break
		}
	}
	n.Total = min(total, n.dataStart()+n.Clusters*spc)
	if n.Clusters <= g.Clusters {
		return fatGrowth{}, false
	}
	gr := fatGrowth{old: g, new: n}
	gr.segs = append(gr.segs, Segment{0, 0, g.Reserved * bps})
	for i := int64(0); i < g.NumFATs; i++ {
		gr.segs = append(gr.segs, Segment{(g.Reserved + i*g.FATSize) * bps, (n.Reserved + i*n.FATSize) * bps, g.FATSize * bps})
		gr.wipe = append(gr.wipe, Segment{Dst: (n.Reserved + i*n.FATSize + g.FATSize) * bps, Len: (n.FATSize - g.FATSize) * bps})
	}
	if g.RootSectors > 0 {
		gr.segs = append(gr.segs, Segment{(g.Reserved + g.NumFATs*g.FATSize) * bps, (n.Reserved + n.NumFATs*n.FATSize) * bps, g.RootSectors * bps})
	}
	gr.segs = append(gr.segs, Segment{g.dataStart() * bps, n.dataStart() * bps, (g.Total - g.dataStart()) * bps})
	return gr, true
}

// bootPatch is the boot sector with the new size fields (and hidden
// sectors, the partition's start).
func (gr fatGrowth) bootPatch(b []byte, hidden int64) []byte {
	le := binary.LittleEndian
	out := append([]byte(nil), b...)
	n := gr.new
	if n.Total < 0x10000 && gr.new.Bits != 32 && le.Uint16(b[19:21]) != 0 {
		le.PutUint16(out[19:21], uint16(n.Total))
	} else {
		le.PutUint16(out[19:21], 0)
		le.PutUint32(out[32:36], uint32(n.Total))
	}
	if n.Bits == 32 {
		le.PutUint32(out[36:40], uint32(n.FATSize))
	} else {
		le.PutUint16(out[22:24], uint16(n.FATSize))
	}
	if hidden >= 0 {
		le.PutUint32(out[28:32], uint32(hidden))
	}
	return out
}

// fatPatches are the writes that finish a FAT volume's growth at the
// partition starting at start (in bytes) on a disk with lss-byte sectors:
// the boot sector and its FAT32 backup, and the FAT32 FSInfo sectors with
// the free count grown by the clusters added.
func (gr fatGrowth) fatPatches(r io.ReaderAt, srcStart, start int64, lss int) ([]ptable.Patch, error) {
	bps := gr.old.BytesPerSec
	hidden := start / int64(lss)
	if binary.LittleEndian.Uint32(gr.old.boot[28:32]) == 0 {
		hidden = -1 // a volume that did not record its start keeps not doing so
	}
	out := []ptable.Patch{{Offset: start, Data: gr.bootPatch(gr.old.boot, hidden)}}
	if gr.old.Bits != 32 {
		return out, nil
	}
	sec := make([]byte, bps)
	for _, s := range []int64{gr.old.Backup, gr.old.FSInfo, gr.old.Backup + 1} {
		if s <= 0 || s >= gr.old.Reserved || s == 0xFFFF {
			continue
		}
		if _, err := r.ReadAt(sec, srcStart+s*bps); err != nil {
			return nil, fmt.Errorf("read FAT32 sector %d of the partition at byte %d: %w", s, srcStart, err)
		}
		d := append([]byte(nil), sec...)
		switch {
		case s == gr.old.Backup && d[510] == 0x55 && d[511] == 0xAA:
			d = gr.bootPatch(d, hidden)
		case string(d[0:4]) == "RRaA" && string(d[484:488]) == "rrAa":
			// The free count grows by the clusters added, when it was
			// known; otherwise it stays unknown.
			le := binary.LittleEndian
			if free := int64(le.Uint32(d[488:492])); free <= gr.old.Clusters {
				le.PutUint32(d[488:492], uint32(free+gr.new.Clusters-gr.old.Clusters))
			}
		default:
			continue
		}
		out = append(out, ptable.Patch{Offset: start + s*bps, Data: d})
	}
	return out, nil
}

// ntfsHidden returns the writes that set an NTFS volume's hidden-sectors
// field (the partition's start, which Windows' boot code uses) in its boot
// sector and the backup after the volume, for a partition moved from
// srcStart to start. Nil when the volume does not record its start.
func ntfsHidden(r io.ReaderAt, srcStart, srcSize, start int64, lss int) ([]ptable.Patch, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, srcStart); err != nil {
		return nil, fmt.Errorf("read NTFS boot sector at byte %d: %w", srcStart, err)
	}
	le := binary.LittleEndian
	if string(b[3:11]) != "NTFS    " || le.Uint32(b[28:32]) == 0 {
		return nil, nil
	}
	bps := int64(le.Uint16(b[11:13]))
	if bps < 256 || bps > 4096 || bps&(bps-1) != 0 {
		return nil, nil
	}
	set := func(sec []byte) []byte {
		d := append([]byte(nil), sec...)
		le.PutUint32(d[28:32], uint32(start/int64(lss)))
		return d
	}
	out := []ptable.Patch{{Offset: start, Data: set(b)}}
	backup := int64(le.Uint64(b[40:48])) * bps
	if backup > 0 && backup+512 <= srcSize {
		bb := make([]byte, 512)
		if _, err := r.ReadAt(bb, srcStart+backup); err == nil && string(bb[3:11]) == "NTFS    " {
			out = append(out, ptable.Patch{Offset: start + backup, Data: set(bb)})
		}
	}
	return out, nil
}
