package ptable

import (
	"encoding/binary"
	"fmt"
)

// Patch is a byte range to write over a disk image.
type Patch struct {
	Offset int64
	Data   []byte
}

// ApplyPatches overlays every patch that overlaps buf, which holds the
// disk's bytes starting at off.
func ApplyPatches(buf []byte, off int64, patches []Patch) {
	end := off + int64(len(buf))
	for _, p := range patches {
		pe := p.Offset + int64(len(p.Data))
		if pe <= off || p.Offset >= end {
			continue
		}
		lo := max(p.Offset, off)
		hi := min(pe, end)
		copy(buf[lo-off:hi-off], p.Data[lo-p.Offset:hi-p.Offset])
	}
}

// RelocateGPT returns the writes that make a GPT disk image of size oldSize
// valid on a disk of newSize bytes, as `sgdisk -e` would: the backup entry
// array and header at the new end of the disk, the primary header's
// alternate and last usable LBA moved to match, and the protective MBR entry
// resized. It returns nil when nothing needs to change (an MBR disk, or the
// same size). A primary GPT that was rebuilt from the backup is written
// back too.
func (t *Table) RelocateGPT(oldSize, newSize int64) ([]Patch, error) {
	if t.Type != TypeGPT || t.gpt == nil {
		return nil, nil
	}
	st := t.gpt
	lss := int64(t.SectorSize)
	if newSize%lss != 0 {
		return nil, fmt.Errorf("disk size %d is not a multiple of the sector size %d", newSize, lss)
	}
	newLast := uint64(newSize/lss) - 1
	h := st.hdr
	arrSectors := h.arraySectors(t.SectorSize)
	if newSize == oldSize && !st.fromBackup && h.AlternateLBA == newLast {
		return nil, nil
	}
	// The backup array must not overlap the last partition.
	maxEnd := h.FirstUsableLBA
	for _, p := range t.Partitions {
		maxEnd = max(maxEnd, uint64((p.Start+p.Size)/lss))
	}
	if newLast < arrSectors+1 || newLast-arrSectors-1 < maxEnd-1 {
		return nil, fmt.Errorf("disk of %d bytes cannot hold the GPT: partitions end at LBA %d, the backup table needs %d sectors after them", newSize, maxEnd-1, arrSectors+1)
	}
	le := binary.LittleEndian
	prim := append([]byte(nil), st.hdrSector...)
	le.PutUint64(prim[24:32], 1)
	le.PutUint64(prim[32:40], newLast)
	le.PutUint64(prim[48:56], newLast-arrSectors-1)
	setHeaderCRC(prim, h.HeaderSize)

	back := append([]byte(nil), prim...)
	le.PutUint64(back[24:32], newLast)
	le.PutUint64(back[32:40], 1)
	le.PutUint64(back[72:80], newLast-arrSectors)
	setHeaderCRC(back, h.HeaderSize)

	var patches []Patch
	if m := protectiveMBR(st.mbr, oldSize/lss-1, int64(newLast)); m != nil {
		patches = append(patches, Patch{0, m})
	}
	patches = append(patches, Patch{lss, prim})
	if st.fromBackup {
		patches = append(patches, Patch{int64(h.EntriesLBA) * lss, st.array})
	}
	patches = append(patches,
		Patch{int64(newLast-arrSectors) * lss, st.array},
		Patch{int64(newLast) * lss, back})
	return patches, nil
}

// protectiveMBR returns LBA 0 with its protective 0xEE entry resized to a
// disk whose last LBA is newLast, or nil when LBA 0 is not a plain
// protective MBR covering the old disk (a hybrid MBR is left alone).
func protectiveMBR(lba0 []byte, oldLast, newLast int64) []byte {
	if len(lba0) < 512 || lba0[510] != 0x55 || lba0[511] != 0xAA {
		return nil
	}
	e := lba0[446:462]
	le := binary.LittleEndian
	if e[4] != 0xEE || le.Uint32(e[8:12]) != 1 {
		return nil
	}
	for i := 1; i < 4; i++ {
		if !isZero(lba0[446+16*i : 462+16*i]) {
			return nil
		}
	}
	if int64(le.Uint32(e[12:16])) != min(oldLast, 0xFFFFFFFF) {
		return nil
	}
	out := append([]byte(nil), lba0...)
	e = out[446:462]
	le.PutUint32(e[12:16], uint32(min(newLast, 0xFFFFFFFF)))
	copy(e[5:8], chs(newLast))
	return out
}

// chs encodes an LBA as cylinder/head/sector for a 255-head, 63-sector
// geometry; an LBA past the last cylinder is 0xFFFFFF, as the UEFI
// specification asks of a protective MBR.
func chs(lba int64) []byte {
	const heads, sectors = 255, 63
	c := lba / (heads * sectors)
	if c > 1023 {
		return []byte{0xFF, 0xFF, 0xFF}
	}
	h := (lba / sectors) % heads
	s := lba%sectors + 1
	return []byte{byte(h), byte(s) | byte((c>>8)&3)<<6, byte(c)}
}
