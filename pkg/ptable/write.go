package ptable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// GPTEntries is the number of entries in the GPTs Lifeboat writes.
const GPTEntries = 128

// GPTReserve is how many bytes a GPT written by Lifeboat needs at the end
// of a disk with lss-byte sectors: the backup entry array and header.
func GPTReserve(lss int) int64 {
	return int64((GPTEntries*128+lss-1)/lss+1) * int64(lss)
}

// GPTFirstUsable is the first byte a partition may use in a GPT written
// by Lifeboat.
func GPTFirstUsable(lss int) int64 {
	return int64(2+(GPTEntries*128+lss-1)/lss) * int64(lss)
}

// MBRLimit is the largest disk offset an MBR partition can reach with
// lss-byte sectors.
func MBRLimit(lss int) int64 { return int64(1<<32) * int64(lss) }

// BackupReserve is how many bytes this table's backup GPT occupies at the
// end of the disk (0 for an MBR or no table).
func (t *Table) BackupReserve() int64 {
	if t.gpt == nil {
		return 0
	}
	return int64(t.gpt.hdr.arraySectors(t.SectorSize)+1) * int64(t.SectorSize)
}

// Write returns the writes that put partition table t on a disk of size
// bytes: for a GPT, the protective MBR entry, both headers and both entry
// arrays, written through go-diskfs with t's disk GUID, partition numbers,
// GUIDs, type GUIDs, names and attributes; for an MBR, the four primary
// entries and, for logical partitions, a chain of extended boot records at
// each logical partition's EBR offset. The boot code and disk signature in
// LBA 0 are not part of the writes: they stay as the disk has them.
// Partitions must be sector-aligned, inside the disk and apart; the
// error names the first one that is not.
func (t *Table) Write(size int64) ([]Patch, error) {
	lss := int64(t.SectorSize)
	if t.SectorSize < 512 || t.SectorSize&(t.SectorSize-1) != 0 || size%lss != 0 || size < 64*lss {
		return nil, fmt.Errorf("write partition table: sector size %d, disk size %d", t.SectorSize, size)
	}
	for _, p := range t.Partitions {
		if p.Start%lss != 0 || p.Size%lss != 0 || p.Size <= 0 || p.Start <= 0 || p.Start+p.Size > size {
			return nil, fmt.Errorf("write partition table: partition %d at %d, %d bytes, is not whole %d-byte sectors inside the disk (%d bytes)", p.Number, p.Start, p.Size, lss, size)
		}
	}
	switch t.Type {
	case TypeGPT:
		return t.writeGPT(size)
	case TypeMBR:
		return t.writeMBR(size)
	}
	return nil, fmt.Errorf("write partition table: type %q", t.Type)
}

