package fsmap

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// Range is a byte range relative to the start of the partition.
type Range struct {
	Off, Len int64
}

// End is the first byte after the range.
func (r Range) End() int64 { return r.Off + r.Len }

// Map is what a file system uses.
type Map struct {
	// Method names the structure the map came from: "ext4 block bitmaps",
	// "FAT", "exFAT allocation bitmap", "NTFS $Bitmap", "swap header".
	Method string
	// BlockSize is the file system's allocation unit in bytes.
	BlockSize int64
	// Used holds the ranges in use: sorted, not overlapping, not touching,
	// and within the partition.
	Used []Range
	// UsedBytes is the sum of Used's lengths.
	UsedBytes int64
	// Unclean, when set, says why the file system is not in a clean state
	// ("the journal needs recovery", "Windows is hibernated"): its map may
	// not hold what pending changes use.
	Unclean string
}

var (
	// ErrUnsupported is returned for a format without an allocation map
	// reader.
	ErrUnsupported = errors.New("no allocation map reader for this file system")
	// ErrCorrupt is wrapped by every error that means the file system's
	// structures contradict themselves or the partition.
	ErrCorrupt = errors.New("allocation map is not consistent")
)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Read returns the map of the file system of type fsType (fsprobe's
// names) in the size bytes of r.
func Read(r io.ReaderAt, size int64, fsType string) (*Map, error) {
	if size <= 0 {
		return nil, corrupt("partition size %d", size)
	}
	d := &dev{r: r, size: size}
	var (
		m   *Map
		err error
	)
	switch fsType {
	case "ext2", "ext3", "ext4":
		m, err = readExt(d)
	case "vfat":
		m, err = readFAT(d)
	case "exfat":
		m, err = readExFAT(d)
	case "ntfs":
		m, err = readNTFS(d)
	case "swap":
		m, err = readSwap(d)
	default:
		return nil, fmt.Errorf("%s: %w", fsType, ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("%s allocation map: %w", fsType, err)
	}
	return m, nil
}

// dev reads the partition with bounds checks.
type dev struct {
	r    io.ReaderAt
	size int64
}

// read returns n bytes at off; a range outside the partition is ErrCorrupt.
func (d *dev) read(off, n int64, what string) ([]byte, error) {
	if off < 0 || n < 0 || off > d.size || n > d.size-off {
		return nil, corrupt("%s at offset %d (+%d) lies outside the partition of %d bytes", what, off, n, d.size)
	}
	buf := make([]byte, n)
	got, err := d.r.ReadAt(buf, off)
	if int64(got) == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %s at offset %d: %w", what, off+int64(got), err)
}

// builder collects used ranges in any order.
type builder struct {
	size int64
	rs   []Range
}

// add marks [off, off+n) used, clipped to the partition.
func (b *builder) add(off, n int64) {
	if n <= 0 || off >= b.size || off+n <= 0 {
		return
	}
	if off < 0 {
		n += off
		off = 0
	}
	n = min(n, b.size-off)
	if k := len(b.rs); k > 0 && b.rs[k-1].End() == off {
		b.rs[k-1].Len += n
		return
	}
	b.rs = append(b.rs, Range{off, n})
}

// bits marks unit i used for every set bit i of bm (LSB first) below count,
// units of unit bytes starting at base.
func (b *builder) bits(bm []byte, count int64, base, unit int64) {
	count = min(count, int64(len(bm))*8)
	for i := int64(0); i < count; {
		byt := bm[i>>3]
		if byt == 0 && i&7 == 0 {
			i += 8
			continue
		}
		if byt == 0xff && i&7 == 0 && i+8 <= count {
			j := i + 8
			for j+8 <= count && bm[j>>3] == 0xff {
				j += 8
			}
			b.add(base+i*unit, (j-i)*unit)
			i = j
			continue
		}
		if byt>>(i&7)&1 != 0 {
			b.add(base+i*unit, unit)
		}
		i++
	}
}

// done sorts and merges the ranges into a Map.
func (b *builder) done(method string, blockSize int64) *Map {
	rs := b.rs
	sort.Slice(rs, func(i, j int) bool { return rs[i].Off < rs[j].Off })
	out := rs[:0]
	for _, r := range rs {
		if k := len(out); k > 0 && r.Off <= out[k-1].End() {
			out[k-1].Len = max(out[k-1].End(), r.End()) - out[k-1].Off
			continue
		}
		out = append(out, r)
	}
	m := &Map{Method: method, BlockSize: blockSize, Used: out}
	for _, r := range out {
		m.UsedBytes += r.Len
	}
	return m
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
