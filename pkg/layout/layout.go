package layout

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// Kind is a way of laying an image out on a target.
type Kind string

// The layouts, in the order Compute tries them.
const (
	Keep  Kind = "keep"
	Grow  Kind = "grow"
	Scale Kind = "scale"
	Fit   Kind = "fit"
)

// Kinds lists the layouts in the order they are tried.
var Kinds = []Kind{Keep, Grow, Scale, Fit}

// ParseKind checks a layout name ("" is every layout, in order).
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	if s == "" || s == "auto" {
		return "", nil
	}
	return "", fmt.Errorf("layout %q: use keep, grow, scale or fit", s)
}

// Target is the disk an image is restored onto.
type Target struct {
	Size       int64
	SectorSize int
}

// Options choose a layout.
type Options struct {
	Kind Kind // "": the first of Kinds that works
	// Grow is the partition number the grow layout enlarges (0: the last
	// partition on the disk).
	Grow int
	// NewIdentity gives the target a new disk GUID or MBR signature, new
	// partition GUIDs and new file-system UUIDs (for deploying one image
	// to many machines); the table is then written anew.
	NewIdentity bool
}

// Segment is a byte range of the image's disk and where it goes on the
// target.
type Segment struct {
	Src, Dst, Len int64
	// Spill, when set, is the partition number whose spill store (see
	// Spill) Dst counts in, rather than the target.
	Spill int
}

// Part is one partition as the plan lays it out.
type Part struct {
	ptable.Partition                  // on the target
	Src              ptable.Partition // on the image's disk
	// GrowFS is set when the file system is to be grown to the new size
	// after the data is written; Note says what happens to it either way.
	GrowFS bool
	// ShrinkFS is set when the file system is to be shrunk into its
	// smaller partition after the data is written (the fit layout).
	ShrinkFS bool
	Note     string
}

// Plan is how an image lands on a target. Nothing in it is written until
// a restore carries it out.
type Plan struct {
	Kind   Kind
	Source Target // the image's disk
	Target Target
	// Table is the partition table the target gets; Rewritten says it is
	// written anew (through ptable.Write) rather than copied.
	Table     *ptable.Table
	Rewritten bool
	Parts     []Part
	// Segments say which bytes of the image go where; image bytes outside
	// them are not written. Patches are written over the target after
	// the data (the partition table), Wipe ranges are zeroed before it.
	Segments []Segment
	Patches  []ptable.Patch
	Wipe     []Segment
	// Changes say what the target gets that is not a copy of the image;
	// Skipped why the layouts before Kind were not taken.
	Changes []string
	Skipped []string
	// IDs are the identifiers a restore with new identities replaces.
	IDs []IDChange
	// Spill lists the scratch stores that hold the ends of file systems
	// to be shrunk (the fit layout), one per such partition.
	Spill []Spill
}

// Shrunk lists the partitions whose file systems are to be shrunk.
func (p *Plan) Shrunk() []Part {
	var out []Part
	for _, pt := range p.Parts {
		if pt.ShrinkFS {
			out = append(out, pt)
		}
	}
	return out
}

// Scratch is the scratch space, in bytes of data, the plan's spill
// stores need.
func (p *Plan) Scratch() int64 {
	var n int64
	for _, s := range p.Spill {
		n += s.Used
	}
	return n
}

// Identity reports whether the plan writes every image byte at its own
// offset (the keep layout).
func (p *Plan) Identity() bool {
	return len(p.Segments) == 1 && p.Segments[0].Src == 0 && p.Segments[0].Dst == 0
}

// Grown lists the partitions whose file systems are to be grown.
func (p *Plan) Grown() []Part {
	var out []Part
	for _, pt := range p.Parts {
		if pt.GrowFS {
			out = append(out, pt)
		}
	}
	return out
}

