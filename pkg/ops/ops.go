package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/claim"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// Env is what every operation needs from the machine it runs on.
type Env struct {
	// Inventory is where disks are discovered; the zero value reads the
	// running system.
	Inventory inventory.Source
	// Tool names the program and its version, recorded in images.
	Tool string
	// Rescue is set in the rescue environment, which may mount efivarfs
	// to read and write the firmware's boot entries.
	Rescue bool
	// Claims, when set, is where jobs claim the disks they work on, before
	// their checks and until Close, so that the repository finder of the
	// rescue environment (on any console) stays off them; see package
	// claim. Nil: no claims, for hosts that run no finder.
	Claims *claim.Registry
}

// claimWait bounds how long a job waits for a look at the disks under way
// to finish before it claims its disks.
const claimWait = 2 * time.Minute

// claim claims devices for job (nothing when e.Claims is nil).
func (e Env) claim(job string, devices ...string) (*claim.Held, error) {
	if e.Claims == nil {
		return &claim.Held{}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimWait)
	defer cancel()
	h, err := e.Claims.Take(ctx, job, devices...)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("the %s cannot start: the disks have been looked at for repositories for over %v and the look has not finished (a failing drive?); try again: %w", job, claimWait, err)
	}
	return h, err
}

func (e Env) inventory() inventory.Source {
	if e.Inventory.SysRoot == "" {
		return inventory.DefaultSource()
	}
	return e.Inventory
}

// CaptureRequest says what to capture, where to and how.
type CaptureRequest struct {
	Source string // block device or disk image file
	Repo   string // repository directory; created when missing
	Name   string // image name
	Level  repo.Level
	// ExtentSize is 0 for engine.DefaultExtentSize.
	ExtentSize int64
	Workers    int
	// SectorSize is the logical sector size of a Source file (0: 512).
	SectorSize   int
	AllowMounted bool
	// AllSectors captures every sector, not only what file systems use.
	AllSectors bool
	// Note is the image's description (image.ValidNote).
	Note string
}

// CaptureJob is a capture whose checks passed and whose source is open.
type CaptureJob struct {
	Source   safety.Device
	Warnings []string // recorded in the image
	// Plan says how each partition will be read; its warnings (a file
	// system that is not clean, a map that cannot be read) are for the
	// user to see before the capture starts, and go in the image too.
	Plan *engine.CapturePlan
	Size int64
	Repo *repo.Repo

	env   Env
	req   CaptureRequest
	src   *disk.Disk
	claim *claim.Held
}

// PrepareCapture checks the request (name, safety rules), opens the source
// and the repository, and returns a job ready to run. Close it when done.
func PrepareCapture(env Env, req CaptureRequest) (_ *CaptureJob, err error) {
	if err := image.ValidName(req.Name); err != nil {
		return nil, err
	}
	if err := image.ValidNote(req.Note); err != nil {
		return nil, err
	}
	if req.Repo == "" {
		return nil, errors.New("capture: no repository given")
	}
	held, err := env.claim("capture of "+req.Source, req.Source)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			held.Release()
		}
	}()
	dev, warnings, err := safety.CheckCaptureSource(env.inventory(), req.Source, req.Repo, req.AllowMounted)
	if err != nil {
		return nil, err
	}
	lss := req.SectorSize
	if lss == 0 {
		lss = 512
	}
	src, err := disk.Open(req.Source, disk.Options{SectorSize: lss})
	if err != nil {
		return nil, err
	}
	if err := src.Lock(false); err != nil {
		src.Close()
		return nil, err
	}
	r, err := repo.Create(req.Repo)
	if err != nil {
		src.Close()
		return nil, err
	}
	if ok, err := r.HasImage(req.Name); err != nil {
		src.Close()
		return nil, err
	} else if ok {
		src.Close()
		return nil, fmt.Errorf("capture %s: %w in %s", req.Name, repo.ErrImageExists, r.Dir())
	}
	plan, err := engine.PlanCapture(src, req.AllSectors)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("capture %s: %w", req.Source, err)
	}
	src.Advise()
	return &CaptureJob{Source: dev, Warnings: warnings, Plan: plan, Size: src.Size(), Repo: r, env: env, req: req, src: src, claim: held}, nil
}

