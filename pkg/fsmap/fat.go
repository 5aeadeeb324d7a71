package fsmap

// readFAT maps FAT12/16/32: the reserved sectors, the FATs, the FAT12/16
// root directory and every cluster whose entry in the first FAT is not
// free (bad clusters included: they are kept as the source has them).
func readFAT(d *dev) (*Map, error) {
	bs, err := d.read(0, 512, "FAT boot sector")
	if err != nil {
		return nil, err
	}
	bps := int64(le16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(le16(bs[14:]))
	nfats := int64(bs[16])
	rootEntries := int64(le16(bs[17:]))
	total := int64(le16(bs[19:]))
	if total == 0 {
		total = int64(le32(bs[32:]))
	}
	fatSize := int64(le16(bs[22:]))
	if fatSize == 0 {
		fatSize = int64(le32(bs[36:]))
	}
	switch {
	case bps < 512 || bps > 4096 || bps&(bps-1) != 0:
		return nil, corrupt("FAT bytes per sector %d", bps)
	case spc == 0 || spc&(spc-1) != 0:
		return nil, corrupt("FAT sectors per cluster %d", spc)
	case reserved == 0 || nfats == 0 || fatSize == 0:
		return nil, corrupt("FAT with %d reserved sectors and %d FATs of %d sectors", reserved, nfats, fatSize)
	case total*bps > d.size:
		return nil, corrupt("FAT file system of %d sectors of %d bytes in a partition of %d bytes", total, bps, d.size)
	}
	rootSectors := (rootEntries*32 + bps - 1) / bps
	firstData := reserved + nfats*fatSize + rootSectors
	if firstData >= total {
		return nil, corrupt("FAT data area starts at sector %d of %d", firstData, total)
	}
	clusters := (total - firstData) / spc
	// The type as Linux decides it: FAT32 has no 16-bit FAT size (mkfs.fat
	// makes FAT32 volumes with fewer than 65525 clusters too), FAT12 has
	// fewer than 4085 clusters.
	var bits int64
	switch {
	case le16(bs[22:]) == 0:
		bits = 32
	case clusters < 4085:
		bits = 12
	default:
		bits = 16
	}
	if bits == 32 && rootEntries != 0 || bits != 32 && rootEntries == 0 {
		return nil, corrupt("FAT%d with %d root directory entries", bits, rootEntries)
	}
	need := (clusters + 2) * bits / 8
	if bits == 12 {
		need = ((clusters+2)*3 + 1) / 2
	}
	if need > fatSize*bps {
		return nil, corrupt("FAT of %d sectors is too small for %d clusters", fatSize, clusters)
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