// TooSmallError is returned when no layout puts the image on the target.
type TooSmallError struct {
	// Need is the smallest target that works: for the keep layout, or
	// with every file system shrunk as far as it can be (Shrunk).
	Need, Have int64
	// Data is what the partitions' file systems hold (about).
	Data   int64
	Shrunk bool
	// Kept says which partitions cannot shrink, and why (Shrunk).
	Kept []string
}

func (e *TooSmallError) Error() string {
	if e.Shrunk {
		msg := fmt.Sprintf("target is %s; with every file system that can shrink made as small as it can be, the image's partitions need %s: %s short",
			units.Exact(e.Have), units.Exact(e.Need), units.Exact(e.Need-e.Have))
		if len(e.Kept) > 0 {
			msg += "; they keep their size: " + strings.Join(e.Kept, "; ")
		}
		return msg
	}
	msg := fmt.Sprintf("target is %s, the image's partitions need %s: %s short", units.Exact(e.Have), units.Exact(e.Need), units.Exact(e.Need-e.Have))
	if e.Data > 0 {
		if e.Data > e.Have {
			msg += fmt.Sprintf("; even the data in them (about %s) does not fit", units.Bytes(e.Data))
		} else {
			msg += fmt.Sprintf("; their data (about %s) may fit: the fit layout shrinks file systems to put them on a smaller disk", units.Bytes(e.Data))
		}
	}
	return msg
}

// ErrSectorSize is returned when a file system of the image cannot live on
// the target's logical sector size; the error says which and why.
var ErrSectorSize = errors.New("logical sector sizes differ")

// notThis says a layout does not apply; Compute goes on to the next.
type notThis struct{ why string }

func (e *notThis) Error() string { return e.why }

func notApplicable(format string, args ...any) error {
	return &notThis{fmt.Sprintf(format, args...)}
}

// MiB is the alignment of partitions a layout places.
const MiB = 1 << 20

// Compute plans the restore of an image (its manifest m and its partition
// table as read from the image, tbl) onto t.
func Compute(m *image.Manifest, tbl *ptable.Table, img io.ReaderAt, t Target, o Options) (*Plan, error) {
	src, err := newSource(m, tbl, img)
	if err != nil {
		return nil, err
	}
	kinds := Kinds
	if o.Kind != "" {
		if _, err := ParseKind(string(o.Kind)); err != nil {
			return nil, err
		}
		kinds = []Kind{o.Kind}
	}
	var skipped []string
	var first error
	for _, k := range kinds {
		p, err := src.plan(k, t, o)
		if err == nil {
			p.Skipped = skipped
			p.Patches = mergePatches(p.Patches)
			return p, nil
		}
		if len(kinds) == 1 {
			return nil, err
		}
		var nt *notThis
		var ts *TooSmallError
		if first == nil || (errors.As(first, &nt) && !errors.As(err, &nt)) || (errors.As(err, &ts) && ts.Shrunk) {
			first = err
		}
		skipped = append(skipped, fmt.Sprintf("%s: %v", k, err))
	}
	return nil, first
}

// source is what the planner knows of the image.
type source struct {
	m     *image.Manifest
	tbl   *ptable.Table
	img   io.ReaderAt // the image's disk
	lss   int
	size  int64
	parts []ptable.Partition // sorted by start, with file-system facts
	data  int64              // the end of the last used byte, outside the backup GPT
}

func newSource(m *image.Manifest, tbl *ptable.Table, img io.ReaderAt) (*source, error) {
	if tbl == nil {
		tbl = m.Table
	}
	if tbl == nil {
		return nil, errors.New("plan restore: the image has no partition table record")
	}
	s := &source{m: m, tbl: tbl, img: img, lss: m.Disk.LogicalSectorSize, size: m.Disk.Size}
	facts := map[int]ptable.Partition{}
	if m.Table != nil {
		for _, p := range m.Table.Partitions {
			facts[p.Number] = p
		}
	}
	for _, p := range tbl.Partitions {
		if f, ok := facts[p.Number]; ok && f.Start == p.Start {
			p.FileSystem, p.FSVersion, p.FSLabel, p.Capture, p.UsedBytes = f.FileSystem, f.FSVersion, f.FSLabel, f.Capture, f.UsedBytes
		}
		s.parts = append(s.parts, p)
	}
	sort.Slice(s.parts, func(a, b int) bool { return s.parts[a].Start < s.parts[b].Start })
	limit := s.size
	for _, a := range tbl.Areas {
		if a.Name == ptable.AreaGPTBackupEnts || a.Name == ptable.AreaGPTBackup {
			limit = min(limit, a.Offset)
		}
	}
	s.data = lastUsed(m, limit)
	return s, nil
}