// Identity is what the image records about the source.
func (j *CaptureJob) Identity() image.Disk {
	id := image.Disk{Path: j.req.Source}
	if d := j.Source.Disk; d != nil {
		id = image.Disk{Path: d.Path, Model: d.Model, Vendor: d.Vendor, Serial: d.Serial, WWN: d.WWN, Transport: d.Transport}
	}
	return id
}

// Run captures. On error or cancellation no image is left in the
// repository.
func (j *CaptureJob) Run(ctx context.Context, tr *progress.Tracker) (*image.Manifest, error) {
	return engine.Capture(ctx, j.src, j.Repo, engine.CaptureOptions{
		Name: j.req.Name, Identity: j.Identity(), ExtentSize: j.req.ExtentSize,
		Workers: j.req.Workers, Level: j.req.Level, Tool: j.env.Tool,
		Progress: tr, Warnings: j.Warnings, Plan: j.Plan, Boot: j.firmwareBoot(), Note: j.req.Note,
	})
}

// firmwareBoot is the firmware's UEFI boot entries for the source disk
// (nil for a file, or where there are none).
func (j *CaptureJob) firmwareBoot() *image.Boot {
	if !j.src.IsBlockDevice() || j.Plan == nil {
		return nil
	}
	return firmwareBoot(j.Plan.Table, j.env.Rescue)
}

// Close releases the source and the claim on it.
func (j *CaptureJob) Close() error {
	err := j.src.Close()
	if cerr := j.claim.Release(); err == nil {
		err = cerr
	}
	return err
}

// RestoreRequest says which image goes onto which target, and how.
type RestoreRequest struct {
	Repo, Name string
	Target     string // block device, or a disk image file (created when missing)
	Workers    int
	// SectorSize is the logical sector size of a Target file (0: the
	// image's).
	SectorSize int
	// SkipHoles leaves the target's bytes where the image has nothing
	// used (holes and unused parts of extents) as they are.
	SkipHoles bool
	// Verify reads the target back after writing and compares it with the
	// image.
	Verify bool
	// Layout picks how partitions are laid out ("": the first of keep,
	// grow, scale, fit that works); Grow is the partition the grow layout
	// enlarges (0: the last).
	Layout layout.Kind
	Grow   int
	// NewIdentity gives the target new disk, partition and file-system
	// identifiers, and rewrites the references to them.
	NewIdentity bool
	// PlanOnly plans the restore and opens the target only to read its
	// size and table: the job cannot Run.
	PlanOnly bool
	// BootEntries gives the firmware of the machine Lifeboat runs on UEFI
	// boot entries for the restored disk (a disk of this machine, not a
	// file or a loop device), first in BootOrder.
	BootEntries bool
	// Scratch is the directory that holds the ends of file systems the
	// fit layout shrinks, until they are shrunk ("": the system's
	// temporary directory). It must not be on the target.
	Scratch string
}

// RestoreJob is a restore whose checks passed and whose target is open
// for writing (exclusively, and locked), but not written yet.
type RestoreJob struct {
	Image  *repo.Image
	Target safety.Device
	// Current is the target's partition table before the restore, with the
	// error that kept it from being read, if any.
	Current    *ptable.Table
	CurrentErr error
	Plan       *layout.Plan
	// Created is set when the target is a new file made for this restore.
	Created bool
	Size    int64

	req    RestoreRequest
	env    Env
	src    engine.Image // what is written: Image, or a clone's source disk
	codec  *repo.Codec
	dst    *disk.Disk
	spill  *engine.Spill
	repo   *repo.Repo // where Image is, for its read lock while Run runs
	claim  *claim.Held
	failed bool
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	engine.RestoreSummary
	// Verified is set when the target was read back and matched.
	Verified *engine.VerifyReport
	// Warnings are things the user must know that did not fail the restore.
	Warnings []string
	// Boot is what the restored disk has for its firmware to boot it.
	Boot *engine.BootReport
}

