package fatfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// ErrExists is returned by Create for a path that already exists.
var ErrExists = errors.New("already exists")

// shortName turns a name that fits 8.3 (as boot loaders' names do:
// BOOTX64.EFI) into its 11 directory-entry bytes, upper case.
func shortName(name string) ([11]byte, error) {
	var out [11]byte
	for i := range out {
		out[i] = ' '
	}
	base, ext, _ := strings.Cut(strings.ToUpper(name), ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || strings.Contains(ext, ".") {
		return out, fmt.Errorf("%q is not an 8.3 name", name)
	}
	for _, r := range base + ext {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-~!#$%&'()@^`{}", r)) {
			return out, fmt.Errorf("%q is not an 8.3 name", name)
		}
	}
	copy(out[:], base)
	copy(out[8:], ext)
	return out, nil
}

// writer holds what Create changes while it works: the first FAT, read
// whole, and the clusters it took.
type writer struct {
	v     *Volume
	w     io.WriterAt
	fat   []byte
	taken int64
	// entries are the directory entries to write into directories that
	// exist, after the FAT: an entry must never point at clusters the FAT
	// on disk still calls free.
	entries []pending
}

type pending struct {
	off  int64
	data []byte
}

// maxFAT is the largest FAT Create edits (a FAT32 of 16 Mi clusters).
const maxFAT = 64 << 20

func (v *Volume) newWriter(w io.WriterAt) (*writer, error) {
	g := v.G
	// Only the part of the FAT that counts clusters, in whole sectors.
	need := ((g.Clusters+2)*int64(g.Bits)/8 + 4 + g.BytesPerSec - 1) / g.BytesPerSec * g.BytesPerSec
	need = min(need, g.FATSize*g.BytesPerSec)
	if need > maxFAT {
		return nil, fmt.Errorf("a FAT of %d bytes is more than Lifeboat edits (%d)", need, maxFAT)
	}
	fat := make([]byte, need)
	if _, err := v.r.ReadAt(fat, g.Reserved*g.BytesPerSec); err != nil {
		return nil, fmt.Errorf("read the FAT: %w", err)
	}
	return &writer{v: v, w: w, fat: fat}, nil
}

func (x *writer) entry(c int64) int64 {
	le := binary.LittleEndian
	switch x.v.G.Bits {
	case 12:
		e := int64(le.Uint16(x.fat[c+c/2:]))
		if c&1 == 1 {
			return e >> 4
		}
		return e & 0xFFF
	case 16:
		return int64(le.Uint16(x.fat[c*2:]))
	}
	return int64(le.Uint32(x.fat[c*4:]) & 0x0FFFFFFF)
}

func (x *writer) set(c, val int64) {
	le := binary.LittleEndian
	switch x.v.G.Bits {
	case 12:
		o := c + c/2
		e := le.Uint16(x.fat[o:])
		if c&1 == 1 {
			e = e&0x000F | uint16(val<<4)
		} else {
			e = e&0xF000 | uint16(val&0xFFF)
		}
		le.PutUint16(x.fat[o:], e)
	case 16:
		le.PutUint16(x.fat[c*2:], uint16(val))
	default:
		o := c * 4
		le.PutUint32(x.fat[o:], le.Uint32(x.fat[o:])&0xF0000000|uint32(val))
	}
}

func (x *writer) eoc() int64 {
	switch x.v.G.Bits {
	case 12:
		return 0xFFF
	case 16:
		return 0xFFFF
	}
	return 0x0FFFFFFF
}

// alloc takes n free clusters, chained, and returns them.
func (x *writer) alloc(n int64) ([]int64, error) {
	var out []int64
	for c := int64(2); c < x.v.G.Clusters+2 && int64(len(out)) < n; c++ {
		if x.entry(c) == 0 {
			out = append(out, c)
		}
	}
	if int64(len(out)) < n {
		return nil, fmt.Errorf("the volume has %d free clusters, %d are needed", len(out), n)
	}
	for i, c := range out {
		if i+1 < len(out) {
			x.set(c, out[i+1])
		} else {
			x.set(c, x.eoc())
		}
	}
	x.taken += n
	return out, nil
}