// lastUsed is the end of the last byte before limit that the image holds
// data for (0 when none).
func lastUsed(m *image.Manifest, limit int64) int64 {
	for i := len(m.Extents) - 1; i >= 0; i-- {
		e := m.Extents[i]
		if e.Hole {
			continue
		}
		off, n := m.ExtentRange(i)
		runs := e.Used
		if runs == nil {
			runs = []image.Run{{Off: 0, Len: n}}
		}
		for k := len(runs) - 1; k >= 0; k-- {
			lo, hi := off+runs[k].Off, min(off+runs[k].Off+runs[k].Len, limit)
			if hi > lo {
				return hi
			}
		}
	}
	return 0
}

// partsEnd is the end of the last partition.
func (s *source) partsEnd() int64 {
	var end int64
	for _, p := range s.parts {
		end = max(end, p.Start+p.Size)
	}
	return end
}

// keepNeed is the smallest target the keep layout works on: the
// partitions and the backup GPT (data outside the partitions past that is
// left behind, and the plan says so).
func (s *source) keepNeed() int64 {
	if s.tbl.Type == ptable.TypeNone || len(s.parts) == 0 {
		return max(s.data, 1)
	}
	return s.partsEnd() + s.tbl.BackupReserve()
}

// dataEstimate is about what a fit layout would need: the head, and each
// partition's used bytes with some room (its whole size when its file
// system is not known).
func (s *source) dataEstimate() int64 {
	var first int64 = -1
	var total int64
	for _, p := range s.parts {
		if p.Extended {
			continue
		}
		if first < 0 || p.Start < first {
			first = p.Start
		}
		switch {
		case p.UsedBytes > 0 && p.FileSystem != "" && p.FileSystem != "swap":
			total += alignUp(p.UsedBytes+p.UsedBytes/20+8*MiB, MiB)
		case p.FileSystem == "swap":
			total += MiB
		default:
			total += alignUp(p.Size, MiB)
		}
	}
	return max(first, 0) + total + s.tbl.BackupReserve()
}

func (s *source) plan(k Kind, t Target, o Options) (*Plan, error) {
	conv := t.SectorSize != s.lss && s.tbl.Type != ptable.TypeNone
	if o.NewIdentity && (s.tbl.Type == ptable.TypeNone || len(s.parts) == 0) {
		return nil, errors.New("a new identity needs a partition table: the image has none")
	}
	switch k {
	case Keep:
		if conv || o.NewIdentity {
			// Same places, a table counted in the target's sectors.
			return s.rewrite(Keep, t, o)
		}
		return s.keep(t)
	case Grow, Scale:
		if s.tbl.Type == ptable.TypeNone || len(s.parts) == 0 {
			return nil, notApplicable("the image has no partitions to %s", k)
		}
		return s.rewrite(k, t, o)
	case Fit:
		if p, err := s.plan(Keep, t, o); err == nil {
			p.Kind = Fit
			p.Changes = append(p.Changes, "nothing needed shrinking: the partitions fit where they are")
			return p, nil
		} else if s.tbl.Type == ptable.TypeNone || len(s.parts) == 0 {
			return nil, err
		}
		return s.rewrite(Fit, t, o)
	}
	return nil, fmt.Errorf("layout %q: use keep, grow, scale or fit", k)
}

