package layout

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// Spill is where the part of a file system past its new, smaller
// partition is kept while the image is restored: a scratch store of Len
// bytes (Used of them data) that, after the partition, makes up the
// file system's old size until it is shrunk into the partition.
type Spill struct {
	Part      int
	Len, Used int64
}

// shrinker is how a file system is shrunk, or why it cannot be.
type shrinker struct {
	min  int64  // the smallest size it can be shrunk to
	how  string // "" when it cannot
	why  string
	fat  bool
	swap bool
}

// shrinkable says how small partition p's file system can be made.
func (s *source) shrinkable(p ptable.Partition, tl int64) shrinker {
	conv := tl != int64(s.lss)
	switch fs := p.FileSystem; fs {
	case "ext2", "ext3", "ext4":
		m, err := s.extMinimum(p)
		if err != nil {
			return shrinker{why: fmt.Sprintf("how small it can be is not known (%v)", err)}
		}
		return shrinker{min: m, how: "resize2fs"}
	case "ntfs":
		if p.UsedBytes <= 0 || p.UsedBytes >= p.Size {
			return shrinker{why: "its used clusters are not known (captured whole)"}
		}
		return shrinker{min: min(p.UsedBytes+p.UsedBytes/10+8*MiB, p.Size), how: "ntfsresize"}
	case "vfat":
		if conv {
			return shrinker{why: "a FAT volume converted to other sectors is not shrunk as well"}
		}
		v, err := fatfs.Open(io.NewSectionReader(s.img, p.Start, p.Size), p.Size)
		if err != nil {
			return shrinker{why: err.Error()}
		}
		if tl > v.G.BytesPerSec {
			return shrinker{why: fmt.Sprintf("its %d-byte sectors are converted to the target's %d-byte ones, and not shrunk as well", v.G.BytesPerSec, tl)}
		}
		m, err := v.MinSize()
		if err != nil {
			return shrinker{why: err.Error()}
		}
		return shrinker{min: m, how: "Lifeboat moving its clusters", fat: true}
	case "swap":
		return shrinker{min: min(16*MiB, p.Size), how: "a new swap header", swap: true}
	case "xfs":
		return shrinker{why: "XFS cannot shrink"}
	case "btrfs":
		return shrinker{why: "btrfs shrinks only while mounted, which Lifeboat does not do to a copy"}
	case "exfat":
		if conv {
			return shrinker{why: "exFAT is not converted to other sectors"}
		}
		v, err := exfat.Parse(io.NewSectionReader(s.img, p.Start, p.Size), p.Size)
		if err != nil {
			return shrinker{why: err.Error()}
		}
		m, err := v.MinSize()
		if err != nil {
			return shrinker{why: err.Error()}
		}
		return shrinker{min: m, how: "Lifeboat moving its clusters"}
	case "":
		return shrinker{why: "no file system recognised"}
	default:
		return shrinker{why: "Lifeboat does not shrink " + fs}
	}
}

// extMinimum is the size an ext2/3/4 file system is shrunk to at the
// least: what resize2fs -P says for it (fsresize.ExtMinimum, from its
// superblock and group descriptors), with 2% and 4 MiB of room. The
// restore asks resize2fs -P again, of the restored file system, before
// shrinking.
func (s *source) extMinimum(p ptable.Partition) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := fsresize.ExtMinimum(ctx, io.NewSectionReader(s.img, p.Start, p.Size), p.Size, "")
	if err != nil {
		return 0, err
	}
	return min(alignUp(n+n/50+4*MiB, MiB), p.Size), nil
}

