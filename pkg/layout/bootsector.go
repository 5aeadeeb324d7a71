package layout

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// fatGeometry is a FAT volume's layout (package fatfs parses it).
type fatGeometry = fatfs.Geometry

func parseFAT(b []byte, partSize int64) (fatGeometry, error) { return fatfs.Parse(b, partSize) }

func maxClusters(bits int) int64 { return fatfs.MaxClusters(bits) }

// fatGrowth is how a FAT volume is laid out in a larger partition: the
// FATs grow (their new entries free), the data area moves after them
// unchanged, so cluster numbers and directories stay as they are.
type fatGrowth struct {
	old, new fatGeometry
	segs     []Segment // relative to the partitions' starts
	wipe     []Segment // new FAT sectors, relative to the new start
}

// growFAT plans a FAT volume's growth into newSize bytes. It returns false
// when the volume cannot grow (at its type's cluster limit).
func growFAT(g fatGeometry, newSize int64) (fatGrowth, bool) {
	bps, spc := g.BytesPerSec, g.SecPerClus
	n := g
	total := min(newSize/bps, 0xFFFFFFFF) // the boot sector counts sectors in 32 bits
	align := max(spc, 4096/bps)           // keep the data area's alignment
	bits := int64(g.Bits)
	for f := g.FATSize; ; f++ {
		if (g.NumFATs*(f-g.FATSize))%align != 0 {
			continue
		}
		n.FATSize = f
		if n.DataStart() >= total {
			return fatGrowth{}, false
		}
		n.Clusters = min((total-n.DataStart())/spc, maxClusters(g.Bits))
		if f*bps*8 >= (n.Clusters+2)*bits {
			break
		}
	}
	n.Total = min(total, n.DataStart()+n.Clusters*spc)
	if n.Clusters <= g.Clusters {
		return fatGrowth{}, false
	}
	gr := fatGrowth{old: g, new: n}
	gr.segs = append(gr.segs, Segment{Src: 0, Dst: 0, Len: g.Reserved * bps})
	for i := int64(0); i < g.NumFATs; i++ {
		gr.segs = append(gr.segs, Segment{Src: (g.Reserved + i*g.FATSize) * bps, Dst: (n.Reserved + i*n.FATSize) * bps, Len: g.FATSize * bps})
		gr.wipe = append(gr.wipe, Segment{Dst: (n.Reserved + i*n.FATSize + g.FATSize) * bps, Len: (n.FATSize - g.FATSize) * bps})
	}
	if g.RootSectors > 0 {
		gr.segs = append(gr.segs, Segment{Src: (g.Reserved + g.NumFATs*g.FATSize) * bps, Dst: (n.Reserved + n.NumFATs*n.FATSize) * bps, Len: g.RootSectors * bps})
	}
	gr.segs = append(gr.segs, Segment{Src: g.DataStart() * bps, Dst: n.DataStart() * bps, Len: (g.Total - g.DataStart()) * bps})
	return gr, true
}

// bootPatch is the boot sector with the new size fields (and hidden
// sectors, the partition's start).
func (gr fatGrowth) bootPatch(b []byte, hidden int64) []byte {
	le := binary.LittleEndian
	out := append([]byte(nil), b...)
	n := gr.new
	if n.Total < 0x10000 && gr.new.Bits != 32 && le.Uint16(b[19:21]) != 0 {
		le.PutUint16(out[19:21], uint16(n.Total))
	} else {
		le.PutUint16(out[19:21], 0)
		le.PutUint32(out[32:36], uint32(n.Total))
	}
	if n.Bits == 32 {
		le.PutUint32(out[36:40], uint32(n.FATSize))
	} else {
		le.PutUint16(out[22:24], uint16(n.FATSize))
	}
	if hidden >= 0 {
		le.PutUint32(out[28:32], uint32(hidden))
	}
	return out
}

// fatPatches are the writes that finish a FAT volume's growth at the
// partition starting at start (in bytes):
// the boot sector and its FAT32 backup, and the FAT32 FSInfo sectors with
// the free count grown by the clusters added.
func (gr fatGrowth) fatPatches(r io.ReaderAt, srcStart, start int64) ([]ptable.Patch, error) {
	bps := gr.old.BytesPerSec
	hidden := start / bps
	if binary.LittleEndian.Uint32(gr.old.Boot[28:32]) == 0 {
		hidden = -1 // a volume that did not record its start keeps not doing so
	}
	out := []ptable.Patch{{Offset: start, Data: gr.bootPatch(gr.old.Boot, hidden)}}
	if gr.old.Bits != 32 {
		return out, nil
	}
	sec := make([]byte, bps)
	for _, s := range []int64{gr.old.Backup, gr.old.FSInfo, gr.old.Backup + 1} {
		if s <= 0 || s >= gr.old.Reserved || s == 0xFFFF {
			continue
		}
		if _, err := r.ReadAt(sec, srcStart+s*bps); err != nil {
			return nil, fmt.Errorf("read FAT32 sector %d of the partition at byte %d: %w", s, srcStart, err)
		}
		d := append([]byte(nil), sec...)
		switch {
		case s == gr.old.Backup && d[510] == 0x55 && d[511] == 0xAA:
			d = gr.bootPatch(d, hidden)
		case string(d[0:4]) == "RRaA" && string(d[484:488]) == "rrAa":
			// The free count grows by the clusters added, when it was
			// known; otherwise it stays unknown.
			le := binary.LittleEndian
			if free := int64(le.Uint32(d[488:492])); free <= gr.old.Clusters {
				le.PutUint32(d[488:492], uint32(free+gr.new.Clusters-gr.old.Clusters))
			}
		default:
			continue
		}
		out = append(out, ptable.Patch{Offset: start + s*bps, Data: d})
	}
	return out, nil
}

