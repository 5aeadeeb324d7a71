package fatfs

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Mend corrects what some FAT writers (go-diskfs among them) get wrong and
// fsck.fat reports, on a volume that is otherwise sound:
//
//   - clusters the FAT marks as taken that no file or directory holds are
//     freed, in every copy of the FAT;
//   - on FAT32, the ".." entry of a directory in the root must name
//     cluster 0, as on FAT12 and FAT16, not the root directory's cluster;
//   - on FAT32, FSInfo's free-cluster count and next-free hint must be
//     those of the FAT, not "unknown".
//
// It returns a line for each thing it changed. w must write the volume the
// Volume reads.
func (v *Volume) Mend(w io.WriterAt) ([]string, error) {
	g := v.G
	var mended []string
	lost, err := v.freeLost(w)
	if err != nil {
		return nil, err
	}
	if lost > 0 {
		mended = append(mended, fmt.Sprintf("%d clusters taken but held by nothing: freed", lost))
	}
	if g.Bits != 32 {
		return mended, nil
	}
	le := binary.LittleEndian
	es, err := v.readDir(0, "/")
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if !e.Dir || e.Short == "." || e.Short == ".." || e.Cluster < 2 || e.Cluster >= g.Clusters+2 {
			continue
		}
		off := v.clusterOff(e.Cluster) + 32 // the second slot
		b := make([]byte, 32)
		if _, err := v.r.ReadAt(b, off); err != nil {
			return mended, fmt.Errorf(`read the ".." entry of \%s at byte %d: %w`, e.Name, off, err)
		}
		if string(b[0:11]) != "..         " || b[11]&0x10 == 0 {
			continue // not a ".." entry: not this mend's to touch
		}
		cl := int64(le.Uint16(b[26:28])) | int64(le.Uint16(b[20:22]))<<16
		if cl != g.RootCluster || cl == 0 {
			continue
		}
		if _, err := w.WriteAt([]byte{0, 0}, off+20); err != nil {
			return mended, fmt.Errorf(`write the ".." entry of \%s at byte %d: %w`, e.Name, off, err)
		}
		if _, err := w.WriteAt([]byte{0, 0}, off+26); err != nil {
			return mended, fmt.Errorf(`write the ".." entry of \%s at byte %d: %w`, e.Name, off, err)
		}
		mended = append(mended, fmt.Sprintf(`\%s: ".." named the root directory's cluster %d; now 0`, e.Name, cl))
	}

	if g.FSInfo <= 0 || g.FSInfo >= g.Reserved {
		return mended, nil
	}
	info := make([]byte, 512)
	infoOff := g.FSInfo * g.BytesPerSec
	if _, err := v.r.ReadAt(info, infoOff); err != nil {
		return mended, fmt.Errorf("read FSInfo at byte %d: %w", infoOff, err)
	}
	if string(info[0:4]) != "RRaA" || string(info[484:488]) != "rrAa" {
		return mended, nil // no FSInfo to keep right
	}
	free, first, err := v.freeClusters()
	if err != nil {
		return mended, err
	}
	oldFree, oldNext := le.Uint32(info[488:492]), le.Uint32(info[492:496])
	next := uint32(first)
	if first < 0 {
		next = 0xFFFFFFFF
	}
	if int64(oldFree) == free && oldNext == next {
		return mended, nil
	}
	le.PutUint32(info[488:492], uint32(free))
	le.PutUint32(info[492:496], next)
	if _, err := w.WriteAt(info[488:496], infoOff+488); err != nil {
		return mended, fmt.Errorf("write FSInfo at byte %d: %w", infoOff, err)
	}
	mended = append(mended, fmt.Sprintf("FSInfo: free clusters %#x, next free %#x; now %d and %d", oldFree, oldNext, free, first))
	return mended, nil
}

// freeClusters counts the free clusters of a FAT32 volume's first FAT and
// finds the first of them (-1 when none is free).
func (v *Volume) freeClusters() (free, first int64, err error) {
	g := v.G
	first = -1
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	base := g.Reserved * g.BytesPerSec
	end := (g.Clusters + 2) * 4
	for pos := int64(0); pos < end; pos += chunk {
		n := min(int64(chunk), end-pos)
		if _, err := v.r.ReadAt(buf[:n], base+pos); err != nil {
			return 0, 0, fmt.Errorf("read the FAT at byte %d: %w", base+pos, err)
		}
		for i := int64(0); i+4 <= n; i += 4 {
			c := (pos + i) / 4
			if c < 2 {
				continue
			}
			if binary.LittleEndian.Uint32(buf[i:])&0x0FFFFFFF == 0 {
				free++
				if first < 0 {
					first = c
				}
			}
		}
	}
	return free, first, nil
}

// freeLost frees the clusters the FAT marks as in use (not bad) that no
// chain from a directory entry, or the FAT32 root's, reaches.
func (v *Volume) freeLost(w io.WriterAt) (int64, error) {
	g := v.G
	refs, err := v.clusterRefs()
	if err != nil {
		return 0, err
	}
	held := map[int64]bool{}
	firsts := []int64{}
	if g.Bits == 32 {
		firsts = append(firsts, g.RootCluster)
	}
	for _, r := range refs {
		firsts = append(firsts, r.cluster)
	}
	for _, f := range firsts {
		if held[f] {
			continue
		}
		cs, err := v.chain(f, g.Clusters, fmt.Sprintf("the chain from cluster %d", f))
		if err != nil {
			return 0, err
		}
		for _, c := range cs {
			held[c] = true
		}
	}
	x, err := v.newWriter(w)
	if err != nil {
		return 0, err
	}
	bad := x.eoc() - 8 // 0xFF7, 0xFFF7, 0x0FFFFFF7
	var lost int64
	for c := int64(2); c < g.Clusters+2; c++ {
		if e := x.entry(c); e != 0 && e != bad && !held[c] {
			x.set(c, 0)
			lost++
		}
	}
	if lost == 0 {
		return 0, nil
	}
	x.taken = -lost // FSInfo's count, when known, grows by the clusters freed
	return lost, x.flush()
}
