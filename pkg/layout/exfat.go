package layout

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// exfatVolume is what an exFAT boot sector says of the volume's layout,
// in sectors (of bps bytes) and clusters (of spc sectors).
type exfatVolume struct {
	bps, spc         int64
	volLen           int64
	fatOff, fatLen   int64
	heapOff, cluster int64 // the cluster heap's offset; its cluster count
	root             int64
	region           []byte // the main boot region, 12 sectors
}

func (v exfatVolume) cs() int64 { return v.bps * v.spc }

// maxExfatClusters is the most clusters an exFAT volume may have.
const maxExfatClusters = 0xFFFFFFF5

// parseExfat reads the main boot region of the exFAT volume at start, in
// a partition of size bytes, checking every field it uses.
func parseExfat(r io.ReaderAt, start, size int64) (exfatVolume, error) {
	var v exfatVolume
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, start); err != nil {
		return v, fmt.Errorf("read the exFAT boot sector at byte %d: %w", start, err)
	}
	le := binary.LittleEndian
	if string(b[3:11]) != "EXFAT   " || b[510] != 0x55 || b[511] != 0xAA {
		return v, errors.New("no exFAT boot sector")
	}
	bs, cs := b[108], b[109]
	if bs < 9 || bs > 12 || int(bs)+int(cs) > 25 {
		return v, fmt.Errorf("exFAT sector shift %d, cluster shift %d out of range", bs, cs)
	}
	if b[110] != 1 {
		return v, fmt.Errorf("exFAT with %d FATs (TexFAT) is not resized", b[110])
	}
	v.bps, v.spc = int64(1)<<bs, int64(1)<<cs
	v.volLen = int64(le.Uint64(b[72:80]))
	v.fatOff, v.fatLen = int64(le.Uint32(b[80:84])), int64(le.Uint32(b[84:88]))
	v.heapOff, v.cluster = int64(le.Uint32(b[88:92])), int64(le.Uint32(b[92:96]))
	v.root = int64(le.Uint32(b[96:100]))
	if v.volLen <= 0 || v.volLen > size/v.bps || v.fatOff < 24 || v.fatLen <= 0 || v.heapOff < v.fatOff+v.fatLen ||
		v.cluster <= 0 || v.heapOff+v.cluster*v.spc > v.volLen || (v.cluster+2)*4 > v.fatLen*v.bps ||
		v.root < 2 || v.root >= v.cluster+2 {
		return v, errors.New("exFAT boot sector fields out of range")
	}
	v.region = make([]byte, 12*v.bps)
	if _, err := r.ReadAt(v.region, start); err != nil {
		return v, fmt.Errorf("read the exFAT boot region at byte %d: %w", start, err)
	}
	return v, nil
}

// exfatChecksum fills the boot region's checksum sector.
func exfatChecksum(region []byte, bps int64) {
	var sum uint32
	for i := int64(0); i < 11*bps; i++ {
		if i == 106 || i == 107 || i == 112 {
			continue
		}
		sum = (sum<<31 | sum>>1) + uint32(region[i])
	}
	for i := 11 * bps; i < 12*bps; i += 4 {
		binary.LittleEndian.PutUint32(region[i:], sum)
	}
}