func (s *source) keep(t Target) (*Plan, error) {
	need := s.keepNeed()
	if t.Size < need {
		return nil, &TooSmallError{Need: need, Have: t.Size, Data: s.dataEstimate()}
	}
	p := &Plan{Kind: Keep, Source: Target{s.size, s.lss}, Target: t, Table: s.tbl,
		Segments: []Segment{{Src: 0, Dst: 0, Len: min(s.size, t.Size)}}}
	for _, sp := range s.parts {
		p.Parts = append(p.Parts, Part{Partition: sp, Src: sp, Note: "as captured"})
	}
	if s.tbl.Type == ptable.TypeGPT {
		var err error
		p.Patches, err = s.tbl.RelocateGPT(s.size, t.Size)
		if err != nil {
			return nil, err
		}
		if len(p.Patches) > 0 {
			last := t.Size/int64(s.lss) - 1
			where := "larger"
			if t.Size < s.size {
				where = "smaller"
			}
			p.Changes = append(p.Changes, fmt.Sprintf("the backup GPT goes to the end of the %s target (LBA %d), the primary GPT header and protective MBR updated to match", where, last))
		}
	}
	if room := t.Size - s.tbl.BackupReserve(); s.data > room {
		p.Changes = append(p.Changes, fmt.Sprintf("the image's %s of data from %s on (bytes %d-%d), after the last partition, do not fit on the smaller target and are not written", units.Bytes(s.data-room), units.Bytes(room), room, s.data-1))
	} else if t.Size < s.size {
		p.Changes = append(p.Changes, fmt.Sprintf("the image's last %s hold no data and are not written (the target is smaller)", units.Bytes(s.size-t.Size)))
	}
	return p, nil
}

// placed is a partition's new position.
type placed struct{ start, size, ebr int64 }

