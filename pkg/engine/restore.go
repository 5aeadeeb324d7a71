package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// RestoreOptions tune a restore.
type RestoreOptions struct {
	Workers int // 0: one per CPU
	// TargetReadsZeros says the target is known to read as zeros (a new
	// sparse file), so holes need no writing.
	TargetReadsZeros bool
	// SkipHoles leaves the target's bytes under holes untouched.
	SkipHoles bool
	Progress  *progress.Tracker
}

// RestoreSummary is what a restore did.
type RestoreSummary struct {
	BytesWritten int64 // data written from chunks
	HoleBytes    int64 // bytes zeroed (or skipped) for holes
	Chunks       int64
	Changes      []string // what was written that is not in the image
	Seconds      float64
}

// TooSmallError is returned for a target smaller than the image's disk.
type TooSmallError struct {
	Need, Have int64
}

func (e *TooSmallError) Error() string {
	return fmt.Sprintf("target is %d bytes, the image needs %d (%d bytes short); restoring onto a smaller disk is not supported yet", e.Have, e.Need, e.Need-e.Have)
}

// ErrSectorSize is returned when the target's logical sector size differs
// from the image's on a disk with a partition table.
var ErrSectorSize = errors.New("logical sector sizes differ")

// Plan is what a restore of an image onto a target will do, computed before
// anything is written.
type Plan struct {
	Patches []ptable.Patch
	Changes []string
}

// PlanRestore checks that the image fits the target and computes the
// partition-table changes the target's size needs.
func PlanRestore(im *repo.Image, targetSize int64, targetSector int) (*Plan, error) {
	m := im.M
	if targetSize < m.Disk.Size {
		return nil, &TooSmallError{Need: m.Disk.Size, Have: targetSize}
	}
	if targetSector != m.Disk.LogicalSectorSize && m.Table.Type != ptable.TypeNone {
		return nil, fmt.Errorf("%w: the image's disk has %d-byte sectors and a %s partition table, the target has %d-byte sectors; converting is not supported yet",
			ErrSectorSize, m.Disk.LogicalSectorSize, m.Table.Type, targetSector)
	}
	p := &Plan{}
	if targetSize > m.Disk.Size && m.Table.Type == ptable.TypeGPT {
		tbl, err := ptable.Read(im, m.Disk.Size, m.Disk.LogicalSectorSize)
		if err != nil {
			return nil, fmt.Errorf("read the image's partition table: %w", err)
		}
		p.Patches, err = tbl.RelocateGPT(m.Disk.Size, targetSize)
		if err != nil {
			return nil, err
		}
		if len(p.Patches) > 0 {
			last := targetSize/int64(m.Disk.LogicalSectorSize) - 1
			p.Changes = append(p.Changes, fmt.Sprintf("moved the backup GPT to the end of the larger target (LBA %d) and updated the primary GPT header and protective MBR to match", last))
		}
	}
	return p, nil
}

