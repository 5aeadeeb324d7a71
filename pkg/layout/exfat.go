package layout

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// exfatGrowth is an exFAT volume laid into a larger partition: the FAT
// lengthened when it must be (the cluster heap then moves, every cluster
// keeping its number), the allocation bitmap lengthened (into the first
// new clusters when its own are full), and the boot regions counting the
// new size.
type exfatGrowth struct {
	old, new exfat.Volume
	segs     []Segment // volume-relative: image → target
	wipe     []Segment // volume-relative target ranges to zero
	patches  []ptable.Patch
	moved    bool // the allocation bitmap moved to new clusters
}

// growExfat plans the growth of exFAT volume v (on the image's bytes of
// its partition) into a partition of newSize bytes at dstStart.
func growExfat(v *exfat.Volume, dstStart, newSize int64) (exfatGrowth, error) {
	g := exfatGrowth{old: *v, new: *v}
	n := &g.new
	bps, spc := v.BPS, v.SPC
	n.VolLen = newSize / bps
	for {
		cc := min((n.VolLen-n.HeapOff)/spc, exfat.MaxClusters)
		need := ((cc+2)*4 + bps - 1) / bps
		if need <= n.FatLen {
			n.Clusters = cc
			break
		}
		n.FatLen = alignUp(need, spc)
		n.HeapOff = max(v.HeapOff, alignUp(v.FatOff+n.FatLen, spc))
	}
	if n.Clusters <= v.Clusters {
		return g, notApplicable("the larger partition adds no cluster")
	}
	cs := v.ClusterBytes()
	entry, first, length, err := v.Bitmap()
	if err != nil {
		return g, err
	}
	if length < (v.Clusters+7)/8 || length > (v.Clusters+7)/8+cs {
		return g, fmt.Errorf("exFAT allocation bitmap of %d bytes for %d clusters", length, v.Clusters)
	}
	bm, err := v.BitmapClusters(first, length)
	if err != nil {
		return g, fmt.Errorf("allocation bitmap: %w", err)
	}
	newLen := max((n.Clusters+7)/8, length)
	le := binary.LittleEndian

	// The boot region and the FAT's used entries where they were; the
	// rest of the FAT (and what lies before the moved heap) zeroed; the
	// heap's clusters where they are counted from the heap's new start.
	fatUsed := alignUp((v.Clusters+2)*4, bps)
	g.segs = []Segment{
		{Src: 0, Dst: 0, Len: v.FatOff*bps + fatUsed},
		{Src: v.HeapOff * bps, Dst: n.HeapOff * bps, Len: v.Clusters * cs},
	}
	if z := n.HeapOff*bps - (v.FatOff*bps + fatUsed); z > 0 {
		g.wipe = append(g.wipe, Segment{Dst: v.FatOff*bps + fatUsed, Len: z})
	}
	// The new clusters' FAT entries are zero but for a moved bitmap's.
	g.patches = append(g.patches, ptable.Patch{Offset: v.FatOff*bps + (v.Clusters+2)*4, Data: make([]byte, fatUsed-(v.Clusters+2)*4)})
	setFAT := func(c int64, val uint32) {
		e := make([]byte, 4)
		le.PutUint32(e, val)
		g.patches = append(g.patches, ptable.Patch{Offset: v.FatOff*bps + c*4, Data: e})
	}
	// The bitmap's bits for the new clusters, zero (free); the old
	// clusters' bits in the byte the old count ends in are kept.
	from := v.Clusters / 8
	old := make([]byte, newLen)
	for k, c := range bm {
		lo := int64(k) * cs
		if lo >= length {
			break
		}
		if _, err := v.R.ReadAt(old[lo:min(lo+cs, length)], v.ClusterOff(c)); err != nil {
			return g, fmt.Errorf("read the allocation bitmap: %w", err)
		}
	}
	if v.Clusters%8 != 0 {
		old[from] &= 1<<(v.Clusters%8) - 1
	}
	clear(old[(v.Clusters+7)/8:])
	if newLen <= int64(len(bm))*cs {
		// It fits in its own clusters: only the new bits are written.
		for i := from; i < newLen; {
			k := i / cs
			end := min((k+1)*cs, newLen)
			g.patches = append(g.patches, ptable.Patch{Offset: n.ClusterOff(bm[k]) + i%cs, Data: old[i:end]})
			i = end
		}
	} else {
		// Firmware and the Linux drivers read the bitmap as one run of
		// clusters: it moves, whole, to the first new clusters, and its
		// old clusters are freed.
		k := (newLen + cs - 1) / cs
		if v.Clusters+k > n.Clusters {
			return g, notApplicable("its allocation bitmap would need %d new clusters of the %d the partition adds", k, n.Clusters-v.Clusters)
		}
		for _, c := range bm {
			old[(c-2)/8] &^= 1 << ((c - 2) % 8)
			setFAT(c, 0)
		}
		for i := int64(0); i < k; i++ {
			c := v.Clusters + 2 + i
			old[(c-2)/8] |= 1 << ((c - 2) % 8)
			if i+1 < k {
				setFAT(c, uint32(c+1))
			} else {
				setFAT(c, 0xFFFFFFFF)
			}
		}
		g.patches = append(g.patches, ptable.Patch{Offset: n.ClusterOff(v.Clusters + 2), Data: old})
		fc := make([]byte, 4)
		le.PutUint32(fc, uint32(v.Clusters+2))
		g.patches = append(g.patches, ptable.Patch{Offset: entry - v.ClusterOff(2) + n.ClusterOff(2) + 20, Data: fc})
		g.moved = true
	}
	ln := make([]byte, 8)
	le.PutUint64(ln, uint64(newLen))
	g.patches = append(g.patches, ptable.Patch{Offset: entry - v.ClusterOff(2) + n.ClusterOff(2) + 24, Data: ln})
	// The main and backup boot regions.
	region := append([]byte(nil), v.Region...)
	le.PutUint64(region[64:72], uint64(dstStart/bps))
	le.PutUint64(region[72:80], uint64(n.VolLen))
	le.PutUint32(region[84:88], uint32(n.FatLen))
	le.PutUint32(region[88:92], uint32(n.HeapOff))
	le.PutUint32(region[92:96], uint32(n.Clusters))
	region[112] = 0xFF // percent in use: not known
	exfat.Checksum(region, bps)
	g.patches = append(g.patches, ptable.Patch{Offset: 0, Data: region}, ptable.Patch{Offset: 12 * bps, Data: region})
	return g, nil
}