func (t *Table) writeGPT(size int64) ([]Patch, error) {
	lss := int64(t.SectorSize)
	first, last := GPTFirstUsable(t.SectorSize), size-GPTReserve(t.SectorSize)
	gt := &gpt.Table{LogicalSectorSize: t.SectorSize, PhysicalSectorSize: t.SectorSize, GUID: t.DiskID, ProtectiveMBR: true}
	for _, p := range t.Partitions {
		if p.Start < first || p.Start+p.Size > last {
			return nil, fmt.Errorf("write GPT: partition %d (bytes %d-%d) is outside the usable area %d-%d", p.Number, p.Start, p.Start+p.Size-1, first, last-1)
		}
		if p.Number < 1 || p.Number > GPTEntries {
			return nil, fmt.Errorf("write GPT: partition number %d is not 1-%d", p.Number, GPTEntries)
		}
		gt.Partitions = append(gt.Partitions, &gpt.Partition{
			Index: p.Number, Start: uint64(p.Start / lss), End: uint64((p.Start+p.Size)/lss - 1),
			Type: gpt.Type(p.Type), Name: p.Name, GUID: p.GUID, Attributes: p.Attributes,
		})
	}
	if err := overlapping(t.Partitions); err != nil {
		return nil, fmt.Errorf("write GPT: %w", err)
	}
	rec := &recorder{size: size}
	if err := gt.Write(rec, size); err != nil {
		return nil, fmt.Errorf("write GPT: %w", err)
	}
	// go-diskfs writes the protective entry with a size that wraps on disks
	// over 2 TiB and no CHS values; write it as the UEFI specification asks.
	last32 := min(size/lss-1, 0xFFFFFFFF)
	e := make([]byte, 16)
	copy(e[1:4], chs(1))
	e[4] = 0xEE
	copy(e[5:8], chs(size/lss-1))
	binary.LittleEndian.PutUint32(e[8:12], 1)
	binary.LittleEndian.PutUint32(e[12:16], uint32(last32))
	pm := make([]byte, 66)
	copy(pm, e)
	pm[64], pm[65] = 0x55, 0xAA
	out := []Patch{{Offset: 446, Data: pm}}
	for _, p := range rec.patches {
		if p.Offset == 446 {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (t *Table) writeMBR(size int64) ([]Patch, error) {
	lss := int64(t.SectorSize)
	limit := min(size, MBRLimit(t.SectorSize))
	var ext *Partition
	slots := make([]*mbr.Partition, 4)
	var logical []Partition
	for i := range t.Partitions {
		p := t.Partitions[i]
		if p.Start+p.Size > limit {
			return nil, fmt.Errorf("write MBR: partition %d ends at byte %d, past what an MBR can address (%d)", p.Number, p.Start+p.Size, limit)
		}
		typ, err := mbrType(p.Type)
		if err != nil {
			return nil, fmt.Errorf("write MBR: partition %d: %w", p.Number, err)
		}
		if p.Logical {
			logical = append(logical, p)
			continue
		}
		if p.Number < 1 || p.Number > 4 || slots[p.Number-1] != nil {
			return nil, fmt.Errorf("write MBR: primary partition number %d is not 1-4 or is used twice", p.Number)
		}
		if p.Extended {
			if ext != nil {
				return nil, errors.New("write MBR: more than one extended partition")
			}
			ext = &t.Partitions[i]
		}
		slots[p.Number-1] = mbrEntry(p, p.Start/lss, p.Size/lss, typ)
	}
	var top []Partition
	for _, p := range t.Partitions {
		if !p.Logical {
			top = append(top, p)
		}
	}
	if err := overlapping(top); err != nil {
		return nil, fmt.Errorf("write MBR: %w", err)
	}
	mt := &mbr.Table{LogicalSectorSize: t.SectorSize, PhysicalSectorSize: t.SectorSize}
	for i, s := range slots {
		if s == nil {
			s = &mbr.Partition{Index: i + 1, Type: mbr.Empty}
		}
		mt.Partitions = append(mt.Partitions, s)
	}
	rec := &recorder{size: size}
	if err := mt.Write(rec, size); err != nil {
		return nil, fmt.Errorf("write MBR: %w", err)
	}
	out := rec.patches
	if len(logical) == 0 {
		return out, nil
	}
	if ext == nil {
		return nil, errors.New("write MBR: logical partitions without an extended partition")
	}
	ebrs, err := writeEBRs(logical, *ext, lss)
	if err != nil {
		return nil, err
	}
	return append(out, ebrs...), nil
}

// writeEBRs makes the chain of extended boot records for the logical
// partitions, each at its EBR offset; the first must be at the start of
// the extended partition.
func writeEBRs(logical []Partition, ext Partition, lss int64) ([]Patch, error) {
	sort.Slice(logical, func(a, b int) bool { return logical[a].Start < logical[b].Start })
	if err := overlapping(logical); err != nil {
		return nil, fmt.Errorf("write MBR: %w", err)
	}
	var out []Patch
	for k, p := range logical {
		if p.Number != 5+k {
			return nil, fmt.Errorf("write MBR: logical partition %d is the %d. in the extended partition (numbers follow the order on disk)", p.Number, k+1)
		}
		ebr := p.EBR
		if k == 0 && ebr != ext.Start {
			return nil, fmt.Errorf("write MBR: the first extended boot record is at byte %d, not at the extended partition's start %d", ebr, ext.Start)
		}
		if ebr%lss != 0 || ebr < ext.Start || ebr >= p.Start || p.Start+p.Size > ext.Start+ext.Size ||
			(k > 0 && ebr < logical[k-1].Start+logical[k-1].Size) {
			return nil, fmt.Errorf("write MBR: logical partition %d (bytes %d-%d) with its boot record at byte %d does not fit in the extended partition (bytes %d-%d)", p.Number, p.Start, p.Start+p.Size-1, ebr, ext.Start, ext.Start+ext.Size-1)
		}
		typ, _ := mbrType(p.Type)
		sec := make([]byte, lss)
		copy(sec[446:462], entryBytes(mbrEntry(p, (p.Start-ebr)/lss, p.Size/lss, typ)))
		if k+1 < len(logical) {
			n := logical[k+1]
			nx := &Partition{Start: n.EBR, Size: n.Start + n.Size - n.EBR}
			// A link to the next record is type 0x05, as fdisk writes it.
			copy(sec[462:478], entryBytes(mbrEntry(*nx, (n.EBR-ext.Start)/lss, nx.Size/lss, 0x05)))
		}
		sec[510], sec[511] = 0x55, 0xAA
		out = append(out, Patch{Offset: ebr, Data: sec})
	}
	return out, nil
}

// mbrEntry makes a go-diskfs entry; start is relative to the table that
// holds it.
func mbrEntry(p Partition, start, sectors int64, typ byte) *mbr.Partition {
	abs := p.Start / 512 // CHS is only ever a hint; computed for 512-byte sectors
	e := &mbr.Partition{Index: p.Number, Bootable: p.Bootable, Type: mbr.Type(typ), Start: uint32(start), Size: uint32(sectors)}
	c := chs(abs)
	e.StartHead, e.StartSector, e.StartCylinder = c[0], c[1], c[2]
	c = chs((p.Start+p.Size)/512 - 1)
	e.EndHead, e.EndSector, e.EndCylinder = c[0], c[1], c[2]
	return e
}

// entryBytes is the 16-byte form of an MBR entry.
func entryBytes(e *mbr.Partition) []byte {
	b := make([]byte, 16)
	if e.Bootable {
		b[0] = 0x80
	}
	b[1], b[2], b[3] = e.StartHead, e.StartSector, e.StartCylinder
	b[4] = byte(e.Type)
	b[5], b[6], b[7] = e.EndHead, e.EndSector, e.EndCylinder
	binary.LittleEndian.PutUint32(b[8:12], e.Start)
	binary.LittleEndian.PutUint32(b[12:16], e.Size)
	return b
}

func mbrType(s string) (byte, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 8)
	if err != nil {
		return 0, fmt.Errorf("MBR partition type %q is not a byte in hex", s)
	}
	return byte(v), nil
}

// overlapping reports the first two partitions that share a byte.
func overlapping(parts []Partition) error {
	s := append([]Partition(nil), parts...)
	sort.Slice(s, func(a, b int) bool { return s[a].Start < s[b].Start })
	for k := 1; k < len(s); k++ {
		if s[k].Start < s[k-1].Start+s[k-1].Size {
			return fmt.Errorf("partitions %d and %d overlap at byte %d", s[k-1].Number, s[k].Number, s[k].Start)
		}
	}
	return nil
}

// recorder is a blank disk for go-diskfs's table writers that keeps what
// they write as patches.
type recorder struct {
	size    int64
	pos     int64
	patches []Patch
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		return 0, fmt.Errorf("table write at %d, %d bytes, outside the disk of %d bytes", off, len(p), r.size)
	}
	r.patches = append(r.patches, Patch{Offset: off, Data: append([]byte(nil), p...)})
	return len(p), nil
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	clear(p)
	ApplyPatches(p, off, r.patches)
	if off+int64(len(p)) > r.size {
		return int(r.size - off), io.EOF
	}
	return len(p), nil
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	return n, err
}

func (r *recorder) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.size
	}
	r.pos = off
	return off, nil
}

func (r *recorder) Close() error               { return nil }
func (r *recorder) Stat() (fs.FileInfo, error) { return overlayInfo{r.size}, nil }
