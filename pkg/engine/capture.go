package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// CaptureOptions tune a capture.
type CaptureOptions struct {
	Name string
	// Identity describes the source (model, serial, WWN, path, transport);
	// size and sector sizes are taken from the source itself.
	Identity   image.Disk
	ExtentSize int64      // 0: DefaultExtentSize
	Workers    int        // 0: one per CPU
	Level      repo.Level // 0: repo.LevelDefault
	Tool       string
	Progress   *progress.Tracker
	// Warnings are recorded in the manifest with the capture's own.
	Warnings []string
	// AllSectors reads and stores every sector, used by a file system or
	// not (a forensic copy). Otherwise only what file systems use is read.
	AllSectors bool
	// Plan is PlanCapture's result for this source, when the caller made
	// it first (to show its warnings); nil: Capture makes it.
	Plan *CapturePlan
	// Boot is recorded in the manifest: the firmware's boot entries for
	// the source.
	Boot *image.Boot
	// Note is the image's description (image.ValidNote).
	Note string
}

type chunkInfo struct {
	stored int64
	raw    int64
	isNew  bool
}

// Capture reads a whole disk into the repository as a new image and
// returns its manifest. On error or cancellation no image is written.
func Capture(ctx context.Context, src Source, r *repo.Repo, o CaptureOptions) (*image.Manifest, error) {
	start := time.Now()
	if err := image.ValidName(o.Name); err != nil {
		return nil, err
	}
	if err := image.ValidNote(o.Note); err != nil {
		return nil, fmt.Errorf("capture %s: %w", o.Name, err)
	}
	// The repository's shared lock, held from before the first chunk is
	// looked up until the manifest is written, keeps deletes and prunes
	// from removing chunks this capture stores or counts on finding.
	lk, err := r.LockShared(repo.OpCapture, o.Name)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", o.Name, err)
	}
	defer lk.Unlock()
	if ok, err := r.HasImage(o.Name); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("capture %s: %w in %s", o.Name, repo.ErrImageExists, r.Dir())
	}
	es := o.ExtentSize
	if es == 0 {
		es = DefaultExtentSize
	}
	size := src.Size()
	lss := src.LogicalSectorSize()
	if size <= 0 || size%int64(lss) != 0 {
		return nil, fmt.Errorf("capture: disk size %d is not a positive multiple of its sector size %d", size, lss)
	}
	for image.ExtentCount(size, es) > image.MaxExtents && es < image.MaxExtentSize {
		es *= 2
	}
	workers := workerCount(o.Workers)
	level := o.Level
	if level == 0 {
		level = repo.LevelDefault
	}

	o.Progress.Start("reading allocation maps", size)
	plan := o.Plan
	if plan == nil {
		var err error
		if plan, err = PlanCapture(src, o.AllSectors); err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
	}
	tbl := plan.Table
	areas, err := readAreas(src, tbl.Areas)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}

	codec, err := repo.NewCodec(level, workers)
	if err != nil {
		return nil, err
	}
	defer codec.Close()

	n := image.ExtentCount(size, es)
	extents := make([]image.Extent, n)
	var (
		mu     sync.Mutex
		known  = map[image.Hash]*chunkInfo{}
		holes  atomic.Int64
		unused atomic.Int64
		read   atomic.Int64
	)
	cbufs := make([][]byte, workers)
	for w := range cbufs {
		cbufs[w] = make([]byte, 0, repo.MaxStored(es))
	}
	o.Progress.SetStage("capturing")
	err = readUsedExtents(ctx, o.Progress, src, size, es, int64(lss), workers, plan.used, &read, func(w int, j extentJob) error {
		i, off, data := j.i, j.off, j.buf
		defer o.Progress.Add(j.n)
		if j.runs != nil {
			u := int64(0)
			for _, r := range j.runs {
				u += r.Len
			}
			unused.Add(j.n - u)
		}
		if data == nil || allZero(data) {
			extents[i].Hole = true
			holes.Add(j.n)
			return nil
		}
		if j.runs != nil {
			extents[i].Used = capRuns(j.runs, image.MaxRunsPerExtent)
		}
		id := sha256.Sum256(data)
		extents[i].ID = id
		mu.Lock()
		info, seen := known[id]
		if !seen {
			info = &chunkInfo{}
			known[id] = info
		}
		mu.Unlock()
		if seen {
			return nil
		}
		if stored, ok, err := r.ChunkSize(id); err != nil {
			return err
		} else if ok {
			info.stored = stored
			return nil
		}
		c := codec.Compress(cbufs[w][:0], data)
		wrote, err := r.PutChunk(id, c)
		if err != nil {
			return fmt.Errorf("extent %d at disk offset %d: %w", i, off, err)
		}
		info.stored, info.raw, info.isNew = int64(len(c)), int64(len(data)), wrote
		return nil
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, captureCancelled(o.Name, ctxErr)
		}
		return nil, fmt.Errorf("capture %s: %w", o.Name, err)
	}

	st := image.Stats{BytesRead: read.Load(), HoleBytes: holes.Load(), UnusedBytes: unused.Load(), UniqueChunks: int64(len(known))}
	for i := range extents {
		e := &extents[i]
		if e.Hole {
			continue
		}
		info := known[e.ID]
		e.Stored = uint32(info.stored)
		st.Chunks++
	}
	st.DataBytes = size - st.HoleBytes
	for _, info := range known {
		st.StoredBytes += info.stored
		if info.isNew {
			st.NewChunks++
			st.NewBytes += info.stored
			st.NewRawBytes += info.raw
		}
	}

	// Syncing and writing the manifest are one unit of the pause gate: a
	// capture paused here writes its manifest only once resumed.
	if err := o.Progress.Begin(ctx); err != nil {
		return nil, captureCancelled(o.Name, err)
	}
	defer o.Progress.End()
	o.Progress.SetStage("syncing the repository")
	if err := r.Sync(); err != nil {
		return nil, err
	}
	id := o.Identity
	id.Size, id.LogicalSectorSize, id.PhysicalSectorSize = size, lss, src.PhysicalSectorSize()
	m := &image.Manifest{
		Name:        o.Name,
		Created:     start.UTC().Truncate(time.Second),
		Tool:        o.Tool,
		Disk:        id,
		ExtentSize:  es,
		HashAlg:     "sha256",
		Compression: "zstd",
		Table:       tbl,
		Warnings:    append(append(append([]string(nil), o.Warnings...), tbl.Warnings...), plan.Warnings...),
		Areas:       areas,
		Extents:     extents,
		Boot:        o.Boot,
		Note:        o.Note,
	}
	st.Seconds = time.Since(start).Seconds()
	m.Stats = st
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, captureCancelled(o.Name, err)
	}
	o.Progress.SetStage("writing the manifest")
	if err := lk.Check(); err != nil {
		return nil, fmt.Errorf("capture %s: %w", o.Name, err)
	}
	if err := r.PutManifest(o.Name, data); err != nil {
		return nil, err
	}
	return m, nil
}

// captureCancelled is the error of a cancelled capture, which writes no
// manifest.
func captureCancelled(name string, err error) error {
	return &cancelError{fmt.Sprintf("capture %s cancelled: no image was written; the chunks already stored are reused by the next capture or removed by a prune", name), err}
}

// readAreas reads the raw bytes of the boot areas, within the manifest's
// limits.
func readAreas(src Source, list []ptable.Area) ([]image.Area, error) {
	out := []image.Area{}
	total := 0
	for _, a := range list {
		if len(out) == image.MaxAreas {
			break
		}
		n := min(a.Length, image.MaxAreaBytes, int64(image.MaxAreasTotal-total))
		buf := make([]byte, n)
		if _, err := readFullAt(src, buf, a.Offset); err != nil {
			return nil, fmt.Errorf("read boot area %s at offset %d: %w", a.Name, a.Offset, err)
		}
		total += int(n)
		out = append(out, image.Area{Area: a, Data: buf, Truncated: n < a.Length})
	}
	return out, nil
}
