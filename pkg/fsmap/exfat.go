package fsmap

// maxExFATDirClusters bounds the root directory walk (a root directory of
// more clusters than this is not one mkfs.exfat or Windows writes).
const maxExFATDirClusters = 1 << 16

// readExFAT maps exFAT: the boot region and FATs (everything before the
// cluster heap) and every cluster set in the allocation bitmap, which the
// root directory names.
func readExFAT(d *dev) (*Map, error) {
	bs, err := d.read(0, 512, "exFAT boot sector")
	if err != nil {
		return nil, err
	}
	bpsShift, spcShift := bs[108], bs[109]
	if bpsShift < 9 || bpsShift > 12 || int(bpsShift)+int(spcShift) > 25 {
		return nil, corrupt("exFAT sector size 2^%d and cluster size 2^%d sectors", bpsShift, spcShift)
	}
	bps := int64(1) << bpsShift
	cs := bps << spcShift
	fatOff := int64(le32(bs[80:])) * bps
	fatLen := int64(le32(bs[84:])) * bps
	heap := int64(le32(bs[88:])) * bps
	clusters := int64(le32(bs[92:]))
	rootCluster := int64(le32(bs[96:]))
	flags := le16(bs[106:])
	switch {
	case fatOff < 24*bps || fatLen < (clusters+2)*4 || fatOff+fatLen > heap:
		return nil, corrupt("exFAT FAT at %d of %d bytes for %d clusters, cluster heap at %d", fatOff, fatLen, clusters, heap)
	case heap+clusters*cs > d.size:
		return nil, corrupt("exFAT cluster heap at %d of %d clusters of %d bytes in a partition of %d bytes", heap, clusters, cs, d.size)
	case rootCluster < 2 || rootCluster >= clusters+2:
		return nil, corrupt("exFAT root directory cluster %d of %d", rootCluster, clusters)
	}
	fat, err := d.read(fatOff, (clusters+2)*4, "exFAT FAT")
	if err != nil {
		return nil, err
	}
	clusterOff := func(c int64) int64 { return heap + (c-2)*cs }
	// chain follows a cluster chain from c for at most n clusters. A FAT
	// entry of 0 means the chain is not recorded in the FAT: the clusters
	// are contiguous when contiguous is set, and the chain ends otherwise.
	chain := func(c, n int64, contiguous bool) ([]int64, error) {
		var out []int64
		for len(out) < int(n) {
			if c < 2 || c >= clusters+2 {
				return nil, corrupt("exFAT cluster chain reaches cluster %d of %d", c, clusters)
			}
			out = append(out, c)
			next := int64(le32(fat[c*4:]))
			switch {
			case next == 0 && contiguous:
				c++
			case next == 0:
				return out, nil
			case next >= 0xFFFFFFF8:
				return out, nil
			default:
				c = next
			}
		}
		return out, nil
	}

	// Find the allocation bitmap in the root directory.
	root, err := chain(rootCluster, maxExFATDirClusters, false)
	if err != nil {
		return nil, err
	}
	bmCluster, bmLen := int64(-1), int64(0)
walk:
	for _, c := range root {
		dir, err := d.read(clusterOff(c), cs, "exFAT root directory")
		if err != nil {
			return nil, err
		}
		for e := 0; e+32 <= len(dir); e += 32 {
			switch dir[e] {
			case 0x00:
				break walk
			case 0x81:
				if dir[e+1]&1 == 0 { // the first FAT's bitmap
					bmCluster, bmLen = int64(le32(dir[e+20:])), int64(le64(dir[e+24:]))
					break walk
				}
			}
		}
	}
	if bmCluster < 0 {
		return nil, corrupt("exFAT root directory has no allocation bitmap")
	}
	if bmLen < (clusters+7)/8 || bmLen > (clusters+7)/8+cs {
		return nil, corrupt("exFAT allocation bitmap of %d bytes for %d clusters", bmLen, clusters)
	}
	bmClusters, err := chain(bmCluster, (bmLen+cs-1)/cs, true)
	if err != nil {
		return nil, err
	}
	if int64(len(bmClusters)) < (bmLen+cs-1)/cs {
		return nil, corrupt("exFAT allocation bitmap chain ends after %d clusters", len(bmClusters))
	}
	bm := make([]byte, 0, len(bmClusters)*int(cs))
	for _, c := range bmClusters {
		buf, err := d.read(clusterOff(c), cs, "exFAT allocation bitmap")
		if err != nil {
			return nil, err
		}
		bm = append(bm, buf...)
	}
	b := &builder{size: d.size}
	b.add(0, heap)
	b.bits(bm, clusters, heap, cs)
	// The bitmap, the up-case table and the root directory are marked in
	// the bitmap by every formatter; the root and the bitmap are added
	// anyway, as a map that misses them would make an unreadable copy.
	for _, c := range append(root, bmClusters...) {
		b.add(clusterOff(c), cs)
	}
	m := b.done("exFAT allocation bitmap", cs)
	if flags&0x2 != 0 {
		m.Unclean = "it is marked dirty (it was not unmounted cleanly)"
	}
	return m, nil
}