// ntfsHidden returns the writes that set an NTFS volume's hidden-sectors
// field (the partition's start, which Windows' boot code uses) in its boot
// sector and the backup after the volume, for a partition moved from
// srcStart to start. Nil when the volume does not record its start.
func ntfsHidden(r io.ReaderAt, srcStart, srcSize, start int64) ([]ptable.Patch, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, srcStart); err != nil {
		return nil, fmt.Errorf("read NTFS boot sector at byte %d: %w", srcStart, err)
	}
	le := binary.LittleEndian
	if string(b[3:11]) != "NTFS    " || le.Uint32(b[28:32]) == 0 {
		return nil, nil
	}
	bps := int64(le.Uint16(b[11:13]))
	if bps < 256 || bps > 4096 || bps&(bps-1) != 0 {
		return nil, nil
	}
	set := func(sec []byte) []byte {
		d := append([]byte(nil), sec...)
		le.PutUint32(d[28:32], uint32(start/bps))
		return d
	}
	out := []ptable.Patch{{Offset: start, Data: set(b)}}
	backup := int64(le.Uint64(b[40:48])) * bps
	if backup > 0 && backup+512 <= srcSize {
		bb := make([]byte, 512)
		if _, err := r.ReadAt(bb, srcStart+backup); err == nil && string(bb[3:11]) == "NTFS    " {
			out = append(out, ptable.Patch{Offset: start + backup, Data: set(bb)})
		}
	}
	return out, nil
}

// convertFAT returns the writes that let a FAT volume with 512-byte (or
// other small) logical sectors live on a disk of to-byte sectors, for the
// partition now at dstStart: the boot sector's BPB counted in the new
// sectors (bytes per sector, sectors per cluster, reserved sectors, FAT
// size, total sectors, hidden sectors), and for FAT32 the FSInfo sector
// and the backup boot sector at their new places. Every byte of the FATs
// and the data area stays where it is; a volume whose regions do not fall
// on whole new sectors is refused, saying which.
func convertFAT(r io.ReaderAt, srcStart, dstStart int64, g fatGeometry, to int64) ([]ptable.Patch, fatGeometry, error) {
	from := g.BytesPerSec
	n := g
	if to <= from {
		return nil, g, nil // a FAT with sectors at least as large mounts as it is
	}
	f := to / from
	name := fmt.Sprintf("FAT%d", g.Bits)
	switch {
	case g.SecPerClus%f != 0:
		return nil, g, fmt.Errorf("its clusters are %d bytes, smaller than a %d-byte sector", g.SecPerClus*from, to)
	case g.Reserved%f != 0, g.FATSize%f != 0, g.RootSectors%f != 0:
		return nil, g, fmt.Errorf("its reserved area (%d sectors), FATs (%d sectors each) or root directory (%d sectors) do not end on a %d-byte boundary", g.Reserved, g.FATSize, g.RootSectors, to)
	}
	n.BytesPerSec, n.SecPerClus, n.Reserved, n.FATSize, n.RootSectors, n.Total = to, g.SecPerClus/f, g.Reserved/f, g.FATSize/f, g.RootSectors/f, g.Total/f
	if (n.Total-n.DataStart())/n.SecPerClus != g.Clusters {
		return nil, g, fmt.Errorf("its last cluster would not be whole in %d-byte sectors", to)
	}
	n.Clusters = g.Clusters
	if g.Bits == 32 {
		if n.Reserved < 2 {
			return nil, g, fmt.Errorf("its reserved area (%d bytes) has no room for the FSInfo sector in %d-byte sectors", g.Reserved*from, to)
		}
		n.FSInfo, n.Backup = 1, 0
		if n.Reserved >= 4 {
			n.Backup = 2
		}
	}
	le := binary.LittleEndian
	boot := make([]byte, to)
	copy(boot, g.Boot[:512])
	le.PutUint16(boot[11:13], uint16(to))
	boot[13] = byte(n.SecPerClus)
	le.PutUint16(boot[14:16], uint16(n.Reserved))
	if le.Uint16(g.Boot[19:21]) != 0 {
		le.PutUint16(boot[19:21], uint16(n.Total))
	} else {
		le.PutUint32(boot[32:36], uint32(n.Total))
	}
	if g.Bits == 32 {
		le.PutUint32(boot[36:40], uint32(n.FATSize))
		le.PutUint16(boot[48:50], uint16(n.FSInfo))
		le.PutUint16(boot[50:52], uint16(n.Backup))
	} else {
		le.PutUint16(boot[22:24], uint16(n.FATSize))
	}
	if le.Uint32(g.Boot[28:32]) != 0 {
		le.PutUint32(boot[28:32], uint32(dstStart/to))
	}
	out := []ptable.Patch{{Offset: dstStart, Data: boot}}
	if g.Bits != 32 {
		return out, n, nil
	}
	info := make([]byte, to)
	if g.FSInfo > 0 && g.FSInfo < g.Reserved {
		if _, err := r.ReadAt(info[:512], srcStart+g.FSInfo*from); err != nil {
			return nil, g, fmt.Errorf("read the %s FSInfo sector: %w", name, err)
		}
	}
	if string(info[0:4]) != "RRaA" || string(info[484:488]) != "rrAa" {
		// No FSInfo to carry over: write an empty one (free count unknown).
		clear(info)
		copy(info[0:4], "RRaA")
		copy(info[484:488], "rrAa")
		le.PutUint32(info[488:492], 0xFFFFFFFF)
		le.PutUint32(info[492:496], 0xFFFFFFFF)
		copy(info[508:512], []byte{0, 0, 0x55, 0xAA})
	}
	out = append(out, ptable.Patch{Offset: dstStart + n.FSInfo*to, Data: info})
	if n.Backup > 0 {
		out = append(out, ptable.Patch{Offset: dstStart + n.Backup*to, Data: boot},
			ptable.Patch{Offset: dstStart + (n.Backup+1)*to, Data: info})
	}
	return out, n, nil
}

