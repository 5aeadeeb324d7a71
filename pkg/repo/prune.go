package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// Usage is what an image's chunks take in the repository.
type Usage struct {
	// Chunks and Stored are the image's distinct chunks and their stored
	// (compressed) bytes: its size on disk.
	Chunks int64 `json:"chunks_on_disk"`
	Stored int64 `json:"size_on_disk"`
	// UniqueChunks and Unique are those of its chunks no other image
	// uses: what deleting it alone would reclaim.
	UniqueChunks int64 `json:"unique_size_chunks"`
	Unique       int64 `json:"unique_size"`
}

// ImageUsage computes each manifest's Usage from the manifests alone (the
// stored sizes they record), counting a chunk as shared when another of
// them names it. Nil manifests (unreadable images) count for nothing.
func ImageUsage(ms []*image.Manifest) []Usage {
	type ref struct {
		stored uint32
		first  int32 // the first image naming the chunk
		last   int32 // the last image that counted it
		images int32
	}
	refs := map[image.Hash]*ref{}
	out := make([]Usage, len(ms))
	for i, m := range ms {
		if m == nil {
			continue
		}
		for _, e := range m.Extents {
			if e.Hole {
				continue
			}
			r := refs[e.ID]
			if r == nil {
				r = &ref{stored: e.Stored, first: int32(i), last: -1}
				refs[e.ID] = r
			}
			if r.last == int32(i) {
				continue
			}
			r.last = int32(i)
			r.images++
			out[i].Chunks++
			out[i].Stored += int64(e.Stored)
		}
	}
	for _, r := range refs {
		if r.images == 1 {
			out[r.first].UniqueChunks++
			out[r.first].Unique += int64(r.stored)
		}
	}
	return out
}

// PruneOptions tune Prune and Delete.
type PruneOptions struct {
	// DryRun counts what would be removed and removes nothing (and takes
	// no lock).
	DryRun   bool
	Progress *progress.Tracker
}

// PruneResult says what a prune removed (or would remove).
type PruneResult struct {
	Images int `json:"images"`
	// Chunks and Bytes are the unused chunks removed and their stored
	// size.
	Chunks int64 `json:"chunks_removed"`
	Bytes  int64 `json:"bytes_removed"`
	// Temps and TempBytes are temporary files of interrupted writes.
	Temps     int64 `json:"temp_files_removed"`
	TempBytes int64 `json:"temp_bytes_removed"`
	// Notes are note objects of images that no longer exist.
	Notes int `json:"notes_removed"`
	// Kept and KeptBytes are unused chunks left because they are newer
	// than the prune: a writer may be about to name them.
	Kept      int64 `json:"chunks_kept_new"`
	KeptBytes int64 `json:"bytes_kept_new"`
	// InUse and InUseBytes are the chunks the images name.
	InUse      int64 `json:"chunks_in_use"`
	InUseBytes int64 `json:"bytes_in_use"`
}

// Reclaimed is the bytes removed in all.
func (p PruneResult) Reclaimed() int64 { return p.Bytes + p.TempBytes }

// DeleteResult says what a delete removed.
type DeleteResult struct {
	Image string `json:"image"`
	// Usage is the image's, as the repository stood before the delete.
	Usage Usage `json:"usage"`
	// Prune is what the prune after the delete removed: the image's
	// unique chunks, and anything else no image used.
	Prune PruneResult `json:"prune"`
}

// UnreadableError means an image's manifest cannot be read, so the chunks
// it names are unknown and nothing may be pruned.
type UnreadableError struct {
	Image string
	Err   error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("image %s cannot be read, so the chunks it needs are unknown and none are removed (delete the image first): %v", e.Image, e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// Prune removes the chunks no image names, temporary files left by
// interrupted writes, and notes of images that are gone. It takes the
// repository's exclusive lock (refused with a *LockedError while a
// capture runs) and never removes an object newer than the lock.
func (r *Repo) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	if r.remote != nil {
		return PruneResult{}, r.readOnly("prune")
	}
	since := time.Now()
	if !o.DryRun {
		lk, err := r.LockExclusive(OpPrune)
		if err != nil {
			return PruneResult{}, err
		}
		defer lk.Unlock()
		since = lk.Since()
	}
	o.Progress.SetStage("reading manifests")
	ms, names, err := r.readAll(ctx, "")
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune %s: %w", r.dir, err)
	}
	return r.prune(ctx, ms, names, since, o)
}