// rewrite plans the grow and scale layouts: partitions placed anew and
// the table written anew.
func (s *source) rewrite(k Kind, t Target, o Options) (*Plan, error) {
	tl := int64(t.SectorSize)
	conv := t.SectorSize != s.lss
	var usable int64
	switch s.tbl.Type {
	case ptable.TypeGPT:
		usable = t.Size - ptable.GPTReserve(t.SectorSize)
	default:
		usable = min(t.Size, ptable.MBRLimit(t.SectorSize))
	}
	end := alignDown(usable, MiB) // where the last partition may end
	srcEnd := s.partsEnd()
	if end < srcEnd && srcEnd <= usable {
		end = srcEnd // a disk of the same size: the last partition stays as it ends
	}
	if end < srcEnd && k != Fit && !(k == Keep && alignDown(srcEnd, tl) <= usable) {
		return nil, notApplicable("the target is smaller than the image's partitions (they end at %s, the target's usable space at %s)", units.Bytes(srcEnd), units.Bytes(end))
	}
	first := int64(-1)
	for _, p := range s.parts {
		if !p.Logical && (first < 0 || p.Start < first) {
			first = p.Start
		}
	}
	if s.tbl.Type == ptable.TypeGPT && first < ptable.GPTFirstUsable(t.SectorSize) {
		return nil, notApplicable("the first partition starts at byte %d, inside the GPT Lifeboat writes", first)
	}
	var pos map[int]placed
	var shr map[int]shrinker
	var err error
	switch k {
	case Fit:
		pos, shr, err = s.fitPositions(first, end, t)
	case Keep:
		pos = map[int]placed{}
		for _, p := range s.parts {
			if p.Start%tl != 0 || (p.Logical && p.EBR%tl != 0) {
				return nil, notApplicable("partition %d starts at byte %d, not on a %d-byte sector: it cannot stay where it was", p.Number, p.Start, tl)
			}
			pos[p.Number] = placed{p.Start, alignDown(p.Size, tl), p.EBR}
		}
	case Grow:
		pos, err = s.growPositions(end, o.Grow)
	default:
		pos, err = s.scalePositions(first, srcEnd, end)
	}
	if err != nil {
		return nil, err
	}
	tbl := &ptable.Table{Type: s.tbl.Type, SectorSize: t.SectorSize, DiskID: s.tbl.DiskID}
	p := &Plan{Kind: k, Source: Target{s.size, s.lss}, Target: t, Table: tbl, Rewritten: true}
	p.Segments = append(p.Segments, Segment{Src: 0, Dst: 0, Len: first})
	if conv && s.tbl.Type == ptable.TypeGPT && tl > 512 {
		// LBA 0 is larger now: the rest of it (the old GPT header and
		// entries) is cleared.
		p.Patches = append(p.Patches, ptable.Patch{Offset: 512, Data: make([]byte, tl-512)})
	}
	for _, sp := range s.parts {
		np := sp
		n := pos[sp.Number]
		np.Start, np.Size, np.EBR = n.start, alignUp(n.size, tl), n.ebr
		if np.Start%tl != 0 || np.EBR%tl != 0 {
			return nil, fmt.Errorf("plan %s: partition %d placed at byte %d, not on a %d-byte sector", k, sp.Number, np.Start, tl)
		}
		tbl.Partitions = append(tbl.Partitions, np)
		part := Part{Partition: np, Src: sp}
		switch {
		case sp.Extended:
			part.Note = "extended partition (container)"
		case sp.FileSystem == "vfat":
			if err := s.placeFAT(p, &part, tl, shr[sp.Number]); err != nil {
				return nil, err
			}
		case sp.FileSystem == "exfat" && !conv:
			s.placeExfat(p, &part, shr[sp.Number])
		default:
			if conv {
				if err := sectorFit(s.img, sp, tl); err != nil {
					return nil, fmt.Errorf("%w: partition %d (%s) cannot live on %d-byte sectors: %v", ErrSectorSize, sp.Number, dash(sp.FileSystem), tl, err)
				}
			}
			if np.Size < sp.Size && shr[sp.Number].how != "" {
				s.shrink(p, &part, shr[sp.Number])
			} else {
				p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: min(sp.Size, np.Size)})
				part.GrowFS, part.Note = growNote(sp, np)
			}
			if conv {
				if sp.FileSystem == "" || sp.FileSystem == "swap" {
					part.Note += fmt.Sprintf("; whether its contents work with %d-byte sectors is not checked", tl)
				} else {
					part.Note += fmt.Sprintf("; works with %d-byte sectors", tl)
				}
			}
			if sp.FileSystem == "ntfs" && np.Start != sp.Start {
				ps, err := ntfsHidden(s.img, sp.Start, sp.Size, np.Start)
				if err != nil {
					return nil, err
				}
				p.Patches = append(p.Patches, ps...)
			}
		}
		if sh, ok := shr[sp.Number]; ok && !part.ShrinkFS && sh.how == "" && !sp.Extended {
			part.Note += "; not shrunk: " + sh.why
		}
		p.Parts = append(p.Parts, part)
	}
	if o.NewIdentity {
		if err := s.newIdentity(p); err != nil {
			return nil, err
		}
	}
	p.Patches = dropPastShrunk(p)
	tp, err := tbl.Write(t.Size)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", k, err)
	}
	p.Patches = append(p.Patches, tp...)
	kept := "partition numbers, types, GUIDs, names and attributes"
	switch {
	case tbl.Type == ptable.TypeMBR && o.NewIdentity:
		kept = "partition numbers, types and boot flags"
	case tbl.Type == ptable.TypeMBR:
		kept = "partition numbers, types, boot flags and the disk signature"
	case o.NewIdentity:
		kept = "partition numbers, types, names and attributes"
	}
	p.Changes = append(p.Changes, fmt.Sprintf("a new %s partition table for the %s layout (%s kept)", tbl.Type, k, kept))
	if conv {
		p.Changes = append(p.Changes, fmt.Sprintf("the table counts the target's %d-byte sectors; the image's disk had %d-byte sectors", tl, s.lss))
	}
	if s.tbl.Type != ptable.TypeGPT {
		// An MBR target must not keep a GPT from before at its end.
		tail := 33 * tl
		if t.Size-tail >= end {
			p.Wipe = append(p.Wipe, Segment{Dst: t.Size - tail, Len: tail})
		}
	}
	return p, nil
}