// sectorFit says whether the file system of partition p (in the image r)
// can live on a disk of to-byte sectors: nil when it can, an explanation
// when it cannot. FAT is converted elsewhere; this covers the rest.
func sectorFit(r io.ReaderAt, p ptable.Partition, to int64) error {
	le, be := binary.LittleEndian, binary.BigEndian
	read := func(off int64, n int) []byte {
		b := make([]byte, n)
		if off+int64(n) > p.Size {
			return nil
		}
		if _, err := r.ReadAt(b, p.Start+off); err != nil {
			return nil
		}
		return b
	}
	switch p.FileSystem {
	case "ext2", "ext3", "ext4":
		sb := read(1024, 1024)
		if sb == nil || le.Uint16(sb[56:58]) != 0xEF53 {
			return errors.New("its ext superblock cannot be read")
		}
		if v := le.Uint32(sb[24:28]); v > 6 || int64(1024)<<v < to {
			return fmt.Errorf("its blocks are %d bytes, smaller than a %d-byte sector, and the kernel does not mount such a file system", int64(1024)<<min(v, 16), to)
		}
	case "xfs":
		sb := read(0, 512)
		if sb == nil || string(sb[0:4]) != "XFSB" {
			return errors.New("its XFS superblock cannot be read")
		}
		if ss := int64(be.Uint16(sb[102:104])); ss < to {
			return fmt.Errorf("it was made for %d-byte sectors (its log and metadata are written in them), and the kernel does not mount it on %d-byte sectors", ss, to)
		}
	case "btrfs":
		sb := read(0x10000, 4096)
		if sb == nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
			return errors.New("its btrfs superblock cannot be read")
		}
		if ss := int64(le.Uint32(sb[0x90:0x94])); ss < to {
			return fmt.Errorf("its sector size is %d bytes, smaller than the disk's %d", ss, to)
		}
	case "ntfs":
		b := read(0, 512)
		if b == nil || string(b[3:11]) != "NTFS    " {
			return errors.New("its NTFS boot sector cannot be read")
		}
		if bps := int64(le.Uint16(b[11:13])); bps < to {
			return fmt.Errorf("NTFS records %d-byte sectors in its boot sector and lays out its records in them; Lifeboat does not convert NTFS", bps)
		}
	case "exfat":
		b := read(0, 512)
		if b == nil || string(b[3:11]) != "EXFAT   " {
			return errors.New("its exFAT boot sector cannot be read")
		}
		if shift := b[108]; shift > 12 || int64(1)<<shift < to {
			return fmt.Errorf("exFAT records %d-byte sectors in its boot region (with a checksum); Lifeboat does not convert exFAT", int64(1)<<min(shift, 16))
		}
	}
	return nil
}
