package fsmap

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
)

// maxUsedMap bounds the allocation map Used reads: 32 MiB is the NTFS
// $Bitmap of a 1 TiB volume of 4 KiB clusters, or the FAT of a FAT32
// volume of 8 Mi clusters. usedChunk is how much of it is held at once.
const (
	maxUsedMap = 32 << 20
	usedChunk  = 1 << 20
)

// Used returns how many bytes the file system of type fsType (fsprobe's
// names) in the size bytes of r has in use: its size less what it counts
// free, so its own structures count as used. It reads the least that
// tells, never the whole file system:
//
//   - ext2/3/4: the superblock's free block count;
//   - xfs: the superblock's free data block count (up to date once it is
//     unmounted), so the log counts as used;
//   - btrfs: the superblock's bytes used, for a file system of one device;
//   - FAT32: the FSInfo sector's free cluster count when it is set; FAT12,
//     FAT16 and a FAT32 without it: the free entries of the first FAT;
//   - exFAT: the bits set in the allocation bitmap;
//   - NTFS: the bits set in $Bitmap.
//
// A FAT or bitmap of more than 32 MiB is not read, and other formats have
// no count: both give an error wrapping ErrUnsupported. Counts that
// contradict the file system's size are ErrCorrupt.
func Used(r io.ReaderAt, size int64, fsType string) (int64, error) {
	if size <= 0 {
		return 0, corrupt("partition size %d", size)
	}
	d := &dev{r: r, size: size}
	var (
		n   int64
		err error
	)
	switch fsType {
	case "ext2", "ext3", "ext4":
		n, err = usedExt(d)
	case "xfs":
		n, err = usedXFS(d)
	case "btrfs":
		n, err = usedBtrfs(d)
	case "vfat":
		n, err = usedFAT(d)
	case "exfat":
		n, err = usedExFAT(d)
	case "ntfs":
		n, err = usedNTFS(d)
	default:
		return 0, fmt.Errorf("%s: %w", fsType, ErrUnsupported)
	}
	if err != nil {
		return 0, fmt.Errorf("%s space in use: %w", fsType, err)
	}
	return n, nil
}

func usedExt(d *dev) (int64, error) {
	sb, err := d.read(1024, 1024, "ext superblock")
	if err != nil {
		return 0, err
	}
	s, err := parseExtSuper(sb, d.size)
	if err != nil {
		return 0, err
	}
	free := int64(le32(sb[0x0C:]))
	if s.incompat&extIncompat64Bit != 0 {
		free |= int64(le32(sb[0x158:])) << 32
	}
	if free > s.blocks {
		return 0, corrupt("ext superblock counts %d free blocks of %d", free, s.blocks)
	}
	return (s.blocks - free) * s.blockSize, nil
}

func usedXFS(d *dev) (int64, error) {
	sb, err := d.read(0, 512, "xfs superblock")
	if err != nil {
		return 0, err
	}
	be := binary.BigEndian
	if string(sb[0:4]) != "XFSB" {
		return 0, corrupt("no xfs superblock magic")
	}
	bs, blocks, free := int64(be.Uint32(sb[4:])), be.Uint64(sb[8:]), be.Uint64(sb[144:])
	if bs < 512 || bs > 65536 || bs&(bs-1) != 0 || blocks == 0 || blocks > uint64(d.size/bs) || free > blocks {
		return 0, corrupt("xfs superblock: %d blocks of %d bytes, %d free, in a partition of %d bytes", blocks, bs, free, d.size)
	}
	return int64(blocks-free) * bs, nil
}

func usedBtrfs(d *dev) (int64, error) {
	sb, err := d.read(64<<10, 0x90, "btrfs superblock")
	if err != nil {
		return 0, err
	}
	if string(sb[0x40:0x48]) != "_BHRfS_M" {
		return 0, corrupt("no btrfs superblock magic")
	}
	total, used, devices := le64(sb[0x70:]), le64(sb[0x78:]), le64(sb[0x88:])
	if devices != 1 {
		return 0, fmt.Errorf("a file system of %d devices: %w", devices, ErrUnsupported)
	}
	if total > uint64(d.size) || used > total {
		return 0, corrupt("btrfs superblock: %d bytes used of %d in a partition of %d bytes", used, total, d.size)
	}
	return int64(used), nil
}

