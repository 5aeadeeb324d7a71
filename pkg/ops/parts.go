package ops

import (
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/fsmap"
	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// ProbeParts says what each partition of t on r (of size bytes) holds: its
// file system, label and the space it has in use, one PartInfo for each of
// t.Partitions, in their order. Each partition costs a
// few sectors, and for the space in use a superblock or an allocation map
// of at most 32 MiB (fsmap.Used); an extended partition or one past the
// end is not read.
func ProbeParts(r io.ReaderAt, size int64, t *ptable.Table) []PartInfo {
	if t == nil {
		return nil
	}
	out := make([]PartInfo, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		pi := PartInfo{Partition: p}
		if !p.Extended && p.Start >= 0 && p.Size > 0 && p.Start+p.Size <= size {
			pr := io.NewSectionReader(r, p.Start, p.Size)
			pi.FS, pi.FSErr = fsprobe.Probe(pr, p.Size)
			pi.Used = usedSpace(pr, p.Size, pi.FS)
		}
		out = append(out, pi)
	}
	return out
}

// usedSpace is what the file system info describes has in use, or 0 when
// that is not known cheaply (see fsmap.Used).
func usedSpace(r io.ReaderAt, size int64, info fsprobe.Info) int64 {
	if info.Type == "" {
		return 0
	}
	n, err := fsmap.Used(r, size, info.Type)
	if err != nil {
		return 0
	}
	return n
}

// CurrentParts reads what each partition on the target holds now, the
// partitions the restore destroys: file system, label and space in use,
// through the job's own handle (a plan-only job opens the target to read
// it). It returns nil when the target has no partition table, or it could
// not be read. It reads a few sectors and at most one bounded allocation
// map per partition; call it off a UI's event loop.
func (j *RestoreJob) CurrentParts() []PartInfo {
	if j.Created || j.CurrentErr != nil || j.Current == nil || j.Current.Type == ptable.TypeNone {
		return nil
	}
	if j.dst != nil {
		return ProbeParts(j.dst, j.dst.Size(), j.Current)
	}
	d, err := disk.Open(j.req.Target, disk.Options{SectorSize: j.Current.SectorSize})
	if err != nil {
		parts := ProbeParts(nil, 0, j.Current) // the table alone
		for i := range parts {
			parts[i].FSErr = err
		}
		return parts
	}
	defer d.Close()
	return ProbeParts(d, d.Size(), j.Current)
}
