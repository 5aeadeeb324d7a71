package engine

import (
	"fmt"
	"io"
	"sort"

	"github.com/lifeboat-dev/lifeboat/pkg/layout"
)

// mapped is a target seen in the image's coordinates through a layout's
// segments: image bytes outside every segment are not written, and read
// as zeros.
type mapped struct {
	t     Target
	segs  []layout.Segment // sorted by Src
	size  int64            // the image's disk size
	spill *Spill           // for segments to spill stores
}

func newMapped(t Target, segs []layout.Segment, size int64, spill *Spill) *mapped {
	s := append([]layout.Segment(nil), segs...)
	sort.Slice(s, func(a, b int) bool { return s[a].Src < s[b].Src })
	return &mapped{t: t, segs: s, size: size, spill: spill}
}

// piece is part of an image range that a segment maps: rel is its offset
// in the range, dst its place on the target (or in partition spill's
// spill store).
type piece struct {
	rel, dst, n int64
	spill       int
}

// store is where a piece goes: the target, or a spill store.
func (m *mapped) store(pc piece) (interface {
	io.ReaderAt
	io.WriterAt
}, error) {
	if pc.spill == 0 {
		return m.t, nil
	}
	return m.spill.store(pc.spill)
}

// pieces lists the mapped parts of the image range [off, off+n).
func (m *mapped) pieces(off, n int64) []piece {
	var out []piece
	for _, s := range m.segs {
		lo, hi := max(off, s.Src), min(off+n, s.Src+s.Len)
		if lo < hi {
			out = append(out, piece{rel: lo - off, dst: s.Dst + lo - s.Src, n: hi - lo, spill: s.Spill})
		}
	}
	return out
}

// whole reports whether [off, off+n) is mapped in one piece to the same
// offsets.
func (m *mapped) whole(off, n int64) bool {
	ps := m.pieces(off, n)
	return len(ps) == 1 && ps[0].n == n && ps[0].dst == off && ps[0].spill == 0
}

func (m *mapped) WriteAt(p []byte, off int64) (int, error) {
	for _, pc := range m.pieces(off, int64(len(p))) {
		if pc.spill != 0 && allZero(p[pc.rel:pc.rel+pc.n]) {
			continue // a spill store is a new sparse file: it reads zeros
		}
		w, err := m.store(pc)
		if err != nil {
			return 0, err
		}
		if _, err := w.WriteAt(p[pc.rel:pc.rel+pc.n], pc.dst); err != nil {
			if pc.spill != 0 {
				err = fmt.Errorf("scratch store of partition %d at byte %d: %w", pc.spill, pc.dst, err)
			}
			return 0, err
		}
	}
	return len(p), nil
}

func (m *mapped) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	for _, pc := range m.pieces(off, int64(len(p))) {
		r, err := m.store(pc)
		if err != nil {
			return 0, err
		}
		if _, err := readFullAt(r, p[pc.rel:pc.rel+pc.n], pc.dst); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (m *mapped) Zero(off, n int64) error {
	for _, pc := range m.pieces(off, n) {
		if pc.spill != 0 {
			// A new sparse file: zeros unless written, and each range is
			// written once.
			continue
		}
		if err := m.t.Zero(pc.dst, pc.n); err != nil {
			return err
		}
	}
	return nil
}

func (m *mapped) Size() int64             { return m.size }
func (m *mapped) LogicalSectorSize() int  { return m.t.LogicalSectorSize() }
func (m *mapped) PhysicalSectorSize() int { return m.t.LogicalSectorSize() }
func (m *mapped) Sync() error             { return m.t.Sync() }
