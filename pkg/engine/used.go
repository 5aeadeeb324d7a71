package engine

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/lifeboat-dev/lifeboat/pkg/fsmap"
	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// CapturePlan is what a capture of a disk will read, worked out before it
// starts, so that its warnings can be shown first: the partition table,
// with how each partition is read (Partition.Capture and UsedBytes), and
// what the user must know (a file system that is not clean is read whole).
type CapturePlan struct {
	Table    *ptable.Table
	Warnings []string
	used     []fsmap.Range // sorted and apart; nil: the whole disk
}

// PlanCapture reads the source's partition table and its file systems'
// allocation maps; with allSectors, every sector is to be read.
func PlanCapture(src Source, allSectors bool) (*CapturePlan, error) {
	tbl, err := ptable.Read(src, src.Size(), src.LogicalSectorSize())
	if err != nil {
		return nil, fmt.Errorf("read the partition table: %w", err)
	}
	used, warnings := planUsed(src, tbl, allSectors)
	return &CapturePlan{Table: tbl, Warnings: warnings, used: used}, nil
}

// planUsed probes each partition, reads the allocation maps of those whose
// file system has one, and records in the table how each partition is
// captured. Everything outside partitions (boot code, gaps, the EBRs of
// an extended partition) is used. A partition whose map cannot be read, or
// whose file system is not clean, is used whole, with a warning.
func planUsed(src Source, tbl *ptable.Table, allSectors bool) (used []fsmap.Range, warnings []string) {
	var free []fsmap.Range // disk offsets of what mapped partitions leave unused
	size := src.Size()
	overlap := overlapping(tbl.Partitions)
	for i := range tbl.Partitions {
		p := &tbl.Partitions[i]
		if p.Extended || p.Size <= 0 || p.Start < 0 || p.Start+p.Size > size {
			continue
		}
		part := io.NewSectionReader(src, p.Start, p.Size)
		info, err := fsprobe.Probe(part, p.Size)
		if err == nil {
			p.FileSystem, p.FSVersion, p.FSLabel = info.Type, info.Version, info.Label
		}
		p.UsedBytes = p.Size
		name := fmt.Sprintf("partition %d", p.Number)
		if info.Type != "" {
			name = fmt.Sprintf("partition %d (%s)", p.Number, info)
		}
		switch {
		case allSectors:
			p.Capture = "every sector (all sectors asked for)"
			continue
		case err != nil:
			p.Capture = "every sector: its content could not be probed"
			warnings = append(warnings, fmt.Sprintf("%s: %v; every sector is captured", name, err))
			continue
		case overlap[i]:
			p.Capture = "every sector: it overlaps another partition"
			warnings = append(warnings, fmt.Sprintf("%s overlaps another partition; every sector is captured", name))
			continue
		case info.Type == "":
			p.Capture = "every sector: no file system recognised"
			continue
		case info.Crypto():
			p.Capture = "every sector: encrypted"
			continue
		case info.Type == "LVM2_member":
			p.Capture = "every sector: LVM physical volume"
			continue
		}
		m, err := fsmap.Read(part, p.Size, info.Type)
		switch {
		case errors.Is(err, fsmap.ErrUnsupported):
			p.Capture = "every sector: no allocation map reader for " + info.String()
			if info.Type == "xfs" || info.Type == "btrfs" {
				warnings = append(warnings, fmt.Sprintf("%s: Lifeboat cannot read %s allocation maps yet; every sector is captured", name, info))
			}
			continue
		case err != nil:
			p.Capture = "every sector: its allocation map is unreadable"
			warnings = append(warnings, fmt.Sprintf("%s: %v; every sector is captured instead", name, err))
			continue
		case m.Unclean != "":
			p.Capture = "every sector: " + m.Unclean
			warnings = append(warnings, fmt.Sprintf("%s is not clean: %s. Every sector is captured so that the copy is exactly the disk's state", name, m.Unclean))
			continue
		}
		p.Capture = "used blocks (" + m.Method + ")"
		p.UsedBytes = m.UsedBytes
		at := int64(0)
		for _, r := range m.Used {
			if r.Off > at {
				free = append(free, fsmap.Range{Off: p.Start + at, Len: r.Off - at})
			}
			at = r.End()
		}
		if at < p.Size {
			free = append(free, fsmap.Range{Off: p.Start + at, Len: p.Size - at})
		}
	}
	if len(free) == 0 {
		return nil, warnings
	}
	sort.Slice(free, func(a, b int) bool { return free[a].Off < free[b].Off })
	at := int64(0)
	used = []fsmap.Range{}
	for _, f := range free {
		if f.Off > at {
			used = append(used, fsmap.Range{Off: at, Len: f.Off - at})
		}
		at = max(at, f.End())
	}
	if at < size {
		used = append(used, fsmap.Range{Off: at, Len: size - at})
	}
	return used, warnings
}

// overlapping marks partitions (other than extended containers) that
// share bytes with another.
func overlapping(ps []ptable.Partition) []bool {
	out := make([]bool, len(ps))
	for i := range ps {
		for j := range i {
			a, b := ps[i], ps[j]
			if a.Extended || b.Extended {
				continue
			}
			if a.Start < b.Start+b.Size && b.Start < a.Start+a.Size {
				out[i], out[j] = true, true
			}
		}
	}
	return out
}

// extentRuns returns the parts of the extent [off, off+n) that used
// covers, relative to off and rounded out to whole sectors of lss bytes,
// and the index in used to start the next extent's search from. All of the
// extent is used when runs is nil; none when runs is empty.
func extentRuns(used []fsmap.Range, from int, off, n, lss int64) (runs []image.Run, next int) {
	if used == nil {
		return nil, 0
	}
	end := off + n
	for from < len(used) && used[from].End() <= off {
		from++
	}
	runs = []image.Run{}
	for k := from; k < len(used) && used[k].Off < end; k++ {
		lo := max(used[k].Off, off) - off
		hi := min(used[k].End(), end) - off
		lo = lo / lss * lss
		hi = min((hi+lss-1)/lss*lss, n)
		if m := len(runs); m > 0 && lo <= runs[m-1].Off+runs[m-1].Len {
			runs[m-1].Len = max(runs[m-1].Off+runs[m-1].Len, hi) - runs[m-1].Off
			continue
		}
		runs = append(runs, image.Run{Off: lo, Len: hi - lo})
	}
	if len(runs) == 1 && runs[0].Off == 0 && runs[0].Len == n {
		return nil, from
	}
	return runs, from
}

// capRuns merges the runs separated by the smallest gaps until at most max
// remain: a run list is a restore's guide to what to write, and writing a
// few zeroed gaps is harmless.
func capRuns(runs []image.Run, limit int) []image.Run {
	for gap := int64(512); len(runs) > limit; gap *= 2 {
		out := runs[:1]
		for _, r := range runs[1:] {
			last := &out[len(out)-1]
			if r.Off-(last.Off+last.Len) < gap {
				last.Len = r.Off + r.Len - last.Off
				continue
			}
			out = append(out, r)
		}
		runs = out
	}
	return runs
}