// writeClusters writes data (zeros after it) into the clusters.
func (x *writer) writeClusters(cs []int64, data []byte) error {
	cb := x.v.G.ClusterBytes()
	buf := make([]byte, cb)
	for i, c := range cs {
		clear(buf)
		if lo := int64(i) * cb; lo < int64(len(data)) {
			copy(buf, data[lo:])
		}
		if _, err := x.w.WriteAt(buf, x.v.clusterOff(c)); err != nil {
			return fmt.Errorf("write cluster %d: %w", c, err)
		}
	}
	return nil
}

// chain follows a directory's chain in the FAT as Create has changed it.
func (x *writer) chain(c int64) ([]int64, error) {
	var out []int64
	limit := maxEntries*32/x.v.G.ClusterBytes() + 1
	for {
		if c < 2 || c >= x.v.G.Clusters+2 {
			return nil, fmt.Errorf("directory chain reaches cluster %d, outside the volume", c)
		}
		out = append(out, c)
		if int64(len(out)) > limit {
			return nil, errors.New("directory chain too long (a loop?)")
		}
		n := x.entry(c)
		if n >= MaxClusters(x.v.G.Bits)+2 {
			return out, nil
		}
		if n < 2 {
			return nil, fmt.Errorf("directory chain: cluster %d is followed by %#x", c, n)
		}
		c = n
	}
}

// addEntry writes a directory entry into the directory at cluster dir (0:
// the root), in its first free slot, growing the directory by a cluster
// when it has none (a FAT12/16 root cannot grow).
func (x *writer) addEntry(dir int64, ent []byte) error {
	g := x.v.G
	var slots []int64 // byte offsets of the directory's entries
	var last int64
	if dir == 0 && g.Bits != 32 {
		base := (g.Reserved + g.NumFATs*g.FATSize) * g.BytesPerSec
		for i := int64(0); i < g.RootEntries; i++ {
			slots = append(slots, base+i*32)
		}
	} else {
		if dir == 0 {
			dir = g.RootCluster
		}
		cs, err := x.chain(dir)
		if err != nil {
			return err
		}
		for _, c := range cs {
			for o := int64(0); o < g.ClusterBytes(); o += 32 {
				slots = append(slots, x.v.clusterOff(c)+o)
			}
		}
		last = cs[len(cs)-1]
	}
	b := make([]byte, 1)
	for _, off := range slots {
		if _, err := x.v.r.ReadAt(b, off); err != nil {
			return fmt.Errorf("read directory entry at byte %d: %w", off, err)
		}
		if b[0] == 0 || b[0] == 0xE5 {
			x.entries = append(x.entries, pending{off, ent})
			return nil
		}
	}
	if last == 0 {
		return errors.New("the root directory is full")
	}
	cs, err := x.alloc(1)
	if err != nil {
		return err
	}
	x.set(last, cs[0])
	if err := x.writeClusters(cs, ent); err != nil {
		return err
	}
	return nil
}

func dirEntry(name [11]byte, attr byte, cluster, size int64, now time.Time) []byte {
	e := make([]byte, 32)
	copy(e, name[:])
	e[11] = attr
	le := binary.LittleEndian
	t := uint16(now.Hour()<<11 | now.Minute()<<5 | now.Second()/2)
	d := uint16((now.Year()-1980)<<9 | int(now.Month())<<5 | now.Day())
	le.PutUint16(e[14:], t)
	le.PutUint16(e[16:], d)
	le.PutUint16(e[18:], d)
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], t)
	le.PutUint16(e[24:], d)
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], uint32(size))
	return e
}

func (x *writer) sync() error {
	if x.v.Sync == nil {
		return nil
	}
	if err := x.v.Sync(); err != nil {
		return fmt.Errorf("sync the FAT volume: %w", err)
	}
	return nil
}

