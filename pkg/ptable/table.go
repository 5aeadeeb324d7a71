package ptable

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// Table types.
const (
	TypeGPT  = "gpt"
	TypeMBR  = "mbr"
	TypeNone = "none"
)

// Table describes a disk's partition table.
type Table struct {
	Type       string      `json:"type"`
	SectorSize int         `json:"sector_size"`
	DiskID     string      `json:"disk_id,omitempty"` // GPT disk GUID, or MBR disk signature as 8 hex digits
	Partitions []Partition `json:"partitions"`
	// Areas are the regions that matter for booting, outside partitions.
	Areas    []Area   `json:"areas,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	gpt *gptState
}

// gptState keeps the raw structures needed to relocate a GPT.
type gptState struct {
	hdr        gptHeader // in primary orientation
	hdrSector  []byte    // primary header sector as it should read at LBA 1
	array      []byte    // entry array, padded to whole sectors
	mbr        []byte    // LBA 0
	fromBackup bool
}

// Partition is one partition table entry.
type Partition struct {
	Number     int    `json:"number"`
	Start      int64  `json:"start"` // bytes from the start of the disk
	Size       int64  `json:"size"`  // bytes
	Type       string `json:"type"`  // GPT type GUID, or MBR type as "0x83"
	TypeName   string `json:"type_name,omitempty"`
	GUID       string `json:"guid,omitempty"` // GPT unique partition GUID
	Name       string `json:"name,omitempty"` // GPT partition name
	Attributes uint64 `json:"attributes,omitempty"`
	Bootable   bool   `json:"bootable,omitempty"` // MBR active flag
	Logical    bool   `json:"logical,omitempty"`  // MBR logical partition inside an extended one
	Extended   bool   `json:"extended,omitempty"` // MBR extended container
	// EBR is where a logical partition's extended boot record is, in
	// bytes from the start of the disk.
	EBR int64 `json:"ebr,omitempty"`
	// FileSystem, FSVersion and FSLabel say what the partition held when
	// it was read (blkid's type names: "ext4", "vfat", "ntfs", "swap"...,
	// and its variant: "FAT32"); set by capture and by the disk listings,
	// not by Read.
	FileSystem string `json:"fs,omitempty"`
	FSVersion  string `json:"fs_version,omitempty"`
	FSLabel    string `json:"fs_label,omitempty"`
	// Capture says how the capture read the partition: "used blocks (ext
	// block bitmaps)", "every sector: ..."; UsedBytes is what it read of
	// it. Set by capture. A disk listing (Capture empty) sets UsedBytes
	// to the space the file system has in use, when known.
	Capture   string `json:"capture,omitempty"`
	UsedBytes int64  `json:"used_bytes,omitempty"`
}

// Area is a region of the disk outside the partitions that boot loaders
// and partition tables use.
type Area struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// Area names.
const (
	AreaMBR           = "mbr"
	AreaGPTPrimary    = "gpt-primary-header"
	AreaGPTEntries    = "gpt-primary-entries"
	AreaGPTBackupEnts = "gpt-backup-entries"
	AreaGPTBackup     = "gpt-backup-header"
	AreaGap           = "gap-before-first-partition"
)

// Read reads the partition table of a disk of the given size and logical
// sector size. A disk with no recognisable table gives a Table of type
// "none" and no error; errors are I/O errors.
func Read(r io.ReaderAt, size int64, lss int) (*Table, error) {
	if lss < 512 || lss&(lss-1) != 0 || lss > 65536 {
		return nil, fmt.Errorf("read partition table: invalid sector size %d", lss)
	}
	t := &Table{Type: TypeNone, SectorSize: lss, Partitions: []Partition{}}
	if size < int64(lss)*2 {
		return t, nil
	}
	lba0 := make([]byte, lss)
	if err := readFull(r, lba0, 0); err != nil {
		return nil, fmt.Errorf("read MBR at LBA 0: %w", err)
	}
	t.Areas = append(t.Areas, Area{AreaMBR, 0, int64(lss)})
	ok, err := t.readGPT(r, size, lba0)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := t.readMBR(r, size, lba0); err != nil {
			return nil, err
		}
	}
	t.addGap()
	return t, nil
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readGPT reads a GPT if there is one. It reports false when the disk has
// no GPT at all.
func (t *Table) readGPT(r io.ReaderAt, size int64, lba0 []byte) (bool, error) {
	lss := int64(t.SectorSize)
	lastLBA := uint64(size/lss) - 1
	sec := make([]byte, lss)
	if err := readFull(r, sec, lss); err != nil {
		return false, fmt.Errorf("read GPT header at LBA 1: %w", err)
	}
	st := &gptState{mbr: lba0}
	h, perr := parseGPTHeader(sec)
	if perr == nil {
		perr = t.loadArray(r, size, h, st)
	}
	if perr == nil {
		st.hdr, st.hdrSector = h, sec
	} else {
		// Primary missing or damaged: look for the backup, but only call
		// the disk GPT if the primary had a signature or LBA 0 holds a
		// protective MBR entry.
		if !errors.Is(perr, errNoGPT) || hasProtectiveEntry(lba0) {
			bsec := make([]byte, lss)
			if err := readFull(r, bsec, int64(lastLBA)*lss); err != nil {
				return false, fmt.Errorf("read backup GPT header at LBA %d: %w", lastLBA, err)
			}
			bh, berr := parseGPTHeader(bsec)
			if berr == nil && bh.MyLBA != lastLBA {
				berr = fmt.Errorf("backup GPT header at LBA %d says it is at LBA %d", lastLBA, bh.MyLBA)
			}
			if berr == nil {
				berr = t.loadArray(r, size, bh, st)
			}
			if berr != nil {
				if errors.Is(perr, errNoGPT) {
					t.Warnings = append(t.Warnings, fmt.Sprintf("protective MBR but no usable GPT: backup at LBA %d: %v", lastLBA, berr))
					return false, nil
				}
				t.Warnings = append(t.Warnings, fmt.Sprintf("GPT unreadable: primary at LBA 1: %v; backup at LBA %d: %v", perr, lastLBA, berr))
				return false, nil
			}
			what := "damaged"
			if errors.Is(perr, errNoGPT) {
				what = "missing"
			}
			t.Warnings = append(t.Warnings, fmt.Sprintf("primary GPT %s (%v), using the backup at LBA %d", what, perr, lastLBA))
			// Turn the backup into a primary-orientation header.
			ph := bh
			ph.MyLBA, ph.AlternateLBA = 1, bh.MyLBA
			ph.EntriesLBA = 2
			psec := make([]byte, lss)
			copy(psec, bsec)
			le := binary.LittleEndian
			le.PutUint64(psec[24:32], ph.MyLBA)
			le.PutUint64(psec[32:40], ph.AlternateLBA)
			le.PutUint64(psec[72:80], ph.EntriesLBA)
			setHeaderCRC(psec, ph.HeaderSize)
			st.hdr, st.hdrSector, st.fromBackup = ph, psec, true
		} else {
			return false, nil
		}
	}
	h = st.hdr
	t.Type = TypeGPT
	t.DiskID = guidString(h.DiskGUID[:])
	t.gpt = st
	if err := t.gptEntries(r, size); err != nil {
		return false, err
	}
	arrLen := int64(h.arraySectors(t.SectorSize)) * lss
	t.Areas = append(t.Areas,
		Area{AreaGPTPrimary, lss, lss},
		Area{AreaGPTEntries, int64(h.EntriesLBA) * lss, arrLen})
	if h.AlternateLBA <= lastLBA && h.AlternateLBA > h.LastUsableLBA {
		bEnt := int64(h.AlternateLBA)*lss - arrLen
		if bEnt > 0 {
			t.Areas = append(t.Areas, Area{AreaGPTBackupEnts, bEnt, arrLen})
		}
		t.Areas = append(t.Areas, Area{AreaGPTBackup, int64(h.AlternateLBA) * lss, lss})
	} else {
		t.Warnings = append(t.Warnings, fmt.Sprintf("GPT backup header LBA %d is not at the end of the disk (last LBA %d)", h.AlternateLBA, lastLBA))
	}
	return true, nil
}

// loadArray reads and checks the entry array a header points to.
func (t *Table) loadArray(r io.ReaderAt, size int64, h gptHeader, st *gptState) error {
	lss := int64(t.SectorSize)
	n := int64(h.arraySectors(t.SectorSize)) * lss
	off := int64(h.EntriesLBA) * lss
	if h.EntriesLBA < 2 || h.EntriesLBA > uint64(size/lss) || off+n > size {
		return fmt.Errorf("GPT entry array at LBA %d is outside the disk", h.EntriesLBA)
	}
	arr := make([]byte, n)
	if err := readFull(r, arr, off); err != nil {
		return fmt.Errorf("read GPT entry array at LBA %d: %w", h.EntriesLBA, err)
	}
	if err := h.checkArray(arr); err != nil {
		return fmt.Errorf("GPT entry array at LBA %d: %w", h.EntriesLBA, err)
	}
	st.array = arr
	return nil
}

// gptEntries fills in the partitions from the entry array through
// go-diskfs, and checks them against the disk.
func (t *Table) gptEntries(r io.ReaderAt, size int64) error {
	st := t.gpt
	lss := t.SectorSize
	// go-diskfs parses from a disk image; give it a view with the (valid)
	// primary header and array in place, so a damaged primary that we
	// replaced from the backup parses the same way.
	view := &overlay{r: r, size: size, patches: []Patch{
		{Offset: int64(lss), Data: st.hdrSector},
		{Offset: int64(st.hdr.EntriesLBA) * int64(lss), Data: st.array},
	}}
	gt, err := gpt.Read(view, lss, lss)
	if err != nil {
		return fmt.Errorf("parse GPT entries: %w", err)
	}
	lastLBA := uint64(size/int64(lss)) - 1
	for _, p := range gt.Partitions {
		if p == nil || p.Type == gpt.Unused {
			continue
		}
		if p.End < p.Start || p.End > lastLBA {
			t.Warnings = append(t.Warnings, fmt.Sprintf("GPT partition %d spans LBA %d-%d, outside the disk (last LBA %d)", p.Index, p.Start, p.End, lastLBA))
			continue
		}
		typ := strings.ToUpper(string(p.Type))
		t.Partitions = append(t.Partitions, Partition{
			Number:     p.Index,
			Start:      int64(p.Start) * int64(lss),
			Size:       int64(p.End-p.Start+1) * int64(lss),
			Type:       typ,
			TypeName:   gptTypeNames[typ],
			GUID:       strings.ToUpper(p.GUID),
			Name:       p.Name,
			Attributes: p.Attributes,
		})
	}
	return nil
}

func hasProtectiveEntry(lba0 []byte) bool {
	if len(lba0) < 512 || lba0[510] != 0x55 || lba0[511] != 0xAA {
		return false
	}
	for i := 0; i < 4; i++ {
		if lba0[446+16*i+4] == 0xEE {
			return true
		}
	}
	return false
}

// readMBR reads a DOS partition table, with logical partitions.
func (t *Table) readMBR(r io.ReaderAt, size int64, lba0 []byte) error {
	if len(lba0) < 512 || lba0[510] != 0x55 || lba0[511] != 0xAA {
		return nil
	}
	view := &overlay{r: r, size: size}
	mt, err := mbr.Read(view, t.SectorSize, t.SectorSize)
	if err != nil {
		return fmt.Errorf("parse MBR: %w", err)
	}
	lss := int64(t.SectorSize)
	sectors := size / lss
	parts := []Partition{}
	var extended *mbr.Partition
	for _, p := range mt.Partitions {
		if p == nil || p.Type == mbr.Empty || p.Size == 0 {
			continue
		}
		if int64(p.Start)+int64(p.Size) > sectors {
			t.Warnings = append(t.Warnings, fmt.Sprintf("MBR partition %d spans sectors %d-%d, past the end of the disk (%d sectors)", p.Index, p.Start, int64(p.Start)+int64(p.Size)-1, sectors))
		}
		ext := isExtended(byte(p.Type))
		parts = append(parts, Partition{
			Number:   p.Index,
			Start:    int64(p.Start) * lss,
			Size:     int64(p.Size) * lss,
			Type:     fmt.Sprintf("0x%02x", byte(p.Type)),
			TypeName: mbrTypeNames[byte(p.Type)],
			Bootable: p.Bootable,
			Extended: ext,
		})
		if ext && extended == nil {
			extended = p
		}
	}
	// A sector of all zeros but the signature, or one with no entries, is
	// not a partition table (a FAT or NTFS boot sector also ends in 55AA;
	// we accept those as "mbr" only if they have sane entries).
	if len(parts) == 0 && !hasBootCode(lba0) {
		return nil
	}
	t.Type = TypeMBR
	t.DiskID = fmt.Sprintf("%08x", binary.LittleEndian.Uint32(lba0[440:444]))
	if extended != nil {
		logical, err := readEBRChain(r, int64(extended.Start), int64(extended.Size), lss, sectors)
		if err != nil {
			t.Warnings = append(t.Warnings, err.Error())
		}
		parts = append(parts, logical...)
	}
	t.Partitions = parts
	return nil
}

func hasBootCode(lba0 []byte) bool { return !isZero(lba0[:440]) }

func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0f || typ == 0x85 }

// maxLogical bounds the EBR chain walk.
const maxLogical = 256

// readEBRChain follows the chain of extended boot records inside an
// extended partition starting at LBA ext. It returns the logical
// partitions read before any problem, and the problem.
func readEBRChain(r io.ReaderAt, ext, extSize, lss, sectors int64) ([]Partition, error) {
	var out []Partition
	seen := map[int64]bool{}
	cur := ext
	sec := make([]byte, lss)
	for n := 5; ; n++ {
		if n-5 >= maxLogical {
			return out, fmt.Errorf("more than %d logical partitions; stopped reading the chain at LBA %d", maxLogical, cur)
		}
		if seen[cur] {
			return out, fmt.Errorf("extended boot record chain loops back to LBA %d", cur)
		}
		seen[cur] = true
		if cur < ext || cur >= ext+extSize || cur >= sectors {
			return out, fmt.Errorf("extended boot record at LBA %d is outside the extended partition (LBA %d-%d)", cur, ext, ext+extSize-1)
		}
		if err := readFull(r, sec, cur*lss); err != nil {
			return out, fmt.Errorf("read extended boot record at LBA %d: %w", cur, err)
		}
		if sec[510] != 0x55 || sec[511] != 0xAA {
			return out, fmt.Errorf("extended boot record at LBA %d has no 55AA signature", cur)
		}
		e1, e2 := sec[446:462], sec[462:478]
		le := binary.LittleEndian
		if typ := e1[4]; typ != 0 {
			start := cur + int64(le.Uint32(e1[8:12]))
			cnt := int64(le.Uint32(e1[12:16]))
			if cnt > 0 {
				out = append(out, Partition{
					Number:   n,
					Start:    start * lss,
					Size:     cnt * lss,
					Type:     fmt.Sprintf("0x%02x", typ),
					TypeName: mbrTypeNames[typ],
					Bootable: e1[0] == 0x80,
					Logical:  true,
					EBR:      cur * lss,
				})
			}
		}
		if e2[4] == 0 || !isExtended(e2[4]) {
			return out, nil
		}
		cur = ext + int64(le.Uint32(e2[8:12]))
	}
}

// addGap records the gap between the partition tables and the first
// partition, where GRUB's core image and other boot code live.
func (t *Table) addGap() {
	if t.Type == TypeNone || len(t.Partitions) == 0 {
		return
	}
	start := int64(t.SectorSize)
	if t.gpt != nil {
		start = (int64(t.gpt.hdr.EntriesLBA) + int64(t.gpt.hdr.arraySectors(t.SectorSize))) * int64(t.SectorSize)
	}
	first := int64(-1)
	for _, p := range t.Partitions {
		if p.Logical {
			continue
		}
		if first < 0 || p.Start < first {
			first = p.Start
		}
	}
	if first > start {
		t.Areas = append(t.Areas, Area{AreaGap, start, first - start})
	}
}

// guidString formats a GPT GUID (mixed-endian on disk) in canonical form.
func guidString(b []byte) string { return GUIDString(b) }

// GUIDString formats a GUID stored as GPT and UEFI store them (the first
// three fields little-endian) in canonical upper-case form.
func GUIDString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le.Uint32(b[0:4]), le.Uint16(b[4:6]), le.Uint16(b[6:8]), b[8:10], b[10:16])
}

// GUIDBytes is the stored form of a canonical GUID (GUIDString's inverse).
func GUIDBytes(s string) ([16]byte, error) {
	var out [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 {
		return out, fmt.Errorf("GUID %q: not in the form 8-4-4-4-12", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return out, fmt.Errorf("GUID %q: %w", s, err)
	}
	copy(out[:], raw)
	le, be := binary.LittleEndian, binary.BigEndian
	le.PutUint32(out[0:4], be.Uint32(raw[0:4]))
	le.PutUint16(out[4:6], be.Uint16(raw[4:6]))
	le.PutUint16(out[6:8], be.Uint16(raw[6:8]))
	return out, nil
}

// overlay is a read-only view of a disk with some byte ranges replaced. It
// satisfies go-diskfs's backend.File.
type overlay struct {
	r       io.ReaderAt
	size    int64
	patches []Patch
	pos     int64
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if off+int64(n) > o.size {
		n = int(o.size - off)
		err = io.EOF
	}
	if m, rerr := o.r.ReadAt(p[:n], off); m < n {
		if rerr == nil || errors.Is(rerr, io.EOF) {
			rerr = io.ErrUnexpectedEOF
		}
		return m, rerr
	}
	ApplyPatches(p[:n], off, o.patches)
	return n, err
}

func (o *overlay) Read(p []byte) (int, error) {
	n, err := o.ReadAt(p, o.pos)
	o.pos += int64(n)
	return n, err
}

func (o *overlay) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += o.pos
	case io.SeekEnd:
		off += o.size
	}
	if off < 0 {
		return 0, fmt.Errorf("seek to negative offset %d", off)
	}
	o.pos = off
	return off, nil
}

func (o *overlay) Close() error               { return nil }
func (o *overlay) Stat() (fs.FileInfo, error) { return overlayInfo{o.size}, nil }

type overlayInfo struct{ size int64 }

func (i overlayInfo) Name() string       { return "disk" }
func (i overlayInfo) Size() int64        { return i.size }
func (i overlayInfo) Mode() fs.FileMode  { return 0o444 }
func (i overlayInfo) ModTime() time.Time { return time.Time{} }
func (i overlayInfo) IsDir() bool        { return false }
func (i overlayInfo) Sys() any           { return nil }