// Restore writes an image onto a target disk.
func Restore(ctx context.Context, im *repo.Image, dst Target, o RestoreOptions) (RestoreSummary, error) {
	start := time.Now()
	var sum RestoreSummary
	m := im.M
	plan, err := PlanRestore(im, dst.Size(), dst.LogicalSectorSize())
	if err != nil {
		return sum, err
	}
	workers := workerCount(o.Workers)
	o.Progress.Start("restoring", m.Disk.Size)

	var written, holes, chunks atomic.Int64
	skipHoles := o.SkipHoles || o.TargetReadsZeros
	type buffers struct{ data, raw []byte }
	bufs := make([]buffers, workers)
	for w := range bufs {
		bufs[w] = buffers{make([]byte, m.ExtentSize), make([]byte, repo.MaxStored(m.ExtentSize))}
	}
	// writeExtent restores extent i using worker w's buffers.
	writeExtent := func(w, i int) error {
		off, n := m.ExtentRange(i)
		defer o.Progress.Add(n)
		e := m.Extents[i]
		patched := overlaps(plan.Patches, off, n)
		if e.Hole && !patched {
			holes.Add(n)
			if skipHoles {
				return nil
			}
			return dst.Zero(off, n)
		}
		data, err := im.Extent(i, bufs[w].data, bufs[w].raw)
		if err != nil {
			return err
		}
		ptable.ApplyPatches(data, off, plan.Patches)
		if e.Used != nil && !patched {
			// A partly used extent: its used parts are written, and its
			// unused parts zeroed like holes (or left, like holes).
			u, err := writeUsed(dst, data, off, e.Used, skipHoles)
			if err != nil {
				return err
			}
			written.Add(u)
			holes.Add(n - u)
			chunks.Add(1)
			return nil
		}
		if _, err := dst.WriteAt(data, off); err != nil {
			return err
		}
		if e.Hole {
			holes.Add(n)
		} else {
			written.Add(n)
			chunks.Add(1)
		}
		return nil
	}

	next := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for i := 1; i < len(m.Extents); i++ {
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for i := range next {
				if err := writeExtent(w, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		// The extent with the partition table goes last.
		err = writeExtent(0, 0)
	}
	if err == nil {
		// Parts of patches past the image's end (the relocated backup GPT).
		for _, p := range plan.Patches {
			if end := p.Offset + int64(len(p.Data)); end > m.Disk.Size {
				lo := max(p.Offset, m.Disk.Size)
				if _, err = dst.WriteAt(p.Data[lo-p.Offset:], lo); err != nil {
					break
				}
			}
		}
	}
	if err == nil {
		o.Progress.SetStage("flushing the target")
		err = dst.Sync()
	}
	sum = RestoreSummary{BytesWritten: written.Load(), HoleBytes: holes.Load(), Chunks: chunks.Load(),
		Changes: plan.Changes, Seconds: time.Since(start).Seconds()}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return sum, fmt.Errorf("restore of %s cancelled: %w", m.Name, ctxErr)
		}
		return sum, fmt.Errorf("restore of %s stopped: %w", m.Name, err)
	}
	return sum, nil
}

// zeroGap is the smallest unused gap inside an extent that is zeroed with
// Target.Zero (a discard or a punched hole) rather than written as zeros.
const zeroGap = 64 << 10

// writeUsed writes the used runs of an extent's data at off; the gaps
// between them are zeroed, written as zeros when short, or left alone
// when leave is set. It returns the bytes of the runs.
func writeUsed(dst Target, data []byte, off int64, runs []image.Run, leave bool) (int64, error) {
	var used int64
	at := int64(0) // data before at is done
	for k := 0; k < len(runs); {
		lo, hi := runs[k].Off, runs[k].Off+runs[k].Len
		used += runs[k].Len
		k++
		for !leave && k < len(runs) && runs[k].Off-hi < zeroGap {
			used += runs[k].Len
			hi = runs[k].Off + runs[k].Len
			k++
		}
		if !leave && lo > at {
			if err := zeroOrWrite(dst, data[at:lo], off+at); err != nil {
				return used, err
			}
		}
		if _, err := dst.WriteAt(data[lo:hi], off+lo); err != nil {
			return used, err
		}
		at = hi
	}
	if !leave && at < int64(len(data)) {
		if err := zeroOrWrite(dst, data[at:], off+at); err != nil {
			return used, err
		}
	}
	return used, nil
}

// zeroOrWrite makes zeros (the whole of buf) read at off.
func zeroOrWrite(dst Target, zeros []byte, off int64) error {
	if len(zeros) < zeroGap {
		_, err := dst.WriteAt(zeros, off)
		return err
	}
	return dst.Zero(off, int64(len(zeros)))
}

func overlaps(patches []ptable.Patch, off, n int64) bool {
	for _, p := range patches {
		if p.Offset < off+n && p.Offset+int64(len(p.Data)) > off {
			return true
		}
	}
	return false
}
