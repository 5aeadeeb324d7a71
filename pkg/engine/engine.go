package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/lifeboat-dev/lifeboat/pkg/fsmap"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// DefaultExtentSize is the extent size of new images.
const DefaultExtentSize = 4 << 20

// Source is a disk to read.
type Source interface {
	io.ReaderAt
	Size() int64
	LogicalSectorSize() int
	PhysicalSectorSize() int
}

// Target is a disk to write.
type Target interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
	LogicalSectorSize() int
	// Zero makes a range read as zeros.
	Zero(off, n int64) error
	Sync() error
}

func workerCount(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// extentJob is one extent read from a disk: all of it (runs nil), the used
// parts of it with zeros elsewhere, or nothing (buf nil: nothing is used).
type extentJob struct {
	i    int
	off  int64
	n    int64
	buf  []byte
	runs []image.Run
}

// readExtents reads a whole disk extent by extent in one goroutine and
// calls fn for each from `workers` goroutines. fn must not keep data.
// Buffers are made before any goroutine starts: 2×workers extents. Each
// read and each call of fn is a unit of work of gate's pause gate
// (progress.Tracker.Begin).
func readExtents(ctx context.Context, gate *progress.Tracker, r io.ReaderAt, size, extentSize int64, workers int,
	fn func(w int, i int, off int64, data []byte) error) error {
	return readUsedExtents(ctx, gate, r, size, extentSize, 512, workers, nil, nil,
		func(w int, j extentJob) error { return fn(w, j.i, j.off, j.buf) })
}

// readGap is the largest gap between used parts of an extent that is read
// through rather than skipped: one read costs more than a few blocks.
const readGap = 256 << 10

// readUsedExtents is readExtents over the used ranges of a disk (nil: all
// of it). Bytes outside them are not read and come out as zeros; an
// extent with no used bytes comes out with a nil buffer. read counts the
// bytes read from the disk.
func readUsedExtents(ctx context.Context, gate *progress.Tracker, r io.ReaderAt, size, extentSize, lss int64, workers int,
	used []fsmap.Range, read *atomic.Int64, fn func(w int, j extentJob) error) error {
	nbuf := 2 * workers
	free := make(chan []byte, nbuf)
	for k := 0; k < nbuf; k++ {
		free <- make([]byte, extentSize)
	}
	jobs := make(chan extentJob, nbuf)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		from := 0
		for off, i := int64(0), 0; off < size; off, i = off+extentSize, i+1 {
			n := min(extentSize, size-off)
			var runs []image.Run
			runs, from = extentRuns(used, from, off, n, lss)
			j := extentJob{i: i, off: off, n: n, runs: runs}
			if runs == nil || len(runs) > 0 {
				select {
				case j.buf = <-free:
				case <-gctx.Done():
					return gctx.Err()
				}
				j.buf = j.buf[:n]
				if err := gate.Begin(gctx); err != nil {
					return err
				}
				err := readRuns(r, j.buf, off, runs, read)
				gate.End()
				if err != nil {
					return err
				}
			}
			select {
			case jobs <- j:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for j := range jobs {
				if err := gate.Begin(gctx); err != nil {
					return err
				}
				err := fn(w, j)
				gate.End()
				if err != nil {
					return err
				}
				if j.buf != nil {
					free <- j.buf[:cap(j.buf)]
				}
				if err := gctx.Err(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// readRuns fills buf, the extent at off, with the disk's bytes in runs (all
// of it when runs is nil) and zeros elsewhere. Runs closer than readGap are
// read in one go and the gap zeroed after.
func readRuns(r io.ReaderAt, buf []byte, off int64, runs []image.Run, read *atomic.Int64) error {
	if runs == nil {
		if _, err := readFullAt(r, buf, off); err != nil {
			return err
		}
		if read != nil {
			read.Add(int64(len(buf)))
		}
		return nil
	}
	clear(buf)
	for i := 0; i < len(runs); {
		j := i + 1
		for j < len(runs) && runs[j].Off-(runs[j-1].Off+runs[j-1].Len) <= readGap {
			j++
		}
		lo, hi := runs[i].Off, runs[j-1].Off+runs[j-1].Len
		if _, err := readFullAt(r, buf[lo:hi], off+lo); err != nil {
			return err
		}
		if read != nil {
			read.Add(hi - lo)
		}
		for k := i + 1; k < j; k++ {
			clear(buf[runs[k-1].Off+runs[k-1].Len : runs[k].Off])
		}
		i = j
	}
	return nil
}

func readFullAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("read at offset %d: %w", off+int64(n), io.ErrUnexpectedEOF)
	}
	return n, err
}

var zeros = make([]byte, 1<<20)

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if string(b[:n]) != string(zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