// dropPastShrunk leaves out the boot-sector patches that fall past the
// new end of a file system to be shrunk (an NTFS backup boot sector at its
// old end: ntfsresize writes the new one from the primary), which would
// otherwise land on whatever follows the partition.
func dropPastShrunk(p *Plan) []ptable.Patch {
	var out []ptable.Patch
	for _, pa := range p.Patches {
		end := pa.Offset + int64(len(pa.Data))
		past, other := false, false
		for _, pt := range p.Parts {
			if pt.ShrinkFS && end > pt.Start+pt.Size && pa.Offset < pt.Start+pt.Src.Size {
				past = true
			}
			if !pt.Extended && pa.Offset >= pt.Start && end <= pt.Start+pt.Size {
				other = true // inside a partition as placed: its own
			}
		}
		if !past || other {
			out = append(out, pa)
		}
	}
	return out
}

// placeFAT lays a FAT volume into its new partition: grown there when the
// partition is larger (its FATs grow, the clusters follow unchanged), and
// its boot sector's record of the partition's start updated when it moved.
func (s *source) placeFAT(p *Plan, part *Part, tl int64, sh shrinker) error {
	sp, np := part.Src, part.Partition
	moved := ""
	if np.Start != sp.Start {
		moved = fmt.Sprintf("moved from %s; ", units.Bytes(sp.Start))
	}
	b := make([]byte, 4096)
	if _, err := s.img.ReadAt(b, sp.Start); err != nil {
		return fmt.Errorf("read the FAT boot sector of partition %d at byte %d: %w", sp.Number, sp.Start, err)
	}
	g, err := parseFAT(b, sp.Size)
	if err != nil {
		if tl > int64(s.lss) {
			return fmt.Errorf("%w: partition %d (FAT) cannot be converted to %d-byte sectors: its boot sector: %v", ErrSectorSize, sp.Number, tl, err)
		}
		// Not a FAT we understand: copied as it is.
		p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: min(sp.Size, np.Size)})
		part.Note = fmt.Sprintf("%sFAT kept as captured (its boot sector: %v)", moved, err)
		return nil
	}
	name := fmt.Sprintf("FAT%d", g.Bits)
	if tl > g.BytesPerSec {
		ps, n, err := convertFAT(s.img, sp.Start, np.Start, g, tl)
		if err != nil {
			return fmt.Errorf("%w: partition %d (%s) cannot live on %d-byte sectors: %v; make it anew there (mkfs.vfat -S %d) and copy its files", ErrSectorSize, sp.Number, name, tl, err, tl)
		}
		p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: min(sp.Size, np.Size)})
		p.Patches = append(p.Patches, ps...)
		part.Note = fmt.Sprintf("%s%s converted to %d-byte sectors (its boot sector counts them anew; every cluster stays where it was)", moved, name, n.BytesPerSec)
		if np.Size > sp.Size {
			part.Note += fmt.Sprintf("; kept at %s: growing while converting is not available", units.Bytes(g.Total*g.BytesPerSec))
		}
		return nil
	}
	if np.Size < sp.Size && sh.how != "" {
		// The fit layout: restored at its size (its end in a spill
		// store), then shrunk.
		s.shrink(p, part, sh)
		gr := fatGrowth{old: g, new: g}
		if moved != "" {
			ps, err := gr.fatPatches(s.img, sp.Start, np.Start)
			if err != nil {
				return err
			}
			p.Patches = append(p.Patches, ps...)
		}
		return nil
	}
	gr, ok := fatGrowth{old: g, new: g}, false
	if np.Size > sp.Size {
		gr, ok = growFAT(g, np.Size)
		if !ok {
			gr = fatGrowth{old: g, new: g}
		}
	}
	if !ok {
		gr.segs = []Segment{{Src: 0, Dst: 0, Len: min(sp.Size, np.Size)}}
	}
	for _, sg := range gr.segs {
		p.Segments = append(p.Segments, Segment{Src: sp.Start + sg.Src, Dst: np.Start + sg.Dst, Len: sg.Len})
	}
	for _, w := range gr.wipe {
		p.Wipe = append(p.Wipe, Segment{Dst: np.Start + w.Dst, Len: w.Len})
	}
	if ok || moved != "" {
		ps, err := gr.fatPatches(s.img, sp.Start, np.Start)
		if err != nil {
			return err
		}
		p.Patches = append(p.Patches, ps...)
	}
	switch {
	case ok:
		part.Note = fmt.Sprintf("%s%s grown from %s to %s while restored (its FATs grow; files stay where they are)", moved, name, units.Bytes(g.Total*g.BytesPerSec), units.Bytes(gr.new.Total*g.BytesPerSec))
	case np.Size > sp.Size:
		part.Note = fmt.Sprintf("%s%s kept at %s (at %s's cluster limit); the rest of the partition is unused", moved, name, units.Bytes(g.Total*g.BytesPerSec), name)
	default:
		part.Note = moved + name + " as captured"
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "no file system recognised"
	}
	return s
}