// PrepareRestore opens the image, checks the target against the safety
// rules and the image's size and sector size, opens it for writing, and
// reads what is on it now. Nothing is written. Close the job when done.
func PrepareRestore(env Env, req RestoreRequest) (_ *RestoreJob, err error) {
	if req.Repo == "" {
		return nil, errors.New("restore: no repository given")
	}
	r, err := repo.Open(req.Repo)
	if err != nil {
		return nil, err
	}
	codec, err := repo.NewCodec(repo.LevelDefault, req.Workers)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			codec.Close()
		}
	}()
	im, err := r.OpenImage(req.Name, codec)
	if err != nil {
		return nil, err
	}
	m := im.M
	held, err := env.claim("restore to "+req.Target, req.Target)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || req.PlanOnly {
			held.Release() // a plan writes nothing: its claim covers the checks
		}
	}()
	dev, err := safety.CheckRestoreTarget(env.inventory(), req.Target, req.Repo)
	if err != nil {
		return nil, err
	}
	lss := req.SectorSize
	if lss == 0 {
		lss = m.Disk.LogicalSectorSize
	}
	job, err := openTarget(env, im, dev, req, lss)
	if err != nil {
		return nil, err
	}
	job.Image, job.codec, job.repo, job.claim = im, codec, r, held
	return job, nil
}

// openTarget checks nothing more: it opens the target of a restore of src
// for writing (exclusively, and locked), plans the restore and reads the
// target's current table; for req.PlanOnly, it only plans.
func openTarget(env Env, src engine.Image, dev safety.Device, req RestoreRequest, lss int) (_ *RestoreJob, err error) {
	m, verb := src.Manifest(), opName(src)
	if req.PlanOnly {
		return planOnly(src, dev, req, lss)
	}
	dst, err := disk.Open(req.Target, disk.Options{Write: true, CreateSize: m.Disk.Size, SectorSize: lss})
	if err != nil {
		return nil, err
	}
	job := &RestoreJob{Target: dev, Created: dst.Created(), Size: dst.Size(), req: req, env: env, src: src, dst: dst}
	defer func() {
		if err != nil {
			job.failed = true
			job.closeDisk()
		}
	}()
	if err := dst.Lock(true); err != nil {
		return nil, err
	}
	job.Plan, err = engine.PlanRestore(src, layout.Target{Size: dst.Size(), SectorSize: dst.LogicalSectorSize()}, layout.Options{Kind: req.Layout, Grow: req.Grow, NewIdentity: req.NewIdentity})
	if err != nil {
		return nil, fmt.Errorf("%s %s onto %s: %w", verb, m.Name, req.Target, err)
	}
	if job.spill, err = engine.NewSpill(job.scratchDirs(), job.Plan); err != nil {
		return nil, fmt.Errorf("%s %s onto %s: %w", verb, m.Name, req.Target, err)
	}
	if !job.Created {
		job.Current, job.CurrentErr = ptable.Read(dst, dst.Size(), dst.LogicalSectorSize())
	}
	return job, nil
}

// opName is what writing src is called in messages.
func opName(src engine.Image) string {
	if _, ok := src.(*engine.DiskImage); ok {
		return "clone"
	}
	return "restore"
}

// planOnly plans a restore without opening the target for writing; a
// target file that does not exist yet would be made the image's size.
func planOnly(src engine.Image, dev safety.Device, req RestoreRequest, lss int) (*RestoreJob, error) {
	m, verb := src.Manifest(), opName(src)
	job := &RestoreJob{Target: dev, req: req, src: src}
	t := layout.Target{Size: m.Disk.Size, SectorSize: lss}
	if _, err := os.Stat(req.Target); err == nil {
		d, err := disk.Open(req.Target, disk.Options{SectorSize: lss})
		if err != nil {
			return nil, err
		}
		t = layout.Target{Size: d.Size(), SectorSize: d.LogicalSectorSize()}
		job.Current, job.CurrentErr = ptable.Read(d, d.Size(), d.LogicalSectorSize())
		d.Close()
	} else {
		job.Created = true
	}
	job.Size = t.Size
	var err error
	job.Plan, err = engine.PlanRestore(src, t, layout.Options{Kind: req.Layout, Grow: req.Grow, NewIdentity: req.NewIdentity})
	if err != nil {
		return nil, fmt.Errorf("%s %s onto %s: %w", verb, m.Name, req.Target, err)
	}
	return job, nil
}

