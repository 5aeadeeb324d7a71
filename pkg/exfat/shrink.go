package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// ReadWriterAt is a volume that can be changed in place.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// maxFAT is the largest FAT Shrink holds in memory (16 Mi clusters).
const maxFAT = 64 << 20

// bitmapBytes reads the allocation bitmap: its entry, clusters and bytes.
func (v *Volume) bitmapBytes() (entry int64, clusters []int64, bm []byte, err error) {
	entry, first, length, err := v.Bitmap()
	if err != nil {
		return 0, nil, nil, err
	}
	if length < (v.Clusters+7)/8 || length > (v.Clusters+7)/8+v.ClusterBytes() {
		return 0, nil, nil, fmt.Errorf("exFAT allocation bitmap of %d bytes for %d clusters", length, v.Clusters)
	}
	clusters, err = v.BitmapClusters(first, length)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("allocation bitmap: %w", err)
	}
	cs := v.ClusterBytes()
	bm = make([]byte, length)
	for k, c := range clusters {
		lo := int64(k) * cs
		if _, err := v.R.ReadAt(bm[lo:min(lo+cs, length)], v.ClusterOff(c)); err != nil {
			return 0, nil, nil, fmt.Errorf("read the allocation bitmap at cluster %d: %w", c, err)
		}
	}
	return entry, clusters, bm, nil
}

// MinSize is the smallest volume, in bytes, Shrink can make of this one:
// the heap where it is, its used clusters and a little room.
func (v *Volume) MinSize() (int64, error) {
	_, bmc, bm, err := v.bitmapBytes()
	if err != nil {
		return 0, err
	}
	if v.Region[106]&2 != 0 {
		return 0, errors.New("the volume is marked dirty: check it (fsck.exfat) first")
	}
	var used int64
	for i, b := range bm[:(v.Clusters+7)/8] {
		if int64(i) == v.Clusters/8 && v.Clusters%8 != 0 {
			b &= 1<<(v.Clusters%8) - 1
		}
		used += int64(bits.OnesCount8(b))
	}
	// Room for the bitmap and up-case table to move as runs.
	n := used + used/50 + 16 + int64(len(bmc)) + (128<<10+v.ClusterBytes()-1)/v.ClusterBytes()
	return min((v.HeapOff+n*v.SPC)*v.BPS, v.VolLen*v.BPS), nil
}

// alloc is a cluster allocation named by a directory entry (or the boot
// sector, for the root directory).
type alloc struct {
	clusters   []int64
	contiguous bool // NoFatChain, or the bitmap and up-case table
	whole      bool // must stay one run (the bitmap, the up-case table)
	ref        int64
	set        []slot // its entry set's slots (nil: none)
	flags      int64  // offset of the stream extension's flags (-1: none)
	bitmap     bool
}

// dirEntry is a 32-byte directory slot: its offset in the volume and the
// cluster holding it.
type slot struct{ off, in int64 }