// flush writes the FAT to every copy, then the pending directory entries
// and, on FAT32, FSInfo's free count lowered by the clusters taken.
func (x *writer) flush() error {
	g := x.v.G
	if err := x.sync(); err != nil { // the data and new directories first
		return err
	}
	for i := int64(0); i < g.NumFATs; i++ {
		if _, err := x.w.WriteAt(x.fat, (g.Reserved+i*g.FATSize)*g.BytesPerSec); err != nil {
			return fmt.Errorf("write FAT %d: %w", i+1, err)
		}
	}
	if err := x.sync(); err != nil { // then the FATs
		return err
	}
	for _, e := range x.entries {
		if _, err := x.w.WriteAt(e.data, e.off); err != nil {
			return fmt.Errorf("write directory entry at byte %d: %w", e.off, err)
		}
	}
	if g.Bits != 32 || g.FSInfo <= 0 || g.FSInfo >= g.Reserved {
		return nil
	}
	info := make([]byte, 512)
	off := g.FSInfo * g.BytesPerSec
	if _, err := x.v.r.ReadAt(info, off); err != nil || string(info[0:4]) != "RRaA" || string(info[484:488]) != "rrAa" {
		return nil
	}
	le := binary.LittleEndian
	if free := int64(le.Uint32(info[488:492])); free <= g.Clusters && free >= x.taken {
		le.PutUint32(info[488:492], uint32(free-x.taken))
		_, err := x.w.WriteAt(info[488:492], off+488)
		return err
	}
	return nil
}

// Create writes a new file at path with data, making the directories on
// its way that do not exist. Names are 8.3, stored in upper case (as
// firmware expects of \EFI\BOOT\BOOTX64.EFI). A path that exists is
// ErrExists; nothing is written then. w must write the volume r reads.
func (v *Volume) Create(w io.WriterAt, path string, data []byte, now time.Time) error {
	if _, err := v.Stat(path); err == nil {
		return fmt.Errorf("%s: %w", path, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	parts := split(path)
	if len(parts) == 0 {
		return errors.New("create: no file name")
	}
	names := make([][11]byte, len(parts))
	for i, p := range parts {
		n, err := shortName(p)
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		names[i] = n
	}
	x, err := v.newWriter(w)
	if err != nil {
		return err
	}
	// Walk down, making what is missing.
	dir := int64(0)
	made := false // a directory made here is empty: nothing below it to look up
	for i, p := range parts[:len(parts)-1] {
		if !made {
			es, err := v.readDir(dir, path)
			if err != nil {
				return err
			}
			if e, ok := find(es, p); ok {
				if !e.Dir {
					return fmt.Errorf("create %s: %s is a file", path, p)
				}
				dir = e.Cluster
				continue
			}
		}
		made = true
		cs, err := x.alloc(1)
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		parent := dir
		if parent == v.G.RootCluster && v.G.Bits == 32 {
			parent = 0 // ".." of a directory in the root says 0
		}
		var dot, dotdot [11]byte
		copy(dot[:], ".          ")
		copy(dotdot[:], "..         ")
		body := append(dirEntry(dot, 0x10, cs[0], 0, now), dirEntry(dotdot, 0x10, parent, 0, now)...)
		if err := x.writeClusters(cs, body); err != nil {
			return err
		}
		if err := x.addEntry(dir, dirEntry(names[i], 0x10, cs[0], 0, now)); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		dir = cs[0]
	}
	var first int64
	if len(data) > 0 {
		n := (int64(len(data)) + v.G.ClusterBytes() - 1) / v.G.ClusterBytes()
		cs, err := x.alloc(n)
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		if err := x.writeClusters(cs, data); err != nil {
			return err
		}
		first = cs[0]
	}
	if err := x.addEntry(dir, dirEntry(names[len(names)-1], 0x20, first, int64(len(data)), now)); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return x.flush()
}