// growNote says what happens to a partition's file system.
func growNote(src, dst ptable.Partition) (bool, string) {
	fs := src.FileSystem
	name := fs
	if name == "" {
		name = "contents"
	}
	moved := ""
	if dst.Start != src.Start {
		moved = fmt.Sprintf("moved from %s; ", units.Bytes(src.Start))
	}
	if dst.Size == src.Size {
		return false, moved + name + " as captured"
	}
	how, why := fsresize.Growable(fs)
	if why != "" {
		return false, fmt.Sprintf("%s%s kept at %s (%s); the rest of the partition is unused", moved, name, units.Bytes(src.Size), why)
	}
	return true, fmt.Sprintf("%s%s grown to fill the %s partition (%s)", moved, name, units.Bytes(dst.Size), how)
}

// growPositions keeps every partition where it is but the chosen one,
// which grows to the end of the disk or up to the partitions after it,
// which move to the end of the disk.
func (s *source) growPositions(end int64, number int) (map[int]placed, error) {
	var c *ptable.Partition
	for i := range s.parts {
		p := &s.parts[i]
		if number != 0 && p.Number == number {
			c = p
		}
		if number == 0 && !p.Extended && (c == nil || p.Start+p.Size >= c.Start+c.Size) {
			c = p
		}
	}
	if c == nil {
		return nil, fmt.Errorf("grow: the image has no partition %d", number)
	}
	if c.Extended {
		return nil, fmt.Errorf("grow: partition %d is the extended container; choose a partition inside it", c.Number)
	}
	unit := *c // the top-level partition that grows
	if c.Logical {
		for _, p := range s.parts {
			if p.Logical && p.Start > c.Start {
				return nil, fmt.Errorf("grow: logical partition %d is not the last in the extended partition (%d follows it)", c.Number, p.Number)
			}
			if p.Extended {
				unit = p
			}
		}
	}
	srcEnd := s.partsEnd()
	shift := alignDown(end-srcEnd, MiB)
	pos := map[int]placed{}
	after := false
	for _, p := range s.parts {
		n := placed{p.Start, p.Size, p.EBR}
		inUnit := p.Number == unit.Number || (c.Logical && p.Logical)
		if !inUnit && p.Start > unit.Start {
			n.start += shift
			if n.ebr != 0 {
				n.ebr += shift
			}
			after = true
		}
		pos[p.Number] = n
	}
	newEnd := end
	if after {
		newEnd = unit.Start + unit.Size + shift
	}
	u := pos[unit.Number]
	u.size = newEnd - u.start
	pos[unit.Number] = u
	if c.Logical {
		cp := pos[c.Number]
		cp.size = newEnd - cp.start
		pos[c.Number] = cp
	}
	return pos, nil
}