// walk lists every allocation of the volume, walking each directory once.
func (v *Volume) walk() ([]alloc, error) {
	cs := v.ClusterBytes()
	var out []alloc
	root, err := v.dirChain(v.Root)
	if err != nil {
		return nil, fmt.Errorf("root directory: %w", err)
	}
	out = append(out, alloc{clusters: root, ref: -1, flags: -1})
	seen := map[int64]bool{}
	var dir func(cl []int64, depth int) error
	dir = func(cl []int64, depth int) error {
		if depth > 64 || seen[cl[0]] {
			return errors.New("exFAT directories nested too deep, or in a loop")
		}
		seen[cl[0]] = true
		raw := make([]byte, int64(len(cl))*cs)
		slots := make([]slot, 0, len(raw)/32)
		for k, c := range cl {
			if _, err := v.R.ReadAt(raw[int64(k)*cs:int64(k+1)*cs], v.ClusterOff(c)); err != nil {
				return fmt.Errorf("read directory cluster %d: %w", c, err)
			}
			for o := int64(0); o < cs; o += 32 {
				slots = append(slots, slot{v.ClusterOff(c) + o, c})
			}
		}
		le := binary.LittleEndian
		for i := 0; i < len(slots); i++ {
			e := raw[i*32 : i*32+32]
			switch {
			case e[0] == 0:
				return nil
			case e[0] == 0x81 || e[0] == 0x82:
				first, length := int64(le.Uint32(e[20:24])), int64(le.Uint64(e[24:32]))
				if first == 0 {
					continue
				}
				if e[0] == 0x81 && e[1]&1 != 0 {
					return errors.New("a second allocation bitmap (TexFAT)")
				}
				next0, err := v.FATEntry(first)
				if err != nil {
					return err
				}
				c, err := v.Chain(first, (length+cs-1)/cs, next0 == 0)
				if err != nil {
					return fmt.Errorf("entry at byte %d: %w", slots[i].off, err)
				}
				out = append(out, alloc{clusters: c, contiguous: next0 == 0, whole: true, ref: slots[i].off + 20, flags: -1, bitmap: e[0] == 0x81})
			case e[0] == 0x85:
				count := int(e[1])
				if count < 2 || i+count >= len(slots) || raw[(i+1)*32] != 0xC0 {
					i += count
					continue
				}
				st := raw[(i+1)*32 : (i+2)*32]
				first, length := int64(le.Uint32(st[20:24])), int64(le.Uint64(st[24:32]))
				isDir := le.Uint16(e[4:6])&0x10 != 0
				if isDir && length > maxDir {
					return fmt.Errorf("exFAT directory of %d bytes at byte %d (at most %d)", length, slots[i].off, maxDir)
				}
				if st[1]&1 != 0 && first != 0 && length > 0 {
					noChain := st[1]&2 != 0
					c, err := v.Chain(first, (length+cs-1)/cs, noChain)
					if err != nil {
						return fmt.Errorf("entry at byte %d: %w", slots[i].off, err)
					}
					out = append(out, alloc{clusters: c, contiguous: noChain, ref: slots[i+1].off + 20,
						set: append([]slot(nil), slots[i:i+count+1]...), flags: slots[i+1].off + 1})
					if isDir {
						if err := dir(c, depth+1); err != nil {
							return err
						}
					}
				}
				i += count
			}
		}
		return nil
	}
	if err := dir(root, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// Shrink makes the volume newSize bytes (whole clusters): the clusters past
// the new end move into free ones before it, and every chain, entry and
// the bitmap follow. rw must be the device Parse read.
func (v *Volume) Shrink(rw ReadWriterAt, newSize int64) error {
	cs := v.ClusterBytes()
	newVol := min(newSize/v.BPS, v.VolLen)
	newCC := min((newVol-v.HeapOff)/v.SPC, v.Clusters)
	if newCC < 1 {
		return fmt.Errorf("exFAT shrunk to %d bytes leaves no room for its cluster heap", newSize)
	}
	if (v.Clusters+2)*4 > maxFAT {
		return fmt.Errorf("an exFAT FAT of %d bytes is more than Lifeboat edits (%d)", (v.Clusters+2)*4, maxFAT)
	}
	if v.Region[106]&2 != 0 {
		return errors.New("the exFAT volume is marked dirty: check it (fsck.exfat) first")
	}
	limit := newCC + 2
	le := binary.LittleEndian
	fat := make([]byte, (v.Clusters+2)*4)
	if _, err := v.R.ReadAt(fat, v.FatOff*v.BPS); err != nil {
		return fmt.Errorf("read the FAT: %w", err)
	}
	getFAT := func(c int64) int64 { return int64(le.Uint32(fat[c*4:])) }
	setFAT := func(c, val int64) { le.PutUint32(fat[c*4:], uint32(val)) }
	bmEntry, bmOld, bm, err := v.bitmapBytes()
	if err != nil {
		return err
	}
	allocs, err := v.walk()
	if err != nil {
		return err
	}
	// Every cluster an entry names is owned once; a cluster named twice
	// is a damaged volume, not one to move.
	owned := map[int64]bool{}
	for _, a := range allocs {
		for _, c := range a.clusters {
			if owned[c] {
				return fmt.Errorf("exFAT cluster %d belongs to two allocations: check the volume (fsck.exfat) first", c)
			}
			owned[c] = true
		}
	}
	used := func(c int64) bool {
		return bm[(c-2)/8]&(1<<((c-2)%8)) != 0 || owned[c] || getFAT(c) == 0xFFFFFFF7
	}
	setBit := func(c int64, on bool) {
		if on {
			bm[(c-2)/8] |= 1 << ((c - 2) % 8)
		} else {
			bm[(c-2)/8] &^= 1 << ((c - 2) % 8)
		}
	}
	// Where moved clusters go: free clusters before the new end, taken
	// one by one, or as a run for what must stay one.
	moved := map[int64]int64{}
	next := int64(2)
	take := func() (int64, error) {
		for ; next < limit; next++ {
			if !used(next) {
				setBit(next, true)
				next++
				return next - 1, nil
			}
		}
		return 0, fmt.Errorf("exFAT: the clusters in use do not fit in %d clusters", newCC)
	}
	run := func(n int64) (int64, error) {
		for s := int64(2); s+n <= limit; s++ {
			ok := true
			for c := s; c < s+n; c++ {
				if used(c) {
					ok, s = false, c
					break
				}
			}
			if ok {
				for c := s; c < s+n; c++ {
					setBit(c, true)
				}
				return s, nil
			}
		}
		return 0, errors.New("no free run of clusters")
	}
	type edit struct {
		off  int64 // in the volume, as read
		in   int64 // the cluster holding it (0: none)
		data []byte
	}
	var edits []edit
	cluster := func(off int64) int64 {
		if off < v.HeapOff*v.BPS {
			return 0
		}
		return (off-v.HeapOff*v.BPS)/cs + 2
	}
	firstMoved := func(a alloc) bool {
		for _, c := range a.clusters {
			if c >= limit {
				return true
			}
		}
		return false
	}
	newRoot := v.Root
	var setsToSum []alloc
	var vacated []int64
	for _, a := range allocs {
		if !firstMoved(a) {
			continue
		}
		n := int64(len(a.clusters))
		newClusters := make([]int64, n)
		chained := !a.contiguous
		if a.contiguous || a.whole {
			if s, err := run(n); err == nil {
				for i := range newClusters {
					newClusters[i] = s + int64(i)
				}
			} else if a.whole {
				return fmt.Errorf("exFAT: no free run of %d clusters for the %s before the new end", n, map[bool]string{true: "allocation bitmap", false: "up-case table"}[a.bitmap])
			} else {
				chained = true // a contiguous file becomes FAT-chained
			}
		}
		if newClusters[0] == 0 {
			for i, c := range a.clusters {
				if c < limit {
					newClusters[i] = c
					continue
				}
				if newClusters[i], err = take(); err != nil {
					return err
				}
			}
		}
		for i, c := range a.clusters {
			if newClusters[i] != c {
				moved[c] = newClusters[i]
				if c < limit {
					// Freed once every move is planned: no other
					// allocation may take it before its data is copied.
					vacated = append(vacated, c)
				}
			}
		}
		// Its FAT chain in the new clusters (a run that was not chained
		// stays unchained).
		if chained || a.whole || getFAT(a.clusters[0]) != 0 {
			for _, c := range a.clusters {
				if c < limit {
					setFAT(c, 0)
				}
			}
			for i, c := range newClusters {
				if i+1 < len(newClusters) {
					setFAT(c, newClusters[i+1])
				} else {
					setFAT(c, 0xFFFFFFFF)
				}
			}
		}
		if a.ref < 0 {
			newRoot = newClusters[0]
			continue
		}
		fc := make([]byte, 4)
		le.PutUint32(fc, uint32(newClusters[0]))
		edits = append(edits, edit{a.ref, cluster(a.ref), fc})
		if a.contiguous && chained && !a.whole && a.flags >= 0 {
			b := make([]byte, 1)
			if _, err := v.R.ReadAt(b, a.flags); err != nil {
				return err
			}
			edits = append(edits, edit{a.flags, cluster(a.flags), []byte{b[0] &^ 2}})
		}
		if a.set != nil {
			setsToSum = append(setsToSum, a)
		}
	}
	// Nothing in use past the new end may be left behind.
	for c := limit; c < v.Clusters+2; c++ {
		if _, ok := moved[c]; !ok && bm[(c-2)/8]&(1<<((c-2)%8)) != 0 {
			return fmt.Errorf("exFAT cluster %d past the new end is in use but no entry Lifeboat reads names it: check the volume (fsck.exfat) first", c)
		}
	}
	for _, c := range vacated {
		setBit(c, false)
		delete(owned, c)
	}
	// The data first: each moved cluster copied to its new place.
	buf := make([]byte, cs)
	for c, n := range moved {
		if _, err := rw.ReadAt(buf, v.ClusterOff(c)); err != nil {
			return fmt.Errorf("read cluster %d: %w", c, err)
		}
		if _, err := rw.WriteAt(buf, v.ClusterOff(n)); err != nil {
			return fmt.Errorf("write cluster %d: %w", n, err)
		}
	}
	// where is the place an entry byte is at after the moves.
	where := func(off, in int64) int64 {
		if n, ok := moved[in]; ok && in != 0 {
			return off - v.ClusterOff(in) + v.ClusterOff(n)
		}
		return off
	}
	for _, e := range edits {
		if _, err := rw.WriteAt(e.data, where(e.off, e.in)); err != nil {
			return fmt.Errorf("write directory entry at byte %d: %w", e.off, err)
		}
	}
	// Entry sets whose entries changed get their checksum anew.
	for _, a := range setsToSum {
		set := make([]byte, len(a.set)*32)
		var at []int64
		for k, sl := range a.set { // a set may run on into the directory's next cluster
			at = append(at, where(sl.off, sl.in))
			if _, err := rw.ReadAt(set[k*32:k*32+32], at[k]); err != nil {
				return err
			}
		}
		var sum uint16
		for i, b := range set {
			if i == 2 || i == 3 {
				continue
			}
			sum = (sum<<15 | sum>>1) + uint16(b)
		}
		cb := make([]byte, 2)
		le.PutUint16(cb, sum)
		if _, err := rw.WriteAt(cb, at[0]+2); err != nil {
			return err
		}
	}
	// The bitmap, cut to the new count, where it is now; its entry's
	// length; the FAT; the boot regions.
	newLen := (newCC + 7) / 8
	if newCC%8 != 0 {
		bm[newCC/8] &= 1<<(newCC%8) - 1
	}
	// Its clusters after the moves; those it no longer needs are freed.
	bmClusters := make([]int64, len(bmOld))
	for k, c := range bmOld {
		bmClusters[k] = c
		if n, ok := moved[c]; ok {
			bmClusters[k] = n
		}
	}
	if need := (newLen + cs - 1) / cs; need < int64(len(bmClusters)) {
		chained := getFAT(bmClusters[0]) != 0
		for _, c := range bmClusters[need:] {
			if c < limit {
				setBit(c, false)
				setFAT(c, 0)
			}
		}
		if chained {
			setFAT(bmClusters[need-1], 0xFFFFFFFF)
		}
		bmClusters = bmClusters[:need]
	}
	for k, c := range bmClusters {
		lo := int64(k) * cs
		if _, err := rw.WriteAt(bm[lo:min(lo+cs, newLen)], v.ClusterOff(c)); err != nil {
			return fmt.Errorf("write the allocation bitmap: %w", err)
		}
	}
	ln := make([]byte, 8)
	le.PutUint64(ln, uint64(newLen))
	if _, err := rw.WriteAt(ln, where(bmEntry+24, cluster(bmEntry))); err != nil {
		return err
	}
	for c := limit; c < v.Clusters+2; c++ {
		setFAT(c, 0)
	}
	if _, err := rw.WriteAt(fat, v.FatOff*v.BPS); err != nil {
		return fmt.Errorf("write the FAT: %w", err)
	}
	region := append([]byte(nil), v.Region...)
	le.PutUint64(region[72:80], uint64(newVol))
	le.PutUint32(region[92:96], uint32(newCC))
	le.PutUint32(region[96:100], uint32(newRoot))
	region[112] = 0xFF
	Checksum(region, v.BPS)
	for _, at := range []int64{12 * v.BPS, 0} {
		if _, err := rw.WriteAt(region, at); err != nil {
			return fmt.Errorf("write the boot region at byte %d: %w", at, err)
		}
	}
	v.VolLen, v.Clusters, v.Root, v.Region = newVol, newCC, newRoot, region
	return nil
}
