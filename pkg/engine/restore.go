package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
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
	// Layout is the plan to follow (PlanRestore); nil plans one.
	Layout *layout.Plan
	// Spill holds the ends of file systems the plan shrinks (NewSpill);
	// needed when the plan has spill stores. The partition table is then
	// written as zeros (no table) until WriteTable writes it, after the
	// file systems are shrunk.
	Spill    *Spill
	Progress *progress.Tracker
}

// RestoreSummary is what a restore did.
type RestoreSummary struct {
	BytesWritten int64 // data written from chunks
	HoleBytes    int64 // bytes zeroed (or skipped) for holes
	Chunks       int64
	Changes      []string // what was written that is not in the image
	Seconds      float64

	// How far a restore got, for saying what a stopped one left:
	// Done of Total bytes of the image were restored; Cleared says the
	// target's old partition table was cleared, or clearing it began
	// (nothing else is written before); DataDone that every extent was
	// written; TableWritten that the new partition table is in place (not
	// when the plan holds it back for WriteTable).
	Done, Total  int64
	Cleared      bool
	DataDone     bool
	TableWritten bool
}

// TooSmallError is returned for a target no layout fits.
type TooSmallError = layout.TooSmallError

// ErrSectorSize is returned when a file system of the image cannot live on
// the target's logical sector size.
var ErrSectorSize = layout.ErrSectorSize

// PlanRestore reads the image's partition table and computes how the image
// lands on a target of the given size and sector size (package layout).
func PlanRestore(im Image, t layout.Target, o layout.Options) (*layout.Plan, error) {
	m := im.Manifest()
	tbl, err := ptable.Read(im, m.Disk.Size, m.Disk.LogicalSectorSize)
	if err != nil {
		return nil, fmt.Errorf("read the image's partition table: %w", err)
	}
	return layout.Compute(m, tbl, im, t, o)
}

// planFor is the plan a restore or a check of dst follows.
func planFor(im Image, dst interface {
	Size() int64
	LogicalSectorSize() int
}, p *layout.Plan) (*layout.Plan, error) {
	if p != nil {
		if p.Target.Size != dst.Size() || p.Target.SectorSize != dst.LogicalSectorSize() {
			return nil, fmt.Errorf("the plan is for a target of %d bytes with %d-byte sectors, the target has %d bytes with %d-byte sectors",
				p.Target.Size, p.Target.SectorSize, dst.Size(), dst.LogicalSectorSize())
		}
		return p, nil
	}
	return PlanRestore(im, layout.Target{Size: dst.Size(), SectorSize: dst.LogicalSectorSize()}, layout.Options{})
}

// Restore writes an image onto a target disk, laid out as o.Layout says
// (nil: the first layout that works, keep on a large enough disk).
func Restore(ctx context.Context, im Image, dst Target, o RestoreOptions) (RestoreSummary, error) {
	start := time.Now()
	var sum RestoreSummary
	m := im.Manifest()
	plan, err := planFor(im, dst, o.Layout)
	if err != nil {
		return sum, err
	}
	if err := o.Spill.check(plan); err != nil {
		return sum, fmt.Errorf("restore of %s: %w", m.Name, err)
	}
	sum.Total = m.Disk.Size
	if err := ctx.Err(); err != nil {
		return sum, &cancelError{fmt.Sprintf("restore of %s cancelled before anything was written", m.Name), err}
	}
	// The old table goes first, and the new one is held back until the
	// data is written: an interrupted restore leaves no table at all.
	hold := newHolder(dst)
	if !o.TargetReadsZeros {
		// Set first: a clearing that fails part way has changed the disk.
		sum.Cleared = true
		if err := invalidateTable(dst); err != nil {
			return sum, fmt.Errorf("restore of %s: %w", m.Name, err)
		}
	}
	mt := newMapped(hold, plan.Segments, m.Disk.Size, o.Spill)
	workers := workerCount(o.Workers)
	_, clone := im.(*DiskImage)
	stage := "restoring"
	if clone {
		stage = "copying"
	}
	o.Progress.Start(stage, m.Disk.Size)

	var written, holes, chunks, done atomic.Int64
	skipHoles := o.SkipHoles || o.TargetReadsZeros
	if !o.TargetReadsZeros {
		for _, w := range plan.Wipe {
			if err := dst.Zero(w.Dst, w.Len); err != nil {
				return sum, fmt.Errorf("restore of %s: clear the target at byte %d: %w", m.Name, w.Dst, err)
			}
		}
	}
	type buffers struct{ data, raw []byte }
	bufs := make([]buffers, workers)
	for w := range bufs {
		bufs[w].data = make([]byte, m.ExtentSize)
		if !clone { // a disk is read straight into data
			bufs[w].raw = make([]byte, repo.MaxStored(m.ExtentSize))
		}
	}
	// writeExtent restores extent i using worker w's buffers.
	writeExtent := func(w, i int) error {
		off, n := m.ExtentRange(i)
		defer o.Progress.Add(n)
		var covered int64
		for _, pc := range mt.pieces(off, n) {
			covered += pc.n
		}
		if covered == 0 {
			return nil
		}
		e := m.Extents[i]
		if e.Hole {
			holes.Add(covered)
			if skipHoles {
				return nil
			}
			return mt.Zero(off, n)
		}
		data, err := im.Extent(i, bufs[w].data, bufs[w].raw)
		if err != nil {
			return err
		}
		if o.TargetReadsZeros && allZero(data) {
			// Used but zeros (a disk read whole): the target has them.
			holes.Add(covered)
			return nil
		}
		if e.Used != nil {
			// A partly used extent: its used parts are written, and its
			// unused parts zeroed like holes (or left, like holes).
			u, err := writeUsed(mt, data, off, e.Used, skipHoles)
			if err != nil {
				return err
			}
			written.Add(u)
			holes.Add(covered - u)
			chunks.Add(1)
			return nil
		}
		if _, err := mt.WriteAt(data, off); err != nil {
			return err
		}
		written.Add(covered)
		chunks.Add(1)
		return nil
	}
	// unit is writeExtent as one unit of work of the tracker's pause gate,
	// counted in done when it is written.
	unit := func(ctx context.Context, w, i int) error {
		if err := o.Progress.Begin(ctx); err != nil {
			return err
		}
		defer o.Progress.End()
		if err := writeExtent(w, i); err != nil {
			return err
		}
		_, n := m.ExtentRange(i)
		done.Add(n)
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
				if err := unit(gctx, w, i); err != nil {
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
		err = o.Progress.Begin(ctx)
		if err == nil {
			err = finishRestore(dst, hold, plan, o.Progress, func() error {
				if err := writeExtent(0, 0); err != nil {
					return err
				}
				_, n := m.ExtentRange(0)
				done.Add(n)
				return nil
			})
			o.Progress.End()
		}
	}
	sum = RestoreSummary{BytesWritten: written.Load(), HoleBytes: holes.Load(), Chunks: chunks.Load(),
		Changes: plan.Changes, Seconds: time.Since(start).Seconds(),
		Done: done.Load(), Total: m.Disk.Size, Cleared: sum.Cleared}
	if err == nil {
		sum.DataDone = true
		_, held := heldPatches(plan)
		sum.TableWritten = len(held) == 0
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return sum, &cancelError{fmt.Sprintf("restore of %s cancelled", m.Name), ctxErr}
		}
		return sum, fmt.Errorf("restore of %s stopped: %w", m.Name, err)
	}
	return sum, nil
}