// scratchDirs are where the ends of shrunk file systems may be kept:
// RestoreRequest.Scratch, else the system's temporary directory, then the
// repository's (when it is writable).
func (j *RestoreJob) scratchDirs() []string {
	if j.req.Scratch != "" {
		return []string{j.req.Scratch}
	}
	if j.req.Repo == "" {
		return []string{os.TempDir()}
	}
	return []string{os.TempDir(), j.req.Repo}
}

// Manifest is the manifest of what the job writes: the image's, or for a
// clone the one a capture of the source disk would record.
func (j *RestoreJob) Manifest() *image.Manifest { return j.src.Manifest() }

// Scratch says where the restore keeps the ends of shrunk file systems:
// the directory it chose, or (planning only) where it would look.
func (j *RestoreJob) Scratch() string {
	if j.spill != nil {
		return j.spill.Dir
	}
	return strings.Join(j.scratchDirs(), " or ")
}

// ConfirmWord is what the user types to confirm that the target may be
// destroyed: the disk's serial number when it has one, else its kernel
// name (or a file's base name).
func (j *RestoreJob) ConfirmWord() string {
	if d := j.Target.Disk; d != nil {
		if d.Serial != "" {
			return d.Serial
		}
		return d.Name
	}
	return filepath.Base(j.Target.Path)
}

// Confirms reports whether answer confirms the restore: the ConfirmWord,
// or the target's kernel name or path.
func (j *RestoreJob) Confirms(answer string) bool {
	if answer == "" {
		return false
	}
	if answer == j.ConfirmWord() || answer == j.Target.Path {
		return true
	}
	d := j.Target.Disk
	return d != nil && (answer == d.Name || answer == d.Path)
}

