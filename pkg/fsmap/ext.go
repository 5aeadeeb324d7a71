package fsmap

import (
	"hash/crc32"
	"sort"
)

// ext feature flags used here.
const (
	extCompatSparseSuper2 = 0x200
	extIncompatRecover    = 0x4
	extIncompatJournalDev = 0x8
	extIncompatMetaBG     = 0x10
	extIncompat64Bit      = 0x80
	extIncompatCsumSeed   = 0x2000
	extROSparseSuper      = 0x1
	extROGdtCsum          = 0x10
	extROBigalloc         = 0x200
	extROMetadataCsum     = 0x400

	extBGBlockUninit = 0x2
	extStateValid    = 0x1
	extStateErrors   = 0x2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's crc32c(seed, p): no inversion on the way in
// or out.
func crc32cRaw(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

type extSuper struct {
	blockSize, clusterRatio            int64
	blocks, firstData                  int64
	blocksPerGroup, clustersPerGroup   int64
	inodesPerGroup, inodeSize          int64
	groups                             int64
	descSize, descPerBlock             int64
	reservedGDT, firstMetaBG           int64
	compat, incompat, roCompat         uint32
	state                              uint16
	backupBGs                          [2]int64
	csumSeed                           uint32
	metaCsum, groupUninit, sparseSuper bool
}

func parseExtSuper(sb []byte, partSize int64) (*extSuper, error) {
	if le16(sb[0x38:]) != 0xEF53 {
		return nil, corrupt("ext superblock magic %#x", le16(sb[0x38:]))
	}
	s := &extSuper{
		compat:   le32(sb[0x5C:]),
		incompat: le32(sb[0x60:]),
		roCompat: le32(sb[0x64:]),
		state:    le16(sb[0x3A:]),
	}
	logBlock, logCluster := le32(sb[0x18:]), le32(sb[0x1C:])
	if logBlock > 6 {
		return nil, corrupt("ext block size 2^(10+%d)", logBlock)
	}
	s.blockSize = 1024 << logBlock
	s.clusterRatio = 1
	if s.roCompat&extROBigalloc != 0 {
		if logCluster < logBlock || logCluster > 29 {
			return nil, corrupt("ext cluster size 2^(10+%d) with blocks of 2^(10+%d)", logCluster, logBlock)
		}
		s.clusterRatio = 1 << (logCluster - logBlock)
	}
	s.blocks = int64(le32(sb[0x4:]))
	if s.incompat&extIncompat64Bit != 0 {
		s.blocks |= int64(le32(sb[0x150:])) << 32
		s.descSize = int64(le16(sb[0xFE:]))
		if s.descSize < 32 || s.descSize > 1024 || s.descSize&(s.descSize-1) != 0 {
			return nil, corrupt("ext group descriptor size %d", s.descSize)
		}
	} else {
		s.descSize = 32
	}
	s.firstData = int64(le32(sb[0x14:]))
	s.blocksPerGroup = int64(le32(sb[0x20:]))
	s.clustersPerGroup = int64(le32(sb[0x24:]))
	if s.clusterRatio == 1 {
		s.clustersPerGroup = s.blocksPerGroup
	}
	s.inodesPerGroup = int64(le32(sb[0x28:]))
	s.inodeSize = 128
	if le32(sb[0x4C:]) >= 1 {
		s.inodeSize = int64(le16(sb[0x58:]))
	}
	if s.inodeSize < 128 || s.inodeSize > s.blockSize || s.inodeSize&(s.inodeSize-1) != 0 {
		return nil, corrupt("ext inode size %d", s.inodeSize)
	}
	if s.blocks <= s.firstData || s.blocks > partSize/s.blockSize {
		return nil, corrupt("ext file system of %d blocks of %d bytes in a partition of %d bytes", s.blocks, s.blockSize, partSize)
	}
	if s.firstData > 1 || (s.firstData == 1 && s.blockSize != 1024) {
		return nil, corrupt("ext first data block %d with %d-byte blocks", s.firstData, s.blockSize)
	}
	bitsPerBlock := s.blockSize * 8
	if s.clustersPerGroup <= 0 || s.clustersPerGroup > bitsPerBlock ||
		s.blocksPerGroup != s.clustersPerGroup*s.clusterRatio {
		return nil, corrupt("ext groups of %d blocks and %d clusters with %d-byte blocks", s.blocksPerGroup, s.clustersPerGroup, s.blockSize)
	}
	if s.inodesPerGroup <= 0 || s.inodesPerGroup > bitsPerBlock {
		return nil, corrupt("ext groups of %d inodes", s.inodesPerGroup)
	}
	s.groups = (s.blocks - s.firstData + s.blocksPerGroup - 1) / s.blocksPerGroup
	s.descPerBlock = s.blockSize / s.descSize
	s.reservedGDT = int64(le16(sb[0xCE:]))
	s.firstMetaBG = int64(le32(sb[0x104:]))
	if s.incompat&extIncompatMetaBG != 0 && s.firstMetaBG > (s.groups+s.descPerBlock-1)/s.descPerBlock {
		return nil, corrupt("ext first meta block group %d of %d groups", s.firstMetaBG, s.groups)
	}
	s.backupBGs = [2]int64{int64(le32(sb[0x24C:])), int64(le32(sb[0x250:]))}
	s.sparseSuper = s.roCompat&extROSparseSuper != 0
	s.metaCsum = s.roCompat&extROMetadataCsum != 0
	s.groupUninit = s.metaCsum || s.roCompat&extROGdtCsum != 0
	if s.metaCsum {
		if s.incompat&extIncompatCsumSeed != 0 {
			s.csumSeed = le32(sb[0x270:])
		} else {
			s.csumSeed = crc32cRaw(^uint32(0), sb[0x68:0x78])
		}
	}
	return s, nil
}

// hasSuper reports whether group g holds a superblock backup.
func (s *extSuper) hasSuper(g int64) bool {
	switch {
	case g == 0:
		return true
	case s.compat&extCompatSparseSuper2 != 0:
		return g == s.backupBGs[0] || g == s.backupBGs[1]
	case !s.sparseSuper || g == 1:
		return true
	case g&1 == 0:
		return false
	}
	for _, p := range []int64{3, 5, 7} {
		n := g
		for n%p == 0 {
			n /= p
		}
		if n == 1 {
			return true
		}
	}
	return false
}

func (s *extSuper) metaBG() bool { return s.incompat&extIncompatMetaBG != 0 }

// gdtBlocks is the number of blocks of the group descriptor table in the
// old (non-meta_bg) layout.
func (s *extSuper) gdtBlocks() int64 {
	if s.metaBG() {
		return s.firstMetaBG
	}
	return (s.groups + s.descPerBlock - 1) / s.descPerBlock
}

// baseMeta is the number of blocks at the start of group g that hold a
// superblock backup and group descriptors (the kernel's
// ext4_num_base_meta_clusters, in blocks).
func (s *extSuper) baseMeta(g int64) int64 {
	n := int64(0)
	if s.hasSuper(g) {
		n = 1
	}
	if !s.metaBG() || g < s.firstMetaBG*s.descPerBlock {
		if n > 0 {
			n += s.gdtBlocks() + s.reservedGDT
		}
		return n
	}
	first := g / s.descPerBlock * s.descPerBlock
	if g == first || g == first+1 || g == first+s.descPerBlock-1 {
		n++
	}
	return n
}

// descBlock is the block holding descriptor block nr.
func (s *extSuper) descBlock(nr int64) int64 {
	sbBlock := 1024 / s.blockSize // 1 for 1 KiB blocks, else 0
	if !s.metaBG() || nr < s.firstMetaBG {
		return sbBlock + nr + 1
	}
	g := nr * s.descPerBlock
	b := s.firstData + g*s.blocksPerGroup
	if s.hasSuper(g) {
		b++
	}
	return b
}

type extGroup struct {
	blockBitmap, inodeBitmap, inodeTable int64
	flags                                uint16
	bitmapCsum                           uint32
}

func readExt(d *dev) (*Map, error) {
	sb, err := d.read(1024, 1024, "ext superblock")
	if err != nil {
		return nil, err
	}
	s, err := parseExtSuper(sb, d.size)
	if err != nil {
		return nil, err
	}
	if s.incompat&extIncompatJournalDev != 0 {
		return nil, corrupt("an external ext journal device holds no file system")
	}
	bs := s.blockSize
	method := "ext block bitmaps"
	b := &builder{size: d.size}

	// Read the group descriptors.
	groups := make([]extGroup, s.groups)
	ndesc := (s.groups + s.descPerBlock - 1) / s.descPerBlock
	for nr := int64(0); nr < ndesc; nr++ {
		blk := s.descBlock(nr)
		if blk >= s.blocks {
			return nil, corrupt("ext descriptor block %d at block %d beyond %d blocks", nr, blk, s.blocks)
		}
		buf, err := d.read(blk*bs, bs, "ext group descriptors")
		if err != nil {
			return nil, err
		}
		b.add(blk*bs, bs)
		for k := int64(0); k < s.descPerBlock; k++ {
			g := nr*s.descPerBlock + k
			if g >= s.groups {
				break
			}
			e := buf[k*s.descSize : (k+1)*s.descSize]
			gd := extGroup{
				blockBitmap: int64(le32(e[0x0:])),
				inodeBitmap: int64(le32(e[0x4:])),
				inodeTable:  int64(le32(e[0x8:])),
				flags:       le16(e[0x12:]),
				bitmapCsum:  uint32(le16(e[0x18:])),
			}
			if s.descSize >= 64 {
				gd.blockBitmap |= int64(le32(e[0x20:])) << 32
				gd.inodeBitmap |= int64(le32(e[0x24:])) << 32
				gd.inodeTable |= int64(le32(e[0x28:])) << 32
				gd.bitmapCsum |= uint32(le16(e[0x38:])) << 16
			}
			groups[g] = gd
		}
	}

	// Everything before the first group, the base metadata of every group
	// and every group's bitmaps and inode table are in use whatever the
	// bitmaps say.
	b.add(0, (s.firstData+1)*bs)
	itBlocks := (s.inodesPerGroup*s.inodeSize + bs - 1) / bs
	type bitmapRead struct{ g, blk int64 }
	var reads []bitmapRead
	for g := int64(0); g < s.groups; g++ {
		first := s.firstData + g*s.blocksPerGroup
		b.add(first*bs, s.baseMeta(g)*bs)
		gd := groups[g]
		for _, x := range []struct {
			blk, n int64
			what   string
		}{{gd.blockBitmap, 1, "block bitmap"}, {gd.inodeBitmap, 1, "inode bitmap"}, {gd.inodeTable, itBlocks, "inode table"}} {
			if x.blk < s.firstData || x.blk > s.blocks-x.n {
				return nil, corrupt("ext group %d: %s at block %d outside the file system's %d blocks", g, x.what, x.blk, s.blocks)
			}
			b.add(x.blk*bs, x.n*bs)
		}
		if s.groupUninit && gd.flags&extBGBlockUninit != 0 {
			continue
		}
		reads = append(reads, bitmapRead{g, gd.blockBitmap})
	}

	// Read the initialised block bitmaps, in disk order and in runs, as
	// flex_bg packs them together.
	sort.Slice(reads, func(i, j int) bool { return reads[i].blk < reads[j].blk })
	const maxRun = 1 << 20
	bitmapBytes := s.clustersPerGroup / 8
	for i := 0; i < len(reads); {
		j := i + 1
		for j < len(reads) && reads[j].blk == reads[j-1].blk+1 && (reads[j].blk-reads[i].blk+1)*bs <= maxRun {
			j++
		}
		run, err := d.read(reads[i].blk*bs, (reads[j-1].blk-reads[i].blk+1)*bs, "ext block bitmaps")
		if err != nil {
			return nil, err
		}
		for _, rd := range reads[i:j] {
			bm := run[(rd.blk-reads[i].blk)*bs:][:bs]
			gd := groups[rd.g]
			if s.metaCsum {
				sum := crc32cRaw(s.csumSeed, bm[:bitmapBytes])
				if s.descSize < 64 {
					sum &= 0xffff
				}
				if sum != gd.bitmapCsum {
					return nil, corrupt("ext group %d: block bitmap at block %d fails its checksum", rd.g, rd.blk)
				}
			}
			first := s.firstData + rd.g*s.blocksPerGroup
			clusters := min(s.clustersPerGroup, (s.blocks-first+s.clusterRatio-1)/s.clusterRatio)
			b.bits(bm, clusters, first*bs, s.clusterRatio*bs)
		}
		i = j
	}
	if s.clusterRatio > 1 {
		method = "ext block bitmaps (bigalloc clusters)"
	}
	// Beyond the file system's end (often a little short of the
	// partition's) nothing is used.
	m := b.done(method, s.clusterRatio*bs)
	switch {
	case s.incompat&extIncompatRecover != 0:
		m.Unclean = "its journal needs recovery (it was not unmounted cleanly)"
	case s.state&extStateErrors != 0:
		m.Unclean = "it is marked as having errors"
	case s.state&extStateValid == 0:
		m.Unclean = "it was not unmounted cleanly"
	}
	return m, nil
}
