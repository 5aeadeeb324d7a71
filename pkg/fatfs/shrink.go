package fatfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// minClusters is the fewest clusters a FAT of the type may have without
// being taken for a smaller type (FAT12/16 by Linux and Windows alike) or
// drawing warnings (FAT32 under 65525 clusters).
func minClusters(bits int) int64 {
	switch bits {
	case 16:
		return MaxClusters(12) + 1
	case 32:
		return MaxClusters(16) + 1
	}
	return 1
}

// UsedClusters counts the clusters the FAT marks as taken (in a chain,
// reserved or bad).
func (v *Volume) UsedClusters() (int64, error) {
	x, err := v.newWriter(nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for c := int64(2); c < v.G.Clusters+2; c++ {
		if x.entry(c) != 0 {
			n++
		}
	}
	return n, nil
}

// MinSize is the smallest volume, in bytes, that Shrink can make of this
// one: its FATs and root directory where they are, its used clusters and
// a little room, and no fewer clusters than its FAT type needs.
func (v *Volume) MinSize() (int64, error) {
	used, err := v.UsedClusters()
	if err != nil {
		return 0, err
	}
	g := v.G
	n := max(used+used/50+16, minClusters(g.Bits))
	return min((g.DataStart()+n*g.SecPerClus)*g.BytesPerSec, g.Total*g.BytesPerSec), nil
}

// ReadWriterAt is a volume that can be changed in place.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// Shrink makes the volume newSize bytes (rounded down to whole clusters):
// clusters past the new end move into free clusters before it, with the
// FAT chains, directory entries (and their "." and ".." entries) and the
// FAT32 root cluster following them. The FATs keep their size, so the
// data area does not move. The FAT type must keep enough clusters (4085
// for FAT16, 65525 for FAT32). rw must be the device Open read.
func (v *Volume) Shrink(rw ReadWriterAt, newSize int64) error {
	g := v.G
	newTotal := newSize / g.BytesPerSec
	newClusters := (newTotal - g.DataStart()) / g.SecPerClus
	if newClusters >= g.Clusters {
		return nil
	}
	if newClusters < minClusters(g.Bits) {
		return fmt.Errorf("FAT%d shrunk to %d bytes would have %d clusters; it needs at least %d", g.Bits, newSize, max(newClusters, 0), minClusters(g.Bits))
	}
	newTotal = g.DataStart() + newClusters*g.SecPerClus
	x, err := v.newWriter(rw)
	if err != nil {
		return err
	}
	limit := newClusters + 2 // clusters from limit on go
	eocMin := MaxClusters(g.Bits) + 2
	// Where each cluster past the end moves to.
	moved := map[int64]int64{}
	free := int64(2)
	for c := limit; c < g.Clusters+2; c++ {
		e := x.entry(c)
		if e == 0 || (e >= eocMin && e < x.eoc()-7) {
			continue // free, or a bad or reserved cluster: dropped
		}
		for free < limit && x.entry(free) != 0 {
			free++
		}
		if free >= limit {
			return fmt.Errorf("FAT%d: the clusters in use do not fit in %d clusters", g.Bits, newClusters)
		}
		moved[c] = free
		x.set(free, x.eoc()) // taken; its value is set below
		free++
	}
	to := func(c int64) int64 {
		if n, ok := moved[c]; ok {
			return n
		}
		return c
	}
	// Directory entries that name a moved cluster, found before anything
	// changes.
	refs, err := v.clusterRefs()
	if err != nil {
		return err
	}
	// The data first: each moved cluster is copied to its new place.
	buf := make([]byte, g.ClusterBytes())
	for c, n := range moved {
		if _, err := rw.ReadAt(buf, v.clusterOff(c)); err != nil {
			return fmt.Errorf("read cluster %d at byte %d: %w", c, v.clusterOff(c), err)
		}
		if _, err := rw.WriteAt(buf, v.clusterOff(n)); err != nil {
			return fmt.Errorf("write cluster %d at byte %d: %w", n, v.clusterOff(n), err)
		}
	}
	// The chains: every link to a moved cluster points to its new place,
	// and the moved clusters' links move with them.
	links := map[int64]int64{}
	for c := int64(2); c < g.Clusters+2; c++ {
		if _, gone := moved[c]; gone {
			continue
		}
		if e := x.entry(c); e >= 2 && e < eocMin {
			if _, ok := moved[e]; ok {
				x.set(c, moved[e])
			}
		}
	}
	for c := range moved {
		e := x.entry(c)
		if e >= 2 && e < eocMin {
			e = to(e)
		}
		links[moved[c]] = e
	}
	for n, e := range links {
		x.set(n, e)
	}
	for c := limit; c < g.Clusters+2; c++ {
		x.set(c, 0)
	}
	if err := x.sync(); err != nil {
		return err
	}
	for i := int64(0); i < g.NumFATs; i++ {
		if _, err := rw.WriteAt(x.fat, (g.Reserved+i*g.FATSize)*g.BytesPerSec); err != nil {
			return fmt.Errorf("write FAT %d: %w", i+1, err)
		}
	}
	if err := x.sync(); err != nil {
		return err
	}
	le := binary.LittleEndian
	for _, r := range refs {
		n, ok := moved[r.cluster]
		if !ok {
			continue
		}
		if d, ok := moved[r.in]; ok {
			// The entry's directory cluster moved too: the copy is
			// the one to change.
			r.off += v.clusterOff(d) - v.clusterOff(r.in)
		}
		b := make([]byte, 6)
		le.PutUint16(b[0:2], uint16(n>>16))
		if _, err := rw.WriteAt(b[0:2], r.off+20); err != nil {
			return fmt.Errorf("write directory entry at byte %d: %w", r.off, err)
		}
		le.PutUint16(b[2:4], uint16(n))
		if _, err := rw.WriteAt(b[2:4], r.off+26); err != nil {
			return fmt.Errorf("write directory entry at byte %d: %w", r.off, err)
		}
	}
	// The boot sector (and FAT32's backup) count the new size; FSInfo's
	// free count and hint are made right for it.
	boot := append([]byte(nil), g.Boot...)
	if le.Uint16(boot[19:21]) != 0 && newTotal < 0x10000 {
		le.PutUint16(boot[19:21], uint16(newTotal))
	} else {
		le.PutUint16(boot[19:21], 0)
		le.PutUint32(boot[32:36], uint32(newTotal))
	}
	if g.Bits == 32 {
		le.PutUint32(boot[44:48], uint32(to(g.RootCluster)))
	}
	if err := x.sync(); err != nil {
		return err
	}
	secs := []int64{0}
	if g.Bits == 32 && g.Backup > 0 && g.Backup < g.Reserved {
		secs = []int64{g.Backup, 0} // the backup first
	}
	for _, sec := range secs {
		if _, err := rw.WriteAt(boot, sec*g.BytesPerSec); err != nil {
			return fmt.Errorf("write the boot sector at byte %d: %w", sec*g.BytesPerSec, err)
		}
	}
	if g.Bits == 32 && g.FSInfo > 0 && g.FSInfo < g.Reserved {
		var freeN int64
		for c := int64(2); c < limit; c++ {
			if x.entry(c) == 0 {
				freeN++
			}
		}
		info := make([]byte, 512)
		off := g.FSInfo * g.BytesPerSec
		if _, err := rw.ReadAt(info, off); err == nil && string(info[0:4]) == "RRaA" && string(info[484:488]) == "rrAa" {
			le.PutUint32(info[488:492], uint32(freeN))
			le.PutUint32(info[492:496], 2)
			for _, o := range []int64{off, (g.Backup + g.FSInfo) * g.BytesPerSec} {
				if o != off && (g.Backup <= 0 || g.Backup+g.FSInfo >= g.Reserved) {
					continue
				}
				if _, err := rw.WriteAt(info[488:496], o+488); err != nil {
					return fmt.Errorf("write FSInfo at byte %d: %w", o, err)
				}
			}
		}
	}
	v.G.Total = newTotal
	v.G.Clusters = newClusters
	v.G.RootCluster = to(g.RootCluster)
	v.G.Boot = boot
	return x.sync()
}

// ref is a directory entry (at byte off, in the directory's cluster in;
// 0 in a FAT12/16 root) that names a cluster.
type ref struct{ off, cluster, in int64 }

// clusterRefs lists every directory entry of the volume that names a
// first cluster, "." and ".." included, walking every directory once.
func (v *Volume) clusterRefs() ([]ref, error) {
	g := v.G
	var out []ref
	seen := map[int64]bool{}
	var walk func(c int64, what string, depth int) error
	walk = func(c int64, what string, depth int) error {
		if depth > 64 {
			return fmt.Errorf("%s: directories nested more than 64 deep (a loop?)", what)
		}
		var offs, ins []int64 // the byte offsets of the directory's slots, their clusters
		if c == 0 && g.Bits != 32 {
			base := (g.Reserved + g.NumFATs*g.FATSize) * g.BytesPerSec
			for i := int64(0); i < g.RootEntries; i++ {
				offs = append(offs, base+i*32)
				ins = append(ins, 0)
			}
		} else {
			if c == 0 {
				c = g.RootCluster
			}
			if seen[c] {
				return nil
			}
			seen[c] = true
			cs, err := v.chain(c, maxEntries*32/g.ClusterBytes()+1, what)
			if err != nil {
				return err
			}
			for _, cl := range cs {
				for o := int64(0); o < g.ClusterBytes(); o += 32 {
					offs = append(offs, v.clusterOff(cl)+o)
					ins = append(ins, cl)
				}
			}
		}
		le := binary.LittleEndian
		e := make([]byte, 32)
		for k, off := range offs {
			if _, err := v.r.ReadAt(e, off); err != nil {
				return fmt.Errorf("read directory entry of %s at byte %d: %w", what, off, err)
			}
			if e[0] == 0 {
				break
			}
			if e[0] == 0xE5 || e[11]&0x3F == 0x0F || e[11]&0x08 != 0 {
				continue
			}
			cl := int64(le.Uint16(e[26:28]))
			if g.Bits == 32 {
				cl |= int64(le.Uint16(e[20:22])) << 16
			}
			if cl == 0 {
				continue
			}
			out = append(out, ref{off: off, cluster: cl, in: ins[k]})
			name := string(e[0:11])
			if e[11]&0x10 != 0 && name != ".          " && name != "..         " {
				if err := walk(cl, what+"/"+name, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(0, "", 0); err != nil {
		return nil, err
	}
	if len(out) > 1<<24 {
		return nil, errors.New("too many directory entries")
	}
	return out, nil
}