// placeExfat lays an exFAT volume into its new partition: grown when the
// partition is larger (growExfat), its boot regions' record of the
// partition's start updated when it moved.
func (s *source) placeExfat(p *Plan, part *Part, sh shrinker) {
	sp, np := part.Src, part.Partition
	moved := ""
	if np.Start != sp.Start {
		moved = fmt.Sprintf("moved from %s; ", units.Bytes(sp.Start))
	}
	copyAs := func(note string) {
		p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: min(sp.Size, np.Size)})
		part.Note = moved + note
	}
	v, err := exfat.Parse(io.NewSectionReader(s.img, sp.Start, sp.Size), sp.Size)
	if err != nil {
		copyAs(fmt.Sprintf("exFAT as captured (its boot sector: %v)", err))
		return
	}
	if np.Size <= sp.Size {
		if np.Size < sp.Size && sh.how != "" {
			// The fit layout: restored at its size (its end in a spill
			// store), then shrunk.
			s.shrink(p, part, sh)
		} else {
			copyAs("exFAT as captured")
		}
		if moved != "" && binary.LittleEndian.Uint64(v.Region[64:72]) != 0 {
			region := append([]byte(nil), v.Region...)
			binary.LittleEndian.PutUint64(region[64:72], uint64(np.Start/v.BPS))
			exfat.Checksum(region, v.BPS)
			p.Patches = append(p.Patches, ptable.Patch{Offset: np.Start, Data: region}, ptable.Patch{Offset: np.Start + 12*v.BPS, Data: region})
		}
		return
	}
	g, err := growExfat(v, np.Start, np.Size)
	if err != nil {
		copyAs(fmt.Sprintf("exFAT kept at %s (%v); the rest of the partition is unused", units.Bytes(v.VolLen*v.BPS), err))
		return
	}
	for _, sg := range g.segs {
		p.Segments = append(p.Segments, Segment{Src: sp.Start + sg.Src, Dst: np.Start + sg.Dst, Len: sg.Len})
	}
	for _, w := range g.wipe {
		p.Wipe = append(p.Wipe, Segment{Dst: np.Start + w.Dst, Len: w.Len})
	}
	for _, pa := range g.patches {
		p.Patches = append(p.Patches, ptable.Patch{Offset: np.Start + pa.Offset, Data: pa.Data})
	}
	how := "its FAT and allocation bitmap grow; files stay where they are"
	if g.new.HeapOff != v.HeapOff {
		how = "its FAT and allocation bitmap grow, the cluster heap moves after the longer FAT; every cluster keeps its number"
	}
	if g.moved {
		how += "; the bitmap moves to the first new clusters"
	}
	part.Note = fmt.Sprintf("%sexFAT grown from %s to %s while restored (%s)", moved, units.Bytes(v.VolLen*v.BPS), units.Bytes(g.new.VolLen*v.BPS), how)
}
