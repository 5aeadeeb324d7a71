package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/sync/errgroup"
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

// extentJob is one extent read from a disk.
type extentJob struct {
	i   int
	off int64
	buf []byte
}

// readExtents reads a disk extent by extent in one goroutine and calls fn
// for each from `workers` goroutines. fn must not keep data. Buffers are
// made before any goroutine starts: 2×workers extents.
func readExtents(ctx context.Context, r io.ReaderAt, size, extentSize int64, workers int,
	fn func(w int, i int, off int64, data []byte) error) error {
	nbuf := 2 * workers
	free := make(chan []byte, nbuf)
	for k := 0; k < nbuf; k++ {
		free <- make([]byte, extentSize)
	}
	jobs := make(chan extentJob, nbuf)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for off, i := int64(0), 0; off < size; off, i = off+extentSize, i+1 {
			var buf []byte
			select {
			case buf = <-free:
			case <-gctx.Done():
				return gctx.Err()
			}
			n := min(extentSize, size-off)
			if _, err := readFullAt(r, buf[:n], off); err != nil {
				return err
			}
			select {
			case jobs <- extentJob{i, off, buf[:n]}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for j := range jobs {
				if err := fn(w, j.i, j.off, j.buf); err != nil {
					return err
				}
				free <- j.buf[:cap(j.buf)]
				if err := gctx.Err(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
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