// Run writes the image onto the target, then reads it back if the request
// asks to. tr is restarted for each stage.
func (j *RestoreJob) Run(ctx context.Context, tr *progress.Tracker) (res RestoreResult, err error) {
	if j.dst == nil {
		return res, errors.New("restore: the job was prepared to plan only")
	}
	if j.repo != nil {
		// A read lock while the restore runs: a delete or prune of the
		// image is refused meanwhile, rather than taking its chunks away
		// mid-restore. Taken here, not when the job was prepared, so that
		// what the job does before it runs (the UI remounting a found
		// repository writable for the job's log) is not held up by it.
		name := j.Image.M.Name
		lk, err := j.repo.LockRead(repo.OpRestore, name)
		if err != nil {
			return res, err
		}
		defer lk.Unlock()
		// The image may have been deleted or replaced since the job was
		// prepared; under the lock it can no longer be.
		m, err := j.repo.ReadManifest(name)
		if err != nil {
			return res, fmt.Errorf("restore %s: %w", name, err)
		}
		if m.ID != j.Image.M.ID {
			return res, fmt.Errorf("restore %s: the image was replaced since the restore was prepared (id %s, now %s); prepare it again", name, j.Image.M.ID, m.ID)
		}
	}
	// step is what runs after the data, for saying where a restore
	// stopped; tableWritten is set once the new table is in place.
	step, tableWritten := "", false
	defer func() {
		if err != nil {
			j.failed = true
			if !j.Created {
				s := res.RestoreSummary
				op := "restore"
				if j.Image == nil {
					op = "clone" // a clone writes a disk, not an image
				}
				err = &PartialError{Op: op, Target: j.Target.Describe(), Err: err, Done: s.Done, Total: s.Total,
					Cleared: s.Cleared, DataDone: s.DataDone, TableWritten: s.TableWritten || tableWritten, Step: step}
				if s.Cleared && j.dst.IsBlockDevice() {
					// The kernel still lists the old partitions: it is told
					// the disk has none now (or the new ones), so nothing
					// shows or mounts the old disk's partitions. A disk
					// whose partitions are in use refuses; then a reboot
					// does it.
					_ = j.dst.RereadPartitions()
				}
			}
		}
	}()
	// gated runs a step after the data as one unit of the tracker's
	// pause gate: a paused restore does not start it until resumed.
	gated := func(name string, fn func() error) error {
		step = name
		if err := tr.Begin(ctx); err != nil {
			return err
		}
		defer tr.End()
		return fn()
	}
	sum, err := engine.Restore(ctx, j.src, j.dst, engine.RestoreOptions{
		Workers: j.req.Workers, TargetReadsZeros: j.Created, SkipHoles: j.req.SkipHoles, Progress: tr, Layout: j.Plan, Spill: j.spill,
	})
	res.RestoreSummary = sum
	if err != nil {
		return res, err
	}
	if j.req.Verify {
		step = "reading it back"
		if err := j.dst.DropCache(); err != nil {
			return res, err
		}
		rep, err := engine.VerifyTarget(ctx, j.src, j.dst, engine.VerifyOptions{Workers: j.req.Workers, Progress: tr, UsedOnly: j.req.SkipHoles, Layout: j.Plan, Spill: j.spill})
		res.Verified = &rep
		if err != nil {
			return res, err
		}
	}
	// File systems restored into smaller partitions are shrunk into them
	// before anything else looks at them.
	if len(j.Plan.Shrunk()) > 0 {
		if err := j.dst.Sync(); err != nil {
			return res, err
		}
		var changes []string
		err := gated("shrinking its file systems", func() (err error) {
			changes, err = engine.ShrinkFileSystems(ctx, j.req.Target, j.Plan, j.spill, tr)
			return err
		})
		res.Changes = append(res.Changes, changes...)
		if err != nil {
			return res, err
		}
		if err := j.dst.DropCache(); err != nil {
			return res, err
		}
		j.spill.Close()
		tr.SetStage("writing the partition table")
		if err := gated("writing its partition table", func() error { return engine.WriteTable(j.dst, j.Plan) }); err != nil {
			return res, err
		}
		tableWritten = true
	}
	// What the plan does after the data: file systems grown, then new
	// identities set and the references to them rewritten.
	for _, after := range []struct {
		needed bool
		name   string
		run    func(context.Context, string, *layout.Plan, *progress.Tracker) ([]string, []string, error)
	}{
		{len(j.Plan.Grown()) > 0, "growing its file systems", engine.GrowFileSystems},
		{len(j.Plan.IDs) > 0, "giving it new identities", engine.ApplyIdentity},
	} {
		if !after.needed {
			continue
		}
		if err := j.dst.Sync(); err != nil {
			return res, err
		}
		var changes, warnings []string
		err := gated(after.name, func() (err error) {
			changes, warnings, err = after.run(ctx, j.req.Target, j.Plan, tr)
			return err
		})
		res.Changes = append(res.Changes, changes...)
		res.Warnings = append(res.Warnings, warnings...)
		if err != nil {
			return res, err
		}
	}
	// The boot check, after installing the fallback UEFI loader where an
	// EFI system partition lacks it.
	step = "checking that it boots"
	if err := tr.Begin(ctx); err != nil {
		return res, err
	}
	defer tr.End()
	if err := j.dst.Sync(); err != nil {
		return res, err
	}
	if tbl, err := ptable.Read(j.dst, j.dst.Size(), j.dst.LogicalSectorSize()); err == nil {
		installed, err := engine.InstallFallback(j.req.Target, tbl, time.Now())
		res.Changes = append(res.Changes, installed...)
		if err != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
		if err := j.dst.DropCache(); err == nil {
			rep := engine.CheckBoot(j.dst, j.dst.Size(), tbl)
			if len(rep.UEFI) > 0 && !strings.HasPrefix(rep.UEFI[0], "no EFI system partition") {
				lines, problems := checkBootEntries(j.req.Target, tbl, j.Manifest())
				rep.UEFI = append(rep.UEFI, lines...)
				rep.Problems = append(rep.Problems, problems...)
			}
			res.Boot = &rep
		}
		if j.req.BootEntries && j.dst.IsBlockDevice() && !strings.HasPrefix(filepath.Base(j.req.Target), "loop") {
			changes, warnings := makeBootEntries(j.req.Target, tbl, j.Manifest(), j.env.Rescue)
			res.Changes = append(res.Changes, changes...)
			res.Warnings = append(res.Warnings, warnings...)
		}
	}
	if j.dst.IsBlockDevice() {
		if err := j.dst.RereadPartitions(); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%v; the new partitions appear after a reboot or `partprobe %s`", err, j.req.Target))
		}
	}
	return res, nil
}