// finishRestore writes what a restore keeps for last: the table spans
// held back (the disk's end first), the extent with the partition table
// (first0), the table changes from the disk's end to its start, so that
// an interrupted restore does not leave a disk whose table looks whole;
// then it syncs.
func finishRestore(dst Target, hold *holder, plan *layout.Plan, tr *progress.Tracker, first0 func() error) error {
	tr.SetStage("writing the partition table")
	if err := hold.release(); err != nil {
		return err
	}
	if err := first0(); err != nil {
		return err
	}
	if err := writePatches(dst, patchesNow(plan)); err != nil {
		return err
	}
	tr.SetStage("flushing the target")
	return dst.Sync()
}

// cancelError is a cancelled operation: its message says what was left,
// and it wraps the context's error without repeating it.
type cancelError struct {
	msg string
	err error
}

func (e *cancelError) Error() string { return e.msg }
func (e *cancelError) Unwrap() error { return e.err }

// heldPatches splits a plan's patches: those inside partitions (boot
// sectors) and the rest (the partition table). When the plan shrinks file
// systems, the table waits until they are shrunk (WriteTable), so that an
// interrupted restore does not leave a table whose file systems are larger
// than their partitions.
func heldPatches(plan *layout.Plan) (now, held []ptable.Patch) {
	if len(plan.Shrunk()) == 0 {
		return plan.Patches, nil
	}
	for _, p := range plan.Patches {
		in := false
		for _, pt := range plan.Parts {
			if !pt.Extended && p.Offset >= pt.Start && p.Offset+int64(len(p.Data)) <= pt.Start+pt.Size {
				in = true
			}
		}
		if in {
			now = append(now, p)
		} else {
			held = append(held, p)
		}
	}
	return now, held
}

// patchesNow is what a restore writes over the data: the plan's patches,
// with the table's as zeros when it is held back.
func patchesNow(plan *layout.Plan) []ptable.Patch {
	now, held := heldPatches(plan)
	for _, p := range held {
		now = append(now, ptable.Patch{Offset: p.Offset, Data: make([]byte, len(p.Data))})
	}
	return now
}

// WriteTable writes the partition table a restore held back (the plan
// shrinks file systems, and they are shrunk now), from the disk's end to
// its start, syncs, and reads it back.
func WriteTable(dst Target, plan *layout.Plan) error {
	_, held := heldPatches(plan)
	if len(held) == 0 {
		return nil
	}
	if err := writePatches(dst, held); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("flush the partition table: %w", err)
	}
	for _, p := range held {
		got := make([]byte, len(p.Data))
		if _, err := readFullAt(dst, got, p.Offset); err != nil {
			return fmt.Errorf("read the partition table back at byte %d: %w", p.Offset, err)
		}
		if !bytes.Equal(got, p.Data) {
			return fmt.Errorf("the partition table written at byte %d does not read back", p.Offset)
		}
	}
	return nil
}

// writePatches writes the table changes, from the end of the disk to its
// start.
func writePatches(dst Target, patches []ptable.Patch) error {
	ps := append([]ptable.Patch(nil), patches...)
	sort.SliceStable(ps, func(a, b int) bool { return ps[a].Offset > ps[b].Offset })
	for _, p := range ps {
		if _, err := dst.WriteAt(p.Data, p.Offset); err != nil {
			return fmt.Errorf("write the partition table at byte %d: %w", p.Offset, err)
		}
	}
	return nil
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