// fatEntry reads FAT entry c of the volume at start.
func (v exfatVolume) fatEntry(r io.ReaderAt, start, c int64) (int64, error) {
	b := make([]byte, 4)
	if _, err := r.ReadAt(b, start+v.fatOff*v.bps+c*4); err != nil {
		return 0, fmt.Errorf("read exFAT FAT entry %d: %w", c, err)
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

// chain lists a FAT chain from first (n clusters when it is contiguous,
// not chained in the FAT).
func (v exfatVolume) chain(r io.ReaderAt, start, first, n int64, contiguous bool) ([]int64, error) {
	var out []int64
	for c := first; ; {
		if c < 2 || c >= v.cluster+2 {
			return nil, fmt.Errorf("exFAT chain reaches cluster %d, outside the heap", c)
		}
		out = append(out, c)
		if int64(len(out)) >= n && n > 0 {
			return out, nil
		}
		if int64(len(out)) > v.cluster {
			return nil, errors.New("exFAT chain longer than the heap (a loop?)")
		}
		if contiguous {
			c++
			continue
		}
		next, err := v.fatEntry(r, start, c)
		if err != nil {
			return nil, err
		}
		if next >= 0xFFFFFFF8 {
			return out, nil
		}
		c = next
	}
}

// exfatBitmap finds the allocation bitmap's directory entry in the root
// directory: the entry's byte offset in the volume, its first cluster and
// length, and whether it is chained in the FAT.
func (v exfatVolume) bitmap(r io.ReaderAt, start int64) (entry, first, length int64, err error) {
	dir, err := v.chain(r, start, v.root, 0, false)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("root directory: %w", err)
	}
	cs := v.cs()
	buf := make([]byte, cs)
	le := binary.LittleEndian
	for _, c := range dir {
		off := (v.heapOff*v.bps + (c-2)*cs)
		if _, err := r.ReadAt(buf, start+off); err != nil {
			return 0, 0, 0, fmt.Errorf("read the root directory at byte %d: %w", start+off, err)
		}
		for i := int64(0); i+32 <= cs; i += 32 {
			switch buf[i] {
			case 0:
				return 0, 0, 0, errors.New("no allocation bitmap in the root directory")
			case 0x81:
				if buf[i+1]&1 != 0 {
					return 0, 0, 0, errors.New("a second allocation bitmap (TexFAT)")
				}
				return off + i, int64(le.Uint32(buf[i+20 : i+24])), int64(le.Uint64(buf[i+24 : i+32])), nil
			}
		}
	}
	return 0, 0, 0, errors.New("no allocation bitmap in the root directory")
}

// exfatGrowth is an exFAT volume laid into a larger partition: the FAT
// lengthened when it must be (the cluster heap then moves, every cluster
// keeping its number), the allocation bitmap lengthened (into the first
// new clusters when its own are full), and the boot regions counting the
// new size.
type exfatGrowth struct {
	old, new exfatVolume
	segs     []Segment // volume-relative: image → target
	wipe     []Segment // volume-relative target ranges to zero
	patches  []ptable.Patch
	moved    bool // the allocation bitmap moved to new clusters
}

// growExfat plans the growth of the exFAT volume at srcStart (as parsed,
// v) into a partition of newSize bytes at dstStart.
func growExfat(r io.ReaderAt, v exfatVolume, srcStart, dstStart, newSize int64) (exfatGrowth, error) {
	g := exfatGrowth{old: v, new: v}
	n := &g.new
	n.volLen = newSize / v.bps
	for {
		cc := min((n.volLen-n.heapOff)/v.spc, maxExfatClusters)
		need := ((cc+2)*4 + v.bps - 1) / v.bps
		if need <= n.fatLen {
			n.cluster = cc
			break
		}
		n.fatLen = alignUp(need, v.spc)
		n.heapOff = max(v.heapOff, alignUp(v.fatOff+n.fatLen, v.spc))
	}
	if n.cluster <= v.cluster {
		return g, notApplicable("the larger partition adds no cluster")
	}
	cs := v.cs()
	entry, first, length, err := v.bitmap(r, srcStart)
	if err != nil {
		return g, err
	}
	if length < (v.cluster+7)/8 {
		return g, fmt.Errorf("exFAT allocation bitmap of %d bytes for %d clusters", length, v.cluster)
	}
	next0, err := v.fatEntry(r, srcStart, first)
	if err != nil {
		return g, err
	}
	// A bitmap not chained in the FAT (entry 0) is one run of clusters.
	bm, err := v.chain(r, srcStart, first, (length+cs-1)/cs, next0 == 0)
	if err != nil {
		return g, fmt.Errorf("allocation bitmap: %w", err)
	}
	newLen := max((n.cluster+7)/8, length)
	le := binary.LittleEndian
	heap := func(vol exfatVolume, c int64) int64 { return vol.heapOff*vol.bps + (c-2)*cs }

	// The boot region and the FAT's used entries where they were; the
	// rest of the FAT (and what lies before the moved heap) zeroed; the
	// heap's clusters where they are counted from the heap's new start.
	fatUsed := alignUp((v.cluster+2)*4, v.bps)
	g.segs = []Segment{
		{Src: 0, Dst: 0, Len: v.fatOff*v.bps + fatUsed},
		{Src: v.heapOff * v.bps, Dst: n.heapOff * v.bps, Len: v.cluster * cs},
	}
	if z := n.heapOff*v.bps - (v.fatOff*v.bps + fatUsed); z > 0 {
		g.wipe = append(g.wipe, Segment{Dst: v.fatOff*v.bps + fatUsed, Len: z})
	}
	// The new clusters' FAT entries are zero but for a moved bitmap's.
	g.patches = append(g.patches, ptable.Patch{Offset: v.fatOff*v.bps + (v.cluster+2)*4, Data: make([]byte, fatUsed-(v.cluster+2)*4)})
	setFAT := func(c int64, val uint32) {
		e := make([]byte, 4)
		le.PutUint32(e, val)
		g.patches = append(g.patches, ptable.Patch{Offset: v.fatOff*v.bps + c*4, Data: e})
	}
	// The bitmap's bits for the new clusters, zero (free); the old
	// clusters' bits in the byte the old count ends in are kept.
	from := v.cluster / 8
	old := make([]byte, newLen)
	for k, c := range bm {
		lo := int64(k) * cs
		if lo >= length {
			break
		}
		if _, err := r.ReadAt(old[lo:min(lo+cs, length)], srcStart+heap(v, c)); err != nil {
			return g, fmt.Errorf("read the allocation bitmap: %w", err)
		}
	}
	if v.cluster%8 != 0 {
		old[from] &= 1<<(v.cluster%8) - 1
	}
	clear(old[(v.cluster+7)/8:])
	if newLen <= int64(len(bm))*cs {
		// It fits in its own clusters: only the new bits are written.
		for i := from; i < newLen; {
			k := i / cs
			end := min((k+1)*cs, newLen)
			g.patches = append(g.patches, ptable.Patch{Offset: heap(*n, bm[k]) + i%cs, Data: old[i:end]})
			i = end
		}
	} else {
		// Firmware and the Linux drivers read the bitmap as one run of
		// clusters: it moves, whole, to the first new clusters, and its
		// old clusters are freed.
		k := (newLen + cs - 1) / cs
		if v.cluster+k > n.cluster {
			return g, notApplicable("its allocation bitmap would need %d new clusters of the %d the partition adds", k, n.cluster-v.cluster)
		}
		for _, c := range bm {
			old[(c-2)/8] &^= 1 << ((c - 2) % 8)
			setFAT(c, 0)
		}
		for i := int64(0); i < k; i++ {
			c := v.cluster + 2 + i
			old[(c-2)/8] |= 1 << ((c - 2) % 8)
			if i+1 < k {
				setFAT(c, uint32(c+1))
			} else {
				setFAT(c, 0xFFFFFFFF)
			}
		}
		g.patches = append(g.patches, ptable.Patch{Offset: heap(*n, v.cluster+2), Data: old})
		fc := make([]byte, 4)
		le.PutUint32(fc, uint32(v.cluster+2))
		g.patches = append(g.patches, ptable.Patch{Offset: entry - heap(v, 2) + heap(*n, 2) + 20, Data: fc})
		g.moved = true
	}
	ln := make([]byte, 8)
	le.PutUint64(ln, uint64(newLen))
	g.patches = append(g.patches, ptable.Patch{Offset: entry - heap(v, 2) + heap(*n, 2) + 24, Data: ln})
	// The main and backup boot regions.
	region := append([]byte(nil), v.region...)
	le.PutUint64(region[64:72], uint64(dstStart/v.bps))
	le.PutUint64(region[72:80], uint64(n.volLen))
	le.PutUint32(region[84:88], uint32(n.fatLen))
	le.PutUint32(region[88:92], uint32(n.heapOff))
	le.PutUint32(region[92:96], uint32(n.cluster))
	region[112] = 0xFF // percent in use: not known
	exfatChecksum(region, v.bps)
	g.patches = append(g.patches, ptable.Patch{Offset: 0, Data: region}, ptable.Patch{Offset: 12 * v.bps, Data: region})
	return g, nil
}

// placeExfat lays an exFAT volume into its new partition: grown when the
// partition is larger (growExfat), its boot regions' record of the
// partition's start updated when it moved.
func (s *source) placeExfat(p *Plan, part *Part) {
	sp, np := part.Src, part.Partition
	moved := ""
	if np.Start != sp.Start {
		moved = fmt.Sprintf("moved from %s; ", units.Bytes(sp.Start))
	}
	copyAs := func(note string) {
		p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: min(sp.Size, np.Size)})
		part.Note = moved + note
	}
	v, err := parseExfat(s.img, sp.Start, sp.Size)
	if err != nil {
		copyAs(fmt.Sprintf("exFAT as captured (its boot sector: %v)", err))
		return
	}
	if np.Size <= sp.Size {
		copyAs("exFAT as captured")
		if moved != "" && binary.LittleEndian.Uint64(v.region[64:72]) != 0 {
			region := append([]byte(nil), v.region...)
			binary.LittleEndian.PutUint64(region[64:72], uint64(np.Start/v.bps))
			exfatChecksum(region, v.bps)
			p.Patches = append(p.Patches, ptable.Patch{Offset: np.Start, Data: region}, ptable.Patch{Offset: np.Start + 12*v.bps, Data: region})
		}
		return
	}
	g, err := growExfat(s.img, v, sp.Start, np.Start, np.Size)
	if err != nil {
		copyAs(fmt.Sprintf("exFAT kept at %s (%v); the rest of the partition is unused", units.Bytes(v.volLen*v.bps), err))
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
	if g.new.heapOff != v.heapOff {
		how = "its FAT and allocation bitmap grow, the cluster heap moves after the longer FAT; every cluster keeps its number"
	}
	if g.moved {
		how += "; the bitmap moves to the first new clusters"
	}
	part.Note = fmt.Sprintf("%sexFAT grown from %s to %s while restored (%s)", moved, units.Bytes(v.volLen*v.bps), units.Bytes(g.new.volLen*v.bps), how)
}
