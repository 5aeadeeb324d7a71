package layout

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// IDChange is one identifier a restore with new identities replaces.
type IDChange struct {
	Partition int    // 0: the disk
	What      string // "disk GUID", "MBR disk signature", "partition GUID", "ext4 UUID", "FAT volume ID"...
	Old, New  string // as blkid and configuration files write them
	// Tool is set when the change is made after the restore by that
	// tool (tune2fs); otherwise the restore writes it.
	Tool string
	// Forms are the spellings of the identifier that configuration files
	// use, old → new (upper and lower case; "1a2b3c4d-02" for an MBR
	// partition).
	Forms map[string]string
}

// newIdentity gives the plan's table a new disk GUID or MBR signature and
// new partition GUIDs, and each file system a new UUID where Lifeboat can
// set one: written by the restore for FAT, exFAT, NTFS and swap (their
// serials are a few bytes of their first sector), set after it with
// tune2fs for ext2/3/4. Other file systems keep theirs, and the plan says
// so.
func (s *source) newIdentity(p *Plan) error {
	lss := int64(p.Target.SectorSize)
	t := p.Table
	switch t.Type {
	case ptable.TypeGPT:
		old := t.DiskID
		t.DiskID = newGUID()
		p.IDs = append(p.IDs, IDChange{What: "disk GUID", Old: old, New: t.DiskID})
		for i := range t.Partitions {
			tp := &t.Partitions[i]
			old := tp.GUID
			tp.GUID = newGUID()
			p.IDs = append(p.IDs, IDChange{Partition: tp.Number, What: "partition GUID", Old: old, New: tp.GUID,
				Forms: caseForms(map[string]string{old: tp.GUID})})
		}
	case ptable.TypeMBR:
		b := make([]byte, 4)
		rand.Read(b)
		old := t.DiskID
		t.DiskID = fmt.Sprintf("%08x", binary.LittleEndian.Uint32(b))
		p.Patches = append(p.Patches, ptable.Patch{Offset: 440, Data: b})
		forms := map[string]string{}
		for _, tp := range t.Partitions {
			if !tp.Extended {
				forms[fmt.Sprintf("%s-%02d", old, tp.Number)] = fmt.Sprintf("%s-%02d", t.DiskID, tp.Number)
			}
		}
		p.IDs = append(p.IDs, IDChange{What: "MBR disk signature", Old: old, New: t.DiskID, Forms: caseForms(forms)})
	}
	for i := range p.Parts {
		pt := &p.Parts[i]
		for _, tp := range t.Partitions {
			if tp.Number == pt.Number {
				pt.GUID = tp.GUID
			}
		}
		ch, patches, err := fsIdentity(s.img, pt.Src, pt.Partition, lss, p.Patches)
		if err != nil {
			return fmt.Errorf("new identity for partition %d: %w", pt.Number, err)
		}
		if ch == nil {
			if pt.Src.FileSystem != "" && !pt.Extended {
				pt.Note += fmt.Sprintf("; its %s UUID stays (Lifeboat does not change it)", pt.Src.FileSystem)
			}
			continue
		}
		ch.Partition = pt.Number
		p.IDs = append(p.IDs, *ch)
		p.Patches = append(p.Patches, patches...)
	}
	p.Changes = append(p.Changes, fmt.Sprintf("new identity: %d identifiers replaced, and references to them rewritten after the restore (fstab, crypttab, GRUB and systemd-boot configuration)", len(p.IDs)))
	return nil
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0F | 0x40 // version 4
	b[8] = b[8]&0x3F | 0x80 // RFC 4122 variant
	return strings.ToUpper(fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// caseForms adds the lower- and upper-case spellings of each form (blkid
// and most files write GUIDs in lower case, FAT serials in upper case).
func caseForms(m map[string]string) map[string]string {
	out := map[string]string{}
	for o, n := range m {
		out[o] = n
		out[strings.ToLower(o)] = strings.ToLower(n)
		out[strings.ToUpper(o)] = strings.ToUpper(n)
	}
	return out
}

// uuidForms are the spellings of a file system's UUID.
func uuidForms(old, new string) map[string]string {
	return caseForms(map[string]string{old: new})
}

// fsIdentity plans a new UUID for the file system of partition p (np on
// the target): the change, and the writes that make it (none when a tool
// makes it after the restore). A nil change: not changed.
func fsIdentity(r io.ReaderAt, p, np ptable.Partition, lss int64, over []ptable.Patch) (*IDChange, []ptable.Patch, error) {
	le := binary.LittleEndian
	dst := np.Start
	// read reads a header as the target will have it: the image's bytes
	// with the plan's patches so far (a grown volume's boot region).
	read := func(off int64, n int) ([]byte, error) {
		b := make([]byte, n)
		if off+int64(n) > p.Size {
			return nil, fmt.Errorf("partition of %d bytes too small for its %s header", p.Size, p.FileSystem)
		}
		if _, err := r.ReadAt(b, p.Start+off); err != nil {
			return nil, fmt.Errorf("read %s header at byte %d: %w", p.FileSystem, p.Start+off, err)
		}
		ptable.ApplyPatches(b, dst+off, over)
		return b, nil
	}
	serial := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	switch p.FileSystem {
	case "ext2", "ext3", "ext4":
		sb, err := read(1024, 1024)
		if err != nil || le.Uint16(sb[56:58]) != 0xEF53 {
			return nil, nil, err
		}
		old := uuidString(sb[104:120])
		nw := strings.ToLower(newGUID())
		return &IDChange{What: p.FileSystem + " UUID", Old: old, New: nw, Tool: "tune2fs", Forms: uuidForms(old, nw)}, nil, nil
	case "swap":
		h, err := read(0, 4096)
		if err != nil || string(h[4086:4096]) != "SWAPSPACE2" {
			return nil, nil, err
		}
		old := uuidString(h[1036:1052])
		b := serial(16)
		b[6] = b[6]&0x0F | 0x40
		b[8] = b[8]&0x3F | 0x80
		nw := uuidString(b)
		return &IDChange{What: "swap UUID", Old: old, New: nw, Forms: uuidForms(old, nw)},
			[]ptable.Patch{{Offset: dst + 1036, Data: b}}, nil
	case "vfat":
		b, err := read(0, 4096)
		if err != nil {
			return nil, nil, err
		}
		g, err := parseFAT(b, max(p.Size, np.Size)) // as grown, when it is
		if err != nil {
			return nil, nil, nil
		}
		at := int64(39)
		if g.Bits == 32 {
			at = 67
		}
		if sig := b[at-1]; sig != 0x29 && sig != 0x28 {
			return nil, nil, nil // an old BPB without a serial number
		}
		old := fatSerial(b[at : at+4])
		nb := serial(4)
		nw := fatSerial(nb)
		patches := []ptable.Patch{{Offset: dst + at, Data: nb}}
		// The FAT32 backup boot sector: where convertFAT puts it when the
		// volume is converted to the target's larger sectors.
		backup := g.Backup * g.BytesPerSec
		if lss > g.BytesPerSec {
			backup = 0
			if g.Reserved/(lss/g.BytesPerSec) >= 4 {
				backup = 2 * lss
			}
		}
		if g.Bits == 32 && backup > 0 && backup < g.Reserved*g.BytesPerSec {
			patches = append(patches, ptable.Patch{Offset: dst + backup + at, Data: nb})
		}
		return &IDChange{What: "FAT volume ID", Old: old, New: nw, Forms: uuidForms(old, nw)}, patches, nil
	case "ntfs":
		b, err := read(0, 512)
		if err != nil || string(b[3:11]) != "NTFS    " {
			return nil, nil, err
		}
		old := fmt.Sprintf("%016X", le.Uint64(b[72:80]))
		nb := serial(8)
		nw := fmt.Sprintf("%016X", le.Uint64(nb))
		patches := []ptable.Patch{{Offset: dst + 72, Data: nb}}
		bps := int64(le.Uint16(b[11:13]))
		if backup := int64(le.Uint64(b[40:48])) * bps; bps >= 256 && backup > 0 && backup+512 <= p.Size {
			patches = append(patches, ptable.Patch{Offset: dst + backup + 72, Data: nb})
		}
		return &IDChange{What: "NTFS serial number", Old: old, New: nw, Forms: uuidForms(old, nw)}, patches, nil
	case "exfat":
		return exfatIdentity(read, dst)
	}
	return nil, nil, nil
}

// exfatIdentity gives an exFAT volume a new serial number: in the main and
// backup boot regions, with their checksum sectors recomputed.
func exfatIdentity(read func(int64, int) ([]byte, error), dst int64) (*IDChange, []ptable.Patch, error) {
	b, err := read(0, 512)
	if err != nil || string(b[3:11]) != "EXFAT   " {
		return nil, nil, err
	}
	shift := b[108]
	if shift < 9 || shift > 12 {
		return nil, nil, nil
	}
	bps := int64(1) << shift
	region, err := read(0, int(12*bps))
	if err != nil {
		return nil, nil, err
	}
	old := fatSerial(region[100:104])
	nb := make([]byte, 4)
	rand.Read(nb)
	copy(region[100:104], nb)
	exfat.Checksum(region, bps)
	nw := fatSerial(nb)
	return &IDChange{What: "exFAT serial number", Old: old, New: nw, Forms: uuidForms(old, nw)},
		[]ptable.Patch{{Offset: dst, Data: region}, {Offset: dst + 12*bps, Data: region}}, nil
}

// fatSerial is a FAT or exFAT serial as blkid shows it: ABCD-1234.
func fatSerial(b []byte) string {
	v := binary.LittleEndian.Uint32(b)
	return fmt.Sprintf("%04X-%04X", v>>16, v&0xFFFF)
}

// uuidString formats 16 bytes as a UUID in big-endian (RFC 4122) order, as
// ext and swap store them.
func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// mergePatches combines overlapping patches into one each, later patches
// written over earlier ones, so the order they are written in does not
// matter.
func mergePatches(ps []ptable.Patch) []ptable.Patch {
	if len(ps) < 2 {
		return ps
	}
	type span struct{ lo, hi int64 }
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]].Offset < ps[idx[b]].Offset })
	var groups [][]int
	var cur span
	for _, i := range idx {
		lo, hi := ps[i].Offset, ps[i].Offset+int64(len(ps[i].Data))
		if len(groups) > 0 && lo < cur.hi {
			groups[len(groups)-1] = append(groups[len(groups)-1], i)
			cur.hi = max(cur.hi, hi)
			continue
		}
		groups = append(groups, []int{i})
		cur = span{lo, hi}
	}
	var out []ptable.Patch
	for _, g := range groups {
		sort.Ints(g) // the order they were made in
		lo, hi := ps[g[0]].Offset, int64(0)
		for _, i := range g {
			lo = min(lo, ps[i].Offset)
			hi = max(hi, ps[i].Offset+int64(len(ps[i].Data)))
		}
		buf := make([]byte, hi-lo)
		for _, i := range g {
			copy(buf[ps[i].Offset-lo:], ps[i].Data)
		}
		out = append(out, ptable.Patch{Offset: lo, Data: buf})
	}
	return out
}
