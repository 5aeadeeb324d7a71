package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// Problem is one thing wrong with an image or a restored disk.
type Problem struct {
	Chunk   image.Hash `json:"chunk"`
	Extents []int      `json:"extents"` // extents that use the chunk
	Offset  int64      `json:"offset"`  // disk offset of the first of them
	Problem string     `json:"problem"`
}

func (p Problem) String() string {
	more := ""
	if len(p.Extents) > 1 {
		more = fmt.Sprintf(" and %d more extents", len(p.Extents)-1)
	}
	if p.Chunk == (image.Hash{}) {
		return fmt.Sprintf("disk offset %d (extent %d%s): %s", p.Offset, p.Extents[0], more, p.Problem)
	}
	return fmt.Sprintf("chunk %s at disk offset %d (extent %d%s): %s", p.Chunk, p.Offset, p.Extents[0], more, p.Problem)
}

// VerifyReport is what a verification found.
type VerifyReport struct {
	Chunks   int64     `json:"chunks"` // chunks (or extents) checked
	Bytes    int64     `json:"bytes"`  // uncompressed bytes checked
	Problems []Problem `json:"problems"`
	Seconds  float64   `json:"seconds"`
}

// OK reports whether nothing was wrong.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// ErrVerifyFailed is returned with a report that lists problems.
var ErrVerifyFailed = errors.New("verification failed")

// VerifyOptions tune a verification.
type VerifyOptions struct {
	Workers  int
	Progress *progress.Tracker
	// UsedOnly compares only what file systems use (VerifyTarget after a
	// restore that left unused space untouched).
	UsedOnly bool
	// Layout is the plan the restore followed (nil: the plan it would
	// make); Spill its spill stores, before the file systems are shrunk.
	Layout *layout.Plan
	Spill  *Spill
}

// Verify checks that every chunk of an image is present and matches its
// hash, reading each distinct chunk once, in parallel. Problems are
// reported, not returned as the first error: the error is ErrVerifyFailed
// when there are any, or an error that stopped the check (cancellation).
func Verify(ctx context.Context, r *repo.Repo, m *image.Manifest, o VerifyOptions) (VerifyReport, error) {
	start := time.Now()
	uses := map[image.Hash][]int{}
	var order []image.Hash
	for i, e := range m.Extents {
		if e.Hole {
			continue
		}
		if _, ok := uses[e.ID]; !ok {
			order = append(order, e.ID)
		}
		uses[e.ID] = append(uses[e.ID], i)
	}
	var total int64
	for _, id := range order {
		_, n := m.ExtentRange(uses[id][0])
		total += n
	}
	o.Progress.Start("verifying chunks", total)
	workers := workerCount(o.Workers)
	codec, err := repo.NewCodec(repo.LevelDefault, workers)
	if err != nil {
		return VerifyReport{}, err
	}
	defer codec.Close()

	var (
		mu       sync.Mutex
		problems []Problem
		checked  atomic.Int64
		bytesOK  atomic.Int64
	)
	next := make(chan image.Hash)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for _, id := range order {
			select {
			case next <- id:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			data := make([]byte, m.ExtentSize)
			raw := make([]byte, repo.MaxStored(m.ExtentSize))
			for id := range next {
				if err := o.Progress.Begin(gctx); err != nil {
					return err
				}
				idx := uses[id]
				off, n := m.ExtentRange(idx[0])
				b, err := r.ReadChunk(id, raw, repo.MaxStored(n))
				if err == nil {
					_, err = codec.Decompress(id, off, data, b, int(n))
				}
				o.Progress.Add(n)
				o.Progress.End()
				checked.Add(1)
				if err != nil {
					p := Problem{Chunk: id, Extents: idx, Offset: off, Problem: describe(err)}
					mu.Lock()
					problems = append(problems, p)
					mu.Unlock()
					continue
				}
				bytesOK.Add(n)
			}
			return nil
		})
	}
	err = g.Wait()
	rep := VerifyReport{Chunks: checked.Load(), Bytes: bytesOK.Load(), Problems: sortProblems(problems), Seconds: time.Since(start).Seconds()}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return rep, &cancelError{fmt.Sprintf("verify of %s cancelled after %d chunks; nothing was changed", m.Name, rep.Chunks), ctxErr}
		}
		return rep, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("verify %s: %w: %d of %d chunks damaged or missing", m.Name, ErrVerifyFailed, len(rep.Problems), len(order))
	}
	return rep, nil
}

func describe(err error) string {
	var ce *repo.ChunkError
	switch {
	case errors.As(err, &ce):
		return ce.Problem
	case errors.Is(err, repo.ErrMissingChunk):
		return "missing from the repository"
	default:
		return "unreadable: " + err.Error()
	}
}

func sortProblems(p []Problem) []Problem {
	sort.Slice(p, func(a, b int) bool { return p[a].Offset < p[b].Offset })
	if p == nil {
		p = []Problem{}
	}
	return p
}