// Delete removes an image (its manifest, then its note) and prunes, so
// the chunks only it used are reclaimed. It takes the repository's
// exclusive lock. With DryRun it only says what would be reclaimed.
func (r *Repo) Delete(ctx context.Context, name string, o PruneOptions) (DeleteResult, error) {
	res := DeleteResult{Image: name}
	if err := image.ValidName(name); err != nil {
		return res, err
	}
	if r.remote != nil {
		return res, r.readOnly("delete " + name)
	}
	since := time.Now()
	if !o.DryRun {
		lk, err := r.LockExclusive(OpDelete)
		if err != nil {
			return res, err
		}
		defer lk.Unlock()
		since = lk.Since()
	}
	if ok, err := r.HasImage(name); err != nil {
		return res, err
	} else if !ok {
		return res, fmt.Errorf("delete %s in %s: %w", name, r.dir, ErrNoImage)
	}
	o.Progress.SetStage("reading manifests")
	ms, names, rerr := r.readAll(ctx, name)
	if rerr == nil {
		if m, err := r.ReadManifest(name); err == nil {
			u := ImageUsage(append(ms[:len(ms):len(ms)], m))
			res.Usage = u[len(u)-1]
		}
	} else if ctx.Err() != nil {
		return res, rerr
	}
	if !o.DryRun {
		p := filepath.Join(r.dir, ManifestPath(name))
		if err := os.Remove(p); err != nil {
			return res, fmt.Errorf("delete %s: %w", name, err)
		}
		if err := os.Remove(filepath.Join(r.dir, NotePath(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("delete %s: %w", name, err)
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			return res, fmt.Errorf("delete %s: %w", name, err)
		}
	}
	var pr PruneResult
	err := rerr
	if err == nil {
		pr, err = r.prune(ctx, ms, names, since, o)
	}
	res.Prune = pr
	if err != nil {
		if o.DryRun {
			return res, err
		}
		return res, fmt.Errorf("image %s deleted, but its chunks were not reclaimed: %w", name, err)
	}
	return res, nil
}

// readAll reads every manifest but skip's.
func (r *Repo) readAll(ctx context.Context, skip string) ([]*image.Manifest, []string, error) {
	names, err := r.Images()
	if err != nil {
		return nil, nil, err
	}
	var ms []*image.Manifest
	var kept []string
	for _, n := range names {
		if n == skip {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		m, err := r.ReadManifest(n)
		if err != nil {
			return nil, nil, &UnreadableError{Image: n, Err: err}
		}
		ms = append(ms, m)
		kept = append(kept, n)
	}
	return ms, kept, nil
}

// prune removes what the manifests ms (of the images names) do not name
// and what is older than since.
func (r *Repo) prune(ctx context.Context, ms []*image.Manifest, names []string, since time.Time, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	res.Images = len(ms)
	used := map[image.Hash]bool{}
	for _, m := range ms {
		for _, e := range m.Extents {
			if !e.Hole {
				used[e.ID] = true
			}
		}
	}
	ms = nil

	o.Progress.SetStage("removing unused chunks")
	old := func(fi os.FileInfo) bool { return fi.ModTime().Before(since) }
	remove := func(p string) error {
		if o.DryRun {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("prune: remove %s: %w", p, err)
		}
		return nil
	}
	top := filepath.Join(r.dir, chunksDir)
	dirs, err := os.ReadDir(top)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("prune: list %s: %w", top, err)
	}
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != prefixDigits {
			continue
		}
		// Each chunk directory is a unit of the tracker's pause gate: a
		// paused prune removes nothing more until resumed.
		if err := o.Progress.Begin(ctx); err != nil {
			return res, err
		}
		if err := r.pruneDir(filepath.Join(top, d.Name()), d.Name(), used, old, remove, &res); err != nil {
			o.Progress.End()
			return res, err
		}
		o.Progress.End()
	}

	// Notes of images that are gone, and temporary files in images/.
	idir := filepath.Join(r.dir, imagesDir)
	ents, err := os.ReadDir(idir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("prune: list %s: %w", idir, err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, e := range ents {
		n := e.Name()
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || !old(fi) {
			continue
		}
		switch {
		case strings.HasPrefix(n, tmpPrefix):
			if err := remove(filepath.Join(idir, n)); err != nil {
				return res, err
			}
			res.Temps++
			res.TempBytes += fi.Size()
		case strings.HasSuffix(n, noteExt):
			img := strings.TrimSuffix(n, noteExt)
			if image.ValidName(img) != nil || have[img] {
				continue
			}
			if ok, err := r.HasImage(img); err != nil || ok {
				continue
			}
			if err := remove(filepath.Join(idir, n)); err != nil {
				return res, err
			}
			res.Notes++
		}
	}
	if !o.DryRun && res.Chunks+res.Temps > 0 {
		if err := r.Sync(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// pruneDir removes the unused chunks and old temporary files of one chunk
// directory, counting in res.
func (r *Repo) pruneDir(dir, prefix string, used map[image.Hash]bool, old func(os.FileInfo) bool, remove func(string) error, res *PruneResult) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune: list %s: %w", dir, err)
	}
	for _, e := range ents {
		n := e.Name()
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("prune: %s: %w", filepath.Join(dir, n), err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		switch {
		case strings.HasPrefix(n, tmpPrefix):
			if old(fi) {
				if err := remove(filepath.Join(dir, n)); err != nil {
					return err
				}
				res.Temps++
				res.TempBytes += fi.Size()
			}
		case strings.HasSuffix(n, chunkExt):
			id, err := image.ParseHash(strings.TrimSuffix(n, chunkExt))
			if err != nil || !strings.HasPrefix(n, prefix) {
				continue // not ours: left alone
			}
			switch {
			case used[id]:
				res.InUse++
				res.InUseBytes += fi.Size()
			case !old(fi):
				res.Kept++
				res.KeptBytes += fi.Size()
			default:
				if err := remove(filepath.Join(dir, n)); err != nil {
					return err
				}
				res.Chunks++
				res.Bytes += fi.Size()
			}
		}
	}
	return nil
}
