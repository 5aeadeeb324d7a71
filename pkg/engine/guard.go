package engine

import (
	"fmt"
	"sync"
)

// tableSpan is how much of each end of a disk holds what makes it look
// partitioned or in use: at its start the MBR (partition entries and boot
// signature at bytes 446-511) and the primary GPT header (LBA 1: byte 512
// or 4096), and at its end the backup GPT header (the last LBA). It also
// covers the signatures of what may sit on a whole disk: a file system's
// boot sector or superblock (FAT, NTFS at byte 0, ext at 1024, ISO 9660
// at 32 KiB, btrfs at 64 KiB; NTFS's backup boot sector in the last
// sector), RAID members' superblocks (md 0.90 and 1.0 within the last 128
// KiB, 1.1 and 1.2 at 0 and 4 KiB, DDF and Intel's in the last sectors)
// and ZFS's labels (0, 256 KiB, and 512 and 256 KiB before the end). A
// MiB at each end: held in memory while a restore runs.
const tableSpan = 1 << 20

// tableSpans are the ranges of dst that tableSpan covers, start first.
func tableSpans(size int64) [][2]int64 {
	head := min(int64(tableSpan), size)
	spans := [][2]int64{{0, head}}
	if tail := max(head, size-tableSpan); tail < size {
		spans = append(spans, [2]int64{tail, size})
	}
	return spans
}

// invalidateTable clears the partition table a target holds now (both
// ends of the disk, tableSpans) and syncs, before a restore writes any
// data: an interrupted restore then leaves a disk with no table at all,
// never the old table in front of new data.
func invalidateTable(dst Target) error {
	for _, s := range tableSpans(dst.Size()) {
		if _, err := dst.WriteAt(make([]byte, s[1]-s[0]), s[0]); err != nil {
			return fmt.Errorf("clear the old partition table at byte %d: %w", s[0], err)
		}
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("flush the cleared partition table: %w", err)
	}
	return nil
}

// holder is a target that keeps back what is written into its table
// spans: while the data is restored, the image's backup GPT header (in
// its last extent) must not reach the disk before the rest of the table,
// or an interrupted restore would leave a table that looks whole.
// Release writes what it kept, from the disk's end to its start, and lets
// later writes through.
type holder struct {
	Target
	mu       sync.Mutex
	spans    [][2]int64
	kept     [][]byte // per span: its bytes as written so far (zeros: cleared)
	touched  []bool
	released bool
}

func newHolder(t Target) *holder {
	h := &holder{Target: t, spans: tableSpans(t.Size())}
	for _, s := range h.spans {
		h.kept = append(h.kept, make([]byte, s[1]-s[0]))
		h.touched = append(h.touched, false)
	}
	return h
}

// split calls through for the parts of [off, off+n) outside the spans and
// keep for the parts inside (rel: offset in the range, k: the span, at:
// offset in the span).
func (h *holder) split(off, n int64, through func(rel, n int64) error, keep func(rel int64, k int, at, n int64)) error {
	at := off
	for at < off+n {
		next := off + n // end of the part starting at at
		inside := -1
		for k, s := range h.spans {
			if at >= s[0] && at < s[1] {
				inside, next = k, min(next, s[1])
			} else if s[0] > at {
				next = min(next, s[0])
			}
		}
		if inside >= 0 {
			keep(at-off, inside, at-h.spans[inside][0], next-at)
		} else if err := through(at-off, next-at); err != nil {
			return err
		}
		at = next
	}
	return nil
}

func (h *holder) WriteAt(p []byte, off int64) (int, error) {
	h.mu.Lock()
	released := h.released
	h.mu.Unlock()
	if released {
		return h.Target.WriteAt(p, off)
	}
	err := h.split(off, int64(len(p)), func(rel, n int64) error {
		_, err := h.Target.WriteAt(p[rel:rel+n], off+rel)
		return err
	}, func(rel int64, k int, at, n int64) {
		h.mu.Lock()
		copy(h.kept[k][at:at+n], p[rel:rel+n])
		h.touched[k] = true
		h.mu.Unlock()
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *holder) Zero(off, n int64) error {
	h.mu.Lock()
	released := h.released
	h.mu.Unlock()
	if released {
		return h.Target.Zero(off, n)
	}
	return h.split(off, n, func(rel, n int64) error {
		return h.Target.Zero(off+rel, n)
	}, func(rel int64, k int, at, n int64) {
		h.mu.Lock()
		clear(h.kept[k][at : at+n])
		h.mu.Unlock()
	})
}

// release writes what was kept back, the disk's end first, and lets
// writes through from then on.
func (h *holder) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	for k := len(h.spans) - 1; k >= 0; k-- {
		if !h.touched[k] {
			continue // still cleared, as invalidateTable left it
		}
		if _, err := h.Target.WriteAt(h.kept[k], h.spans[k][0]); err != nil {
			return fmt.Errorf("write the partition table area at byte %d: %w", h.spans[k][0], err)
		}
	}
	return nil
}