// fitPositions places the partitions one after another from the first
// one's start, MiB-aligned, each as large as it was when they fit, else
// the ones that can shrink giving up the same share of what they can
// spare (never below their minimum). It fails with a TooSmallError, the
// smallest target that would do, when even the minimums do not fit.
func (s *source) fitPositions(first, end int64, t Target) (map[int]placed, map[int]shrinker, error) {
	var leaves []ptable.Partition
	shr := map[int]shrinker{}
	var fixed, sumMin, sumMax, overhead int64
	var kept []string
	for _, p := range s.parts {
		if p.Extended {
			continue
		}
		leaves = append(leaves, p)
		sh := s.shrinkable(p, int64(t.SectorSize))
		if sh.how == "" || sh.min >= p.Size {
			why := sh.why
			if why == "" {
				why = "it cannot be made smaller than it is"
			}
			kept = append(kept, fmt.Sprintf("partition %d, %s", p.Number, why))
			sh.min = p.Size
			fixed += p.Size
		} else {
			sh.min = min(alignUp(sh.min, MiB), p.Size)
			sumMin += sh.min
			sumMax += p.Size
		}
		shr[p.Number] = sh
		overhead += MiB // alignment
		if p.Logical {
			overhead += alignUp(max(p.Start-p.EBR, MiB), MiB)
		}
	}
	avail := end - first - overhead - fixed
	if avail < sumMin {
		need := first + overhead + fixed + sumMin + (t.Size - end)
		return nil, nil, &TooSmallError{Need: need, Have: t.Size, Data: s.dataEstimate(), Shrunk: true, Kept: kept}
	}
	size := map[int]int64{}
	for _, p := range leaves {
		sh := shr[p.Number]
		size[p.Number] = p.Size
		if avail < sumMax && sh.min < p.Size {
			spare := float64(avail-sumMin) / float64(sumMax-sumMin)
			size[p.Number] = max(alignDown(sh.min+int64(float64(p.Size-sh.min)*spare), MiB), sh.min)
		}
	}
	pos := map[int]placed{}
	at := first
	for _, p := range s.parts {
		if p.Logical {
			continue
		}
		st := alignUp(at, MiB)
		if p.Start == first {
			st = first
		}
		if !p.Extended {
			pos[p.Number] = placed{start: st, size: size[p.Number]}
			at = st + size[p.Number]
			continue
		}
		inner := st
		for _, l := range s.parts {
			if !l.Logical {
				continue
			}
			ebr := alignUp(inner, MiB)
			gap := l.Start - l.EBR
			if l.EBR == 0 || gap <= 0 {
				gap = MiB
			}
			pos[l.Number] = placed{start: ebr + gap, size: size[l.Number], ebr: ebr}
			inner = ebr + gap + size[l.Number]
		}
		pos[p.Number] = placed{start: st, size: max(inner-st, MiB)}
		at = st + pos[p.Number].size
	}
	if at > end {
		return nil, nil, &TooSmallError{Need: t.Size + (at - end), Have: t.Size, Data: s.dataEstimate(), Shrunk: true, Kept: kept}
	}
	return pos, shr, nil
}

// usedIn is how many bytes of the image's disk range [lo, hi) hold data.
func usedIn(m *image.Manifest, lo, hi int64) int64 {
	var n int64
	for i, e := range m.Extents {
		if e.Hole {
			continue
		}
		off, l := m.ExtentRange(i)
		if off >= hi || off+l <= lo {
			continue
		}
		runs := e.Used
		if runs == nil {
			runs = []image.Run{{Off: 0, Len: l}}
		}
		for _, r := range runs {
			a, b := max(off+r.Off, lo), min(off+r.Off+r.Len, hi)
			if b > a {
				n += b - a
			}
		}
	}
	return n
}

// shrink lays a file system into its smaller partition: the part that
// fits goes there, the rest to its spill store, and the plan notes the
// shrink that follows the restore.
func (s *source) shrink(p *Plan, part *Part, sh shrinker) {
	sp, np := part.Src, part.Partition
	p.Segments = append(p.Segments, Segment{Src: sp.Start, Dst: np.Start, Len: np.Size})
	part.ShrinkFS = true
	moved := ""
	if np.Start != sp.Start {
		moved = fmt.Sprintf("moved from %s; ", units.Bytes(sp.Start))
	}
	name := sp.FileSystem
	if sh.swap {
		part.Note = fmt.Sprintf("%sswap made %s (%s)", moved, units.Bytes(np.Size), sh.how)
		return
	}
	rest := sp.Size - np.Size
	used := usedIn(s.m, sp.Start+np.Size, sp.Start+sp.Size)
	p.Segments = append(p.Segments, Segment{Src: sp.Start + np.Size, Dst: 0, Len: rest, Spill: sp.Number})
	p.Spill = append(p.Spill, Spill{Part: sp.Number, Len: rest, Used: used})
	held := "nothing of it lies past the new end"
	if used > 0 {
		held = fmt.Sprintf("the %s of it past the new end is held in scratch space until then", units.Bytes(used))
	}
	part.Note = fmt.Sprintf("%s%s shrunk from %s to %s after the restore (%s); %s",
		moved, name, units.Bytes(sp.Size), units.Bytes(np.Size), sh.how, held)
}