// HolesLeft reports whether holes were left as they were rather than
// zeroed (a new file reads as zeros; SkipHoles leaves them).
func (j *RestoreJob) HolesLeft() bool { return j.Created || j.req.SkipHoles }

// Close releases the target. A target file that this job created and that
// does not hold the whole image is removed, so it cannot pass for a disk
// image.
func (j *RestoreJob) Close() error {
	j.spill.Close()
	err := j.closeDisk()
	if j.codec != nil {
		j.codec.Close()
	}
	if cerr := j.claim.Release(); err == nil {
		err = cerr
	}
	return err
}

func (j *RestoreJob) closeDisk() error {
	if j.dst == nil {
		return nil
	}
	err := j.dst.Close()
	j.dst = nil
	if j.failed && j.Created {
		os.Remove(j.req.Target)
	}
	return err
}

// PartialError says a restore of an existing target stopped, failed or
// cancelled, and what it left on the target: it is made from what the
// engine reports (how far it got, whether the old table was cleared and
// the new one written), so its message says exactly what state the disk
// is in and what to do.
type PartialError struct {
	// Op is "restore" ("" too) or "clone".
	Op string
	// Target is the target as the user knows it: path, model, serial.
	Target string
	Err    error
	// Done of Total bytes of the image were written.
	Done, Total int64
	// Cleared says the target's old partition table was cleared (before
	// any data was written); DataDone that all the image's data was
	// written; TableWritten that the new partition table is in place.
	Cleared, DataDone, TableWritten bool
	// Step is what was under way after the data ("growing its file
	// systems"); "" while the data was written.
	Step string
}

func (e *PartialError) Error() string {
	cancelled := errors.Is(e.Err, context.Canceled)
	op, again, from := "restore", "Restore", "the image"
	if e.Op == "clone" {
		op, again, from = "clone", "Clone", "the source disk"
	}
	var state string
	switch {
	case !e.Cleared:
		if cancelled {
			return fmt.Sprintf("%s cancelled before anything was written: %s is unchanged", op, e.Target)
		}
		return fmt.Sprintf("%v\nnothing was written: %s is unchanged", e.Err, e.Target)
	case !e.DataDone && e.Done == 0:
		state = fmt.Sprintf("at %s of %s: no data was written, but the partition table of %s was cleared: it holds no valid partition table and will not boot",
			units.Bytes(e.Done), units.Bytes(e.Total), e.Target)
	case !e.DataDone:
		state = fmt.Sprintf("at %s of %s: %s is partly written and holds no valid partition table; it will not boot",
			units.Bytes(e.Done), units.Bytes(e.Total), e.Target)
	case !e.TableWritten:
		state = fmt.Sprintf("while %s: %s holds all the data of %s but no valid partition table yet; it will not boot", e.Step, e.Target, from)
	case cancelled:
		state = fmt.Sprintf("while %s: %s holds all of %s and its partition table, but %s did not finish", e.Step, e.Target, from, e.Step)
	case errors.Is(e.Err, engine.ErrVerifyFailed):
		// Read back, the disk is not what was written: say so, not that
		// reading failed.
		return fmt.Sprintf("%v\n%s wrote all of %s and its partition table to %s, but read back the disk differs from it (see above): do not trust it. Check the disk's health (a failing disk or cable), then %s again.",
			e.Err, op, from, e.Target, op)
	default:
		state = fmt.Sprintf("while %s: %s holds all of %s and its partition table, but %s failed", e.Step, e.Target, from, e.Step)
	}
	if cancelled {
		return fmt.Sprintf("%s cancelled %s. %s again to finish (%s is unchanged).", op, state, again, from)
	}
	return fmt.Sprintf("%v\n%s stopped %s. Fix the cause and %s again.", e.Err, op, state, op)
}