// scalePositions moves and sizes every partition in proportion, keeping
// the first partition's start, aligning to MiB, and never making a
// partition smaller than it was.
func (s *source) scalePositions(first, srcEnd, end int64) (map[int]placed, error) {
	f := 1.0
	if srcEnd > first {
		f = float64(end-first) / float64(srcEnd-first)
	}
	scale := func(x int64) int64 { return first + int64(math.Floor(float64(x-first)*f)) }
	round := func(x int64) int64 { return alignDown(scale(x)+MiB/2, MiB) }
	lastTop, lastLogical := -1, -1
	var ext ptable.Partition
	for _, p := range s.parts {
		if p.Logical {
			if lastLogical < 0 || p.Start > s.part(lastLogical).Start {
				lastLogical = p.Number
			}
			continue
		}
		if p.Extended {
			ext = p
		}
		if lastTop < 0 || p.Start+p.Size > s.part(lastTop).Start+s.part(lastTop).Size {
			lastTop = p.Number
		}
	}
	pos := map[int]placed{}
	// Starts first; a partition that touched the next one still does.
	starts := map[int]int64{}
	var top, logical []ptable.Partition
	for _, p := range s.parts {
		if p.Logical {
			logical = append(logical, p)
			continue
		}
		top = append(top, p)
		starts[p.Number] = p.Start
		if p.Start != first {
			starts[p.Number] = max(round(p.Start), p.Start)
		}
	}
	end1 := func(p ptable.Partition, list []ptable.Partition, k int, startOf func(ptable.Partition) (int64, int64)) int64 {
		if k+1 < len(list) {
			if src, dst := startOf(list[k+1]); src == p.Start+p.Size {
				return dst
			}
		}
		return alignDown(scale(p.Start+p.Size), MiB)
	}
	// In disk order, each partition starts no earlier than the one before
	// it ends (a start rounded up, or a partition kept at its size, can
	// push the next one along).
	prev := int64(0)
	for k, p := range top {
		st := starts[p.Number]
		if st < prev {
			st = alignUp(prev, MiB)
		}
		e := end1(p, top, k, func(q ptable.Partition) (int64, int64) { return q.Start, starts[q.Number] })
		if p.Number == lastTop {
			e = end
		}
		pos[p.Number] = placed{start: st, size: max(e-st, p.Size)}
		prev = st + pos[p.Number].size
	}
	if prev > end {
		return nil, notApplicable("the partitions, kept at least their size and aligned, end at %s, past the target's usable end at %s", units.Bytes(prev), units.Bytes(end))
	}
	if ext.Number != 0 {
		x := pos[ext.Number]
		ebrs := map[int]int64{}
		for _, p := range logical {
			ebrs[p.Number] = x.start
			if p.EBR != ext.Start {
				ebrs[p.Number] = max(round(p.EBR), p.EBR)
			}
		}
		prev := x.start
		for k, p := range logical {
			gap := p.Start - p.EBR
			if p.EBR == 0 || gap <= 0 {
				gap = MiB
			}
			ebr := ebrs[p.Number]
			if ebr < prev {
				ebr = alignUp(prev, MiB)
			}
			st := ebr + gap
			e := end1(p, logical, k, func(q ptable.Partition) (int64, int64) { return q.EBR, ebrs[q.Number] })
			if p.Number == lastLogical {
				e = x.start + x.size
			}
			pos[p.Number] = placed{start: st, size: max(e-st, p.Size), ebr: ebr}
			prev = st + pos[p.Number].size
		}
		if prev > x.start+x.size {
			return nil, notApplicable("the logical partitions, kept at least their size, end at %s, past their extended partition's end at %s", units.Bytes(prev), units.Bytes(x.start+x.size))
		}
	}
	return pos, nil
}

func (s *source) part(n int) ptable.Partition {
	for _, p := range s.parts {
		if p.Number == n {
			return p
		}
	}
	return ptable.Partition{}
}

func alignDown(x, a int64) int64 { return x / a * a }
func alignUp(x, a int64) int64   { return (x + a - 1) / a * a }
