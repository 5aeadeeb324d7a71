package fsmap

import "github.com/lifeboat-dev/lifeboat/pkg/fatfs"

// readFAT maps FAT12/16/32: the reserved sectors, the FATs, the FAT12/16
// root directory and every cluster whose entry in the first FAT is not
// free (bad clusters included: they are kept as the source has them).
func readFAT(d *dev) (*Map, error) {
	bs, err := d.read(0, min(4096, d.size), "FAT boot sector")
	if err != nil {
		return nil, err
	}
	// The geometry as package fatfs reads it (and the type as Linux
	// decides it: no 16-bit FAT size is FAT32).
	g, err := fatfs.Parse(bs, d.size)
	if err != nil {
		return nil, corrupt("FAT boot sector: %v", err)
	}
	bps, spc, reserved, clusters, bits := g.BytesPerSec, g.SecPerClus, g.Reserved, g.Clusters, int64(g.Bits)
	firstData := g.DataStart()
	if bits != 32 && g.RootEntries == 0 {
		return nil, corrupt("FAT%d with no root directory entries", bits)
	}
	need := (clusters + 2) * bits / 8
	if bits == 12 {
		need = ((clusters+2)*3 + 1) / 2
	}
	fat, err := d.read(reserved*bps, need, "FAT")
	if err != nil {
		return nil, err
	}
	entry := func(c int64) uint32 {
		switch bits {
		case 12:
			v := uint32(le16(fat[c*3/2:]))
			if c&1 != 0 {
				return v >> 4
			}
			return v & 0xfff
		case 16:
			return uint32(le16(fat[c*2:]))
		}
		return le32(fat[c*4:]) & 0x0fffffff
	}
	b := &builder{size: d.size}
	b.add(0, firstData*bps)
	cs := spc * bps
	base := firstData*bps - 2*cs
	for c := int64(2); c < clusters+2; c++ {
		if entry(c) != 0 {
			b.add(base+c*cs, cs)
		}
	}
	m := b.done("FAT", cs)
	// The clean-shutdown bit of FAT[1] (FAT16/32) and the dirty bit of
	// the boot sector's state byte, as the kernel and fsck.fat keep them.
	state := bs[37]
	if bits == 32 {
		state = bs[65]
	}
	switch {
	case bits == 16 && entry(1)&0x8000 == 0, bits == 32 && entry(1)&0x08000000 == 0, state&1 != 0:
		m.Unclean = "it is marked dirty (it was not unmounted cleanly)"
	}
	return m, nil
}