func (e *PartialError) Unwrap() error { return e.Err }

// VerifyRequest says which image to check, and optionally a disk to
// compare with it.
type VerifyRequest struct {
	Repo, Name string
	Target     string // "" for none
	Workers    int
}

// VerifyResult holds the reports of a verification.
type VerifyResult struct {
	Image  *image.Manifest
	Chunks engine.VerifyReport
	// Target is set when a disk was compared.
	Target *engine.VerifyReport
}

// Verify checks every chunk of an image, then compares the target disk
// with the image when one is given. The error is engine.ErrVerifyFailed
// (wrapped) when the reports list problems.
func Verify(ctx context.Context, req VerifyRequest, tr *progress.Tracker) (res VerifyResult, err error) {
	r, err := repo.Open(req.Repo)
	if err != nil {
		return res, err
	}
	codec, err := repo.NewCodec(repo.LevelDefault, req.Workers)
	if err != nil {
		return res, err
	}
	defer codec.Close()
	if err := image.ValidName(req.Name); err != nil {
		return res, err
	}
	lk, err := r.LockRead(repo.OpVerify, req.Name)
	if err != nil {
		return res, err
	}
	defer lk.Unlock()
	im, err := r.OpenImage(req.Name, codec)
	if err != nil {
		return res, err
	}
	res.Image = im.M
	res.Chunks, err = engine.Verify(ctx, r, im.M, engine.VerifyOptions{Workers: req.Workers, Progress: tr})
	if err != nil || req.Target == "" {
		return res, err
	}
	d, err := disk.Open(req.Target, disk.Options{SectorSize: im.M.Disk.LogicalSectorSize})
	if err != nil {
		return res, err
	}
	defer d.Close()
	if err := d.DropCache(); err != nil {
		return res, err
	}
	rep, err := engine.VerifyTarget(ctx, im, d, engine.VerifyOptions{Workers: req.Workers, Progress: tr})
	res.Target = &rep
	return res, err
}

// ImageInfo is one image of a repository, for listings.
type ImageInfo struct {
	Name     string
	Manifest *image.Manifest // nil when Err is set
	Err      error
	// Note is the image's note (set later, else given at capture).
	Note string
	// Usage is what its chunks take in the repository, and what only it
	// uses.
	Usage repo.Usage
}

// ListImages reads every manifest of a repository once, with each image's
// note and usage. A manifest that cannot be read is listed with its error
// rather than failing the listing.
func ListImages(repoDir string) ([]ImageInfo, error) {
	r, err := repo.Open(repoDir)
	if err != nil {
		return nil, err
	}
	names, err := r.Images()
	if err != nil {
		return nil, err
	}
	out := make([]ImageInfo, 0, len(names))
	ms := make([]*image.Manifest, 0, len(names))
	for _, n := range names {
		m, err := r.ReadManifest(n)
		info := ImageInfo{Name: n, Manifest: m, Err: err}
		if err == nil {
			if info.Note, err = r.NoteOf(m); err != nil {
				info.Note = m.Note
			}
		}
		out = append(out, info)
		ms = append(ms, m)
	}
	for i, u := range repo.ImageUsage(ms) {
		out[i].Usage = u
	}
	return out, nil
}