func usedFAT(d *dev) (int64, error) {
	bs, err := d.read(0, min(4096, d.size), "FAT boot sector")
	if err != nil {
		return 0, err
	}
	g, err := fatfs.Parse(bs, d.size)
	if err != nil {
		return 0, corrupt("FAT boot sector: %v", err)
	}
	bps, cs, clusters := g.BytesPerSec, g.ClusterBytes(), g.Clusters
	total := g.Total * bps
	if g.Bits == 32 && g.FSInfo > 0 && g.FSInfo < g.Reserved {
		fi, err := d.read(g.FSInfo*bps, 512, "FAT32 FSInfo sector")
		if err != nil {
			return 0, err
		}
		free := int64(le32(fi[488:]))
		if le32(fi) == 0x41615252 && le32(fi[484:]) == 0x61417272 && free <= clusters {
			return total - free*cs, nil
		}
	}
	// Count the free entries of the first FAT: a FAT12 (6 KiB at most)
	// whole, a FAT16 or FAT32 a chunk of whole entries at a time.
	entries := clusters + 2
	need := entries * int64(g.Bits) / 8
	if g.Bits == 12 {
		need = (entries*3 + 1) / 2
	}
	if need > maxUsedMap {
		return 0, fmt.Errorf("a FAT of %d bytes is more than is read to count (%d): %w", need, maxUsedMap, ErrUnsupported)
	}
	var free int64
	if g.Bits == 12 {
		fat, err := d.read(g.Reserved*bps, need, "FAT")
		if err != nil {
			return 0, err
		}
		for c := int64(2); c < entries; c++ {
			v := uint32(le16(fat[c*3/2:]))
			if c&1 != 0 {
				v >>= 4
			}
			if v&0xfff == 0 {
				free++
			}
		}
		return total - free*cs, nil
	}
	width := int64(g.Bits / 8)
	for first := int64(0); first < entries; first += usedChunk / width {
		n := min(usedChunk/width, entries-first)
		fat, err := d.read(g.Reserved*bps+first*width, n*width, "FAT")
		if err != nil {
			return 0, err
		}
		for i := int64(0); i < n; i++ {
			if c := first + i; c < 2 {
				continue
			}
			var v uint32
			if width == 2 {
				v = uint32(le16(fat[i*2:]))
			} else {
				v = le32(fat[i*4:]) & 0x0fffffff
			}
			if v == 0 {
				free++
			}
		}
	}
	return total - free*cs, nil
}

func usedExFAT(d *dev) (int64, error) {
	v, err := exfat.Parse(d.r, d.size)
	if err != nil {
		return 0, corrupt("%v", err)
	}
	_, first, length, err := v.Bitmap()
	if err != nil {
		return 0, corrupt("%v", err)
	}
	need := (v.Clusters + 7) / 8
	if length < need {
		return 0, corrupt("allocation bitmap of %d bytes for %d clusters", length, v.Clusters)
	}
	if need > maxUsedMap {
		return 0, fmt.Errorf("an allocation bitmap of %d bytes is more than is read to count (%d): %w", need, maxUsedMap, ErrUnsupported)
	}
	cs := v.ClusterBytes()
	chain, err := v.BitmapClusters(first, need)
	if err != nil {
		return 0, corrupt("%v", err)
	}
	var set, seen int64 // bits set, bits counted so far
	for _, c := range chain {
		for off := int64(0); off < cs && seen < v.Clusters; off += usedChunk {
			n := min(usedChunk, cs-off, (v.Clusters-seen+7)/8)
			buf, err := d.read(v.ClusterOff(c)+off, n, "exFAT allocation bitmap")
			if err != nil {
				return 0, err
			}
			k := min(n*8, v.Clusters-seen)
			set += countBits(buf, k)
			seen += k
		}
	}
	if seen < v.Clusters {
		return 0, corrupt("allocation bitmap chain ends after %d of %d clusters", seen, v.Clusters)
	}
	return v.VolLen*v.BPS - (v.Clusters-set)*cs, nil
}

func usedNTFS(d *dev) (int64, error) {
	v, err := openNTFS(d)
	if err != nil {
		return 0, err
	}
	need := (v.clusters + 7) / 8
	if need > maxUsedMap {
		return 0, fmt.Errorf("a $Bitmap of %d bytes is more than is read to count (%d): %w", need, maxUsedMap, ErrUnsupported)
	}
	a, err := v.bitmapAttr()
	if err != nil {
		return 0, err
	}
	if a.resident {
		bm, err := v.content(a, need, "NTFS $Bitmap")
		if err != nil {
			return 0, err
		}
		return countBits(bm, v.clusters) * v.cs, nil
	}
	// The runs in order, a chunk at a time; sparse runs and bytes past the
	// initialised size read as zeros, as content has them.
	var set int64
	limit := min(need, a.initSize)
	for _, r := range a.runs {
		start := r.vcn * v.cs
		if start >= limit {
			break
		}
		if r.lcn < 0 {
			continue
		}
		end := min(start+r.n*v.cs, limit)
		for off := start; off < end; off += usedChunk {
			n := min(usedChunk, end-off)
			buf, err := d.read(r.lcn*v.cs+(off-start), n, "NTFS $Bitmap")
			if err != nil {
				return 0, err
			}
			set += countBits(buf, min(n*8, v.clusters-off*8))
		}
	}
	return set * v.cs, nil
}

// countBits counts the bits set among the first n of b, least significant
// first in each byte.
func countBits(b []byte, n int64) int64 {
	n = min(n, int64(len(b))*8)
	if n <= 0 {
		return 0
	}
	var c int64
	whole := n / 8
	for _, x := range b[:whole] {
		c += int64(bits.OnesCount8(x))
	}
	if rest := n % 8; rest > 0 {
		c += int64(bits.OnesCount8(b[whole] & (1<<rest - 1)))
	}
	return c
}