// VerifyTarget reads a restored disk back and compares it with the image,
// as laid out by o.Layout (nil: the plan a restore would make), including
// the partition-table writes. Extents the restore copied unchanged to the
// same offsets are compared by hash without reading their chunks.
func VerifyTarget(ctx context.Context, im Image, dst Target, o VerifyOptions) (VerifyReport, error) {
	start := time.Now()
	m := im.Manifest()
	plan, err := planFor(im, dst, o.Layout)
	if err != nil {
		return VerifyReport{}, err
	}
	if o.Spill == nil && len(plan.Spill) > 0 {
		return VerifyReport{}, fmt.Errorf("compare disk with %s: laid out on this disk, the image's file systems are shrunk (the fit layout), so the disk cannot be compared with the image byte for byte", m.Name)
	}
	if err := o.Spill.check(plan); err != nil {
		return VerifyReport{}, fmt.Errorf("compare disk with %s: %w", m.Name, err)
	}
	// The table as the restore left it: held back as zeros while file
	// systems wait to be shrunk.
	patches := plan.Patches
	if o.Spill != nil {
		patches = patchesNow(plan)
	}
	mt := newMapped(dst, plan.Segments, m.Disk.Size, o.Spill)
	workers := workerCount(o.Workers)
	o.Progress.Start("comparing the disk with the image", m.Disk.Size)
	var (
		mu       sync.Mutex
		problems []Problem
		checked  atomic.Int64
		compared atomic.Int64
	)
	report := func(i int, off int64, e image.Extent, what string) {
		p := Problem{Extents: []int{i}, Offset: off, Problem: what}
		if !e.Hole {
			p.Chunk = e.ID
		}
		mu.Lock()
		problems = append(problems, p)
		mu.Unlock()
	}
	wbufs := make([][2][]byte, workers)
	err = readExtents(ctx, o.Progress, mt, m.Disk.Size, m.ExtentSize, workers, func(w, i int, off int64, data []byte) error {
		n := int64(len(data))
		defer o.Progress.Add(n)
		pcs := mt.pieces(off, n)
		if len(pcs) == 0 {
			return nil
		}
		checked.Add(1)
		e := m.Extents[i]
		patched := false
		for _, pc := range pcs {
			compared.Add(pc.n)
			patched = patched || (pc.spill == 0 && overlaps(patches, pc.dst, pc.n))
		}
		if o.UsedOnly && e.Hole {
			return nil
		}
		if !patched && mt.whole(off, n) && (e.Used == nil || !o.UsedOnly) {
			switch {
			case e.Hole && !allZero(data):
				report(i, off, e, "the image has zeros here, the disk does not")
			case !e.Hole && sha256.Sum256(data) != e.ID:
				report(i, off, e, "the disk's bytes differ from the image")
			}
			return nil
		}
		if wbufs[w][0] == nil {
			wbufs[w] = [2][]byte{make([]byte, m.ExtentSize), make([]byte, repo.MaxStored(m.ExtentSize))}
		}
		want, err := im.Extent(i, wbufs[w][0], wbufs[w][1])
		if err != nil {
			report(i, off, e, "cannot read the image: "+describe(err))
			return nil
		}
		for _, pc := range pcs {
			if pc.spill == 0 {
				ptable.ApplyPatches(want[pc.rel:pc.rel+pc.n], pc.dst, patches)
			}
		}
		for _, pc := range pcs {
			if differs(want, data, pc, e.Used, o.UsedOnly && e.Used != nil && !patched) {
				report(i, off, e, "the disk's bytes differ from the image")
				break
			}
		}
		return nil
	})
	if err == nil {
		for _, p := range patches {
			got := make([]byte, len(p.Data))
			if _, err = readFullAt(dst, got, p.Offset); err != nil {
				break
			}
			if !bytes.Equal(got, p.Data) {
				problems = append(problems, Problem{Extents: []int{-1}, Offset: p.Offset, Problem: "the partition table written at this offset is not in place"})
			}
		}
	}
	rep := VerifyReport{Chunks: checked.Load(), Bytes: compared.Load(), Problems: sortProblems(problems), Seconds: time.Since(start).Seconds()}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return rep, &cancelError{fmt.Sprintf("comparing the disk with %s cancelled; nothing was changed", m.Name), ctxErr}
		}
		return rep, fmt.Errorf("compare disk with %s: %w", m.Name, err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("compare disk with %s: %w: %d extents differ", m.Name, ErrVerifyFailed, len(rep.Problems))
	}
	return rep, nil
}

// differs compares the piece pc of an extent, want against got, in the
// used runs only when usedOnly.
func differs(want, got []byte, pc piece, used []image.Run, usedOnly bool) bool {
	if !usedOnly {
		return !bytes.Equal(want[pc.rel:pc.rel+pc.n], got[pc.rel:pc.rel+pc.n])
	}
	for _, r := range used {
		lo, hi := max(r.Off, pc.rel), min(r.Off+r.Len, pc.rel+pc.n)
		if lo < hi && !bytes.Equal(want[lo:hi], got[lo:hi]) {
			return true
		}
	}
	return false
}
