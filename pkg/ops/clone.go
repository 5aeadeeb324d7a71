package ops

import (
	"context"
	"fmt"
	"runtime"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
)

// CloneRequest says which disk to copy onto which, and how: a capture's
// reading and a restore's writing with nothing stored in between.
type CloneRequest struct {
	Source string // block device or disk image file
	Target string // block device, or a disk image file (created the source's size when missing)
	// Workers is how many extents are read and written at once (0: one per
	// CPU, at least 4, so that reading and writing overlap).
	Workers int
	// SourceSectorSize is the logical sector size of a Source file (0:
	// 512); SectorSize that of a Target file (0: the source's).
	SourceSectorSize, SectorSize int
	// AllowMounted reads a mounted source anyway (with a warning).
	AllowMounted bool
	// AllSectors copies every sector, not only what file systems use.
	AllSectors bool
	// Verify reads the target back and compares it with what was read
	// from the source (each extent's SHA-256 is taken as it is read).
	Verify bool
	// Layout, Grow, NewIdentity, PlanOnly, BootEntries and Scratch are as
	// in RestoreRequest.
	Layout      layout.Kind
	Grow        int
	NewIdentity bool
	PlanOnly    bool
	BootEntries bool
	Scratch     string
}

// CloneJob is a clone whose checks passed, whose source is open for
// reading and whose target is open for writing (both locked), planned but
// not written. The embedded RestoreJob is the writing half: Target,
// Current, Plan, Created, Size, ConfirmWord, Confirms, Manifest and Run
// are a restore's (its Image is nil: nothing comes from a repository).
type CloneJob struct {
	*RestoreJob
	Source safety.Device
	// Warnings are about the source (read while mounted) and its file
	// systems (read whole, not clean); the user sees them before the copy.
	Warnings []string
	// Disk is the source as an image: its table and what is read of it.
	Disk *engine.DiskImage

	src *disk.Disk
}

// PrepareClone checks the request (the source as a capture checks it, the
// target as a restore does, and that they are apart), opens both, reads
// the source's table and allocation maps, and plans the copy. Nothing is
// written. Close the job when done.
func PrepareClone(env Env, req CloneRequest) (_ *CloneJob, err error) {
	if req.Source == "" || req.Target == "" {
		return nil, fmt.Errorf("clone: a source and a target are needed")
	}
	held, err := env.claim("clone of "+req.Source+" to "+req.Target, req.Source, req.Target)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || req.PlanOnly {
			held.Release()
		}
	}()
	from, to, warnings, err := safety.CheckClone(env.inventory(), req.Source, req.Target, req.AllowMounted)
	if err != nil {
		return nil, err
	}
	slss := req.SourceSectorSize
	if slss == 0 {
		slss = 512
	}
	src, err := disk.Open(req.Source, disk.Options{SectorSize: slss})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()
	if err := src.Lock(false); err != nil {
		return nil, err
	}
	plan, err := engine.PlanCapture(src, req.AllSectors)
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", req.Source, err)
	}
	id := image.Disk{Path: req.Source}
	if d := from.Disk; d != nil {
		id = image.Disk{Path: d.Path, Model: d.Model, Vendor: d.Vendor, Serial: d.Serial, WWN: d.WWN, Transport: d.Transport}
	}
	var boot *image.Boot
	if src.IsBlockDevice() {
		boot = firmwareBoot(plan.Table, env.Rescue)
	}
	img, err := engine.NewDiskImage(src, engine.DiskImageOptions{
		Name: req.Source, Identity: id, Plan: plan, Warnings: warnings, Boot: boot, Hash: req.Verify,
	})
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", req.Source, err)
	}
	workers := req.Workers
	if workers == 0 {
		workers = max(4, runtime.GOMAXPROCS(0))
	}
	lss := req.SectorSize
	if lss == 0 {
		lss = src.LogicalSectorSize()
	}
	rj, err := openTarget(env, img, to, RestoreRequest{
		Target: req.Target, Workers: workers, SectorSize: lss, Verify: req.Verify,
		Layout: req.Layout, Grow: req.Grow, NewIdentity: req.NewIdentity, PlanOnly: req.PlanOnly,
		BootEntries: req.BootEntries, Scratch: req.Scratch,
	}, lss)
	if err != nil {
		return nil, err
	}
	src.Advise()
	rj.claim = held
	return &CloneJob{RestoreJob: rj, Source: from, Warnings: append(warnings, plan.Warnings...), Disk: img, src: src}, nil
}

// Run copies the source onto the target (only what file systems use, the
// rest zeroed or left as a new file has it), then does what a restore does
// after its data: verification when asked for, file systems shrunk or
// grown, new identities, the boot check and boot entries.
func (j *CloneJob) Run(ctx context.Context, tr *progress.Tracker) (RestoreResult, error) {
	return j.RestoreJob.Run(ctx, tr)
}

// Close releases the target (removing a target file the clone created
// and did not finish) and the source.
func (j *CloneJob) Close() error {
	err := j.RestoreJob.Close()
	if cerr := j.src.Close(); err == nil {
		err = cerr
	}
	return err
}
