package unattended

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// Config is what Run needs besides the plan.
type Config struct {
	Env ops.Env
	// MountRoot is where the repository's file system is mounted (empty:
	// repofind's default).
	MountRoot string
	// Logf reports each step, one line at a time; nil discards.
	Logf func(format string, a ...any)
	// Progress follows the bytes of the running job; nil is allowed.
	Progress *progress.Tracker
	// LogDirs are where each job's log goes when the repository's logs
	// directory cannot take it, in order.
	LogDirs []string
}

func (c Config) logf(format string, a ...any) {
	if c.Logf != nil {
		c.Logf(format, a...)
	}
}

// Run runs the plan's jobs in order and stops at the first failure.
func Run(ctx context.Context, p *Plan, cfg Config) error {
	src := cfg.Env.Inventory.WithDefaults()
	disks, err := inventory.Scan(src)
	if err != nil {
		return err
	}
	var source, target string
	if p.Has(JobCapture) {
		d, err := findDisk(disks, p.Source)
		if err != nil {
			return fmt.Errorf("%ssource: %w", Prefix, err)
		}
		source = d.Path
		cfg.logf("source: %s", describe(d))
	}
	if p.Has(JobRestore) {
		d, err := findDisk(disks, p.Target)
		if err != nil {
			return fmt.Errorf("%starget: %w", Prefix, err)
		}
		target = d.Path
		cfg.logf("target: %s", describe(d))
	}
	repoDir, closeRepo, err := openRepo(ctx, p, cfg, src, disks)
	if err != nil {
		return fmt.Errorf("%srepo: %w", Prefix, err)
	}
	defer func() {
		if err := closeRepo(); err != nil {
			cfg.logf("%v", err)
		}
	}()
	cfg.logf("repository: %s", repoDir)
	restored := false
	for _, job := range p.Jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch job {
		case JobCapture:
			err = capture(ctx, cfg, source, repoDir, p.Image)
		case JobVerify:
			against := ""
			if restored {
				against = target
			}
			err = verify(ctx, cfg, repoDir, p.Image, against)
		case JobRestore:
			err = restore(ctx, cfg, target, repoDir, p.Image, p.Layout, p.NewIdentity)
			restored = err == nil
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", job, p.Image, err)
		}
	}
	return nil
}

// startLog takes a job's new log and has it time the job's stages; a log
// that cannot be made is reported, and the job runs without.
func (c Config) startLog(l *joblog.Log, err error) *joblog.Log {
	if err != nil {
		c.logf("%v; the job runs without a log", err)
		return nil
	}
	l.Follow(c.Progress)
	return l
}

// finishLog ends a job's log and says where it is.
func (c Config) finishLog(l *joblog.Log, jobErr error) {
	if l == nil {
		return
	}
	p, err := l.Finish(jobErr)
	switch {
	case err != nil:
		c.logf("the job's log %s is incomplete: %v", p, err)
	case l.NotIn != "":
		c.logf("log saved in %s (not in the repository: %s)", p, l.NotIn)
	default:
		c.logf("log saved in %s", p)
	}
}

func (c Config) logDirs(repoDir string) []string { return ops.LogDirs(repoDir, c.LogDirs...) }

func capture(ctx context.Context, cfg Config, source, repoDir, name string) (err error) {
	job, err := ops.PrepareCapture(cfg.Env, ops.CaptureRequest{Source: source, Repo: repoDir, Name: name})
	if err != nil {
		return err
	}
	defer job.Close()
	for _, w := range job.Warnings {
		cfg.logf("warning: %s", w)
	}
	lg := cfg.startLog(job.StartLog(cfg.logDirs(repoDir)))
	defer func() { cfg.finishLog(lg, err) }()
	cfg.logf("capturing %s (%s) as %q", job.Source.Describe(), units.Bytes(job.Size), name)
	m, err := job.Run(ctx, cfg.Progress)
	if err != nil {
		return err
	}
	ops.LogCaptured(lg, m)
	s := m.Stats
	cfg.logf("captured %s: read %s in %.1f s, stored %s new (%d new chunks of %d), image %s",
		name, units.Bytes(s.BytesRead), s.Seconds, units.Bytes(s.NewBytes), s.NewChunks, s.Chunks, m.ID)
	return nil
}

func verify(ctx context.Context, cfg Config, repoDir, name, target string) (err error) {
	if target != "" {
		cfg.logf("verifying %s and comparing %s with it", name, target)
	} else {
		cfg.logf("verifying %s", name)
	}
	req := ops.VerifyRequest{Repo: repoDir, Name: name, Target: target}
	lg := cfg.startLog(ops.StartVerifyLog(cfg.logDirs(repoDir), req))
	defer func() { cfg.finishLog(lg, err) }()
	res, err := ops.Verify(ctx, req, cfg.Progress)
	ops.LogVerified(lg, res)
	for _, prob := range res.Chunks.Problems {
		cfg.logf("problem: %s", prob)
	}
	if res.Target != nil {
		for _, prob := range res.Target.Problems {
			cfg.logf("problem on %s: %s", target, prob)
		}
	}
	if err != nil {
		return err
	}
	cfg.logf("verified %s: every chunk present and matching its hash", name)
	return nil
}

func restore(ctx context.Context, cfg Config, target, repoDir, name string, kind layout.Kind, newID bool) (err error) {
	job, err := ops.PrepareRestore(cfg.Env, ops.RestoreRequest{Repo: repoDir, Name: name, Target: target, Layout: kind, NewIdentity: newID, BootEntries: true})
	if err != nil {
		return err
	}
	defer job.Close()
	cfg.logf("restoring %s onto %s, as the kernel command line says, %s layout", name, job.Target.Describe(), job.Plan.Kind)
	for _, pt := range job.Plan.Parts {
		cfg.logf("partition %d at %s, %s: %s", pt.Number, units.Bytes(pt.Start), units.Bytes(pt.Size), pt.Note)
	}
	lg := cfg.startLog(job.StartLog(cfg.logDirs(repoDir)))
	defer func() { cfg.finishLog(lg, err) }()
	res, err := job.Run(ctx, cfg.Progress)
	ops.LogRestored(lg, res)
	if err != nil {
		return err
	}
	for _, c := range res.Changes {
		cfg.logf("%s", c)
	}
	if res.Boot != nil {
		for _, l := range res.Boot.Lines() {
			cfg.logf("boot check: %s", l)
		}
	}
	for _, w := range res.Warnings {
		cfg.logf("warning: %s", w)
	}
	cfg.logf("restored %s onto %s", name, target)
	return nil
}

func describe(d *inventory.Disk) string {
	return safety.Device{Path: d.Path, Disk: d, Exists: true}.Describe() + " " + units.Bytes(d.Size)
}

// findDisk picks the one disk spec names.
func findDisk(disks []inventory.Disk, spec DiskSpec) (*inventory.Disk, error) {
	var match []*inventory.Disk
	for i := range disks {
		d := &disks[i]
		switch {
		case spec.Serial != "":
			if strings.EqualFold(strings.TrimSpace(d.Serial), strings.TrimSpace(spec.Serial)) {
				match = append(match, d)
			}
		case spec.WWN != "":
			if d.WWN != "" && normalWWN(d.WWN) == normalWWN(spec.WWN) {
				match = append(match, d)
			}
		default:
			if samePath(spec.Path, d.Path) {
				match = append(match, d)
			}
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		var have []string
		for _, d := range disks {
			s := d.Name
			if d.Serial != "" {
				s += " (serial " + d.Serial + ")"
			}
			have = append(have, s)
		}
		if len(have) == 0 {
			have = []string{"none"}
		}
		return nil, fmt.Errorf("no disk is %s; the disks are: %s", spec, strings.Join(have, ", "))
	}
	var names []string
	for _, d := range match {
		names = append(names, d.Name)
	}
	return nil, fmt.Errorf("%d disks are %s (%s); name the disk by its WWN or device path", len(match), spec, strings.Join(names, ", "))
}

// normalWWN drops the forms a WWN is written in: "naa.", "eui.", "0x",
// upper case.
func normalWWN(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"naa.", "eui.", "t10.", "wwn-", "0x"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// samePath reports whether two device paths name the same node, following
// symbolic links (/dev/disk/by-id/...).
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// openRepo finds the repository the plan names and returns its directory
// and a function that unmounts what was mounted for it.
func openRepo(ctx context.Context, p *Plan, cfg Config, src inventory.Source, disks []inventory.Disk) (string, func() error, error) {
	noop := func() error { return nil }
	spec := p.Repo
	if spec.Label == "" && spec.UUID == "" && spec.Device == "" {
		return spec.Dir, noop, nil
	}
	dev, disk, err := findFilesystem(disks, spec)
	if err != nil {
		return "", nil, err
	}
	f := &repofind.Finder{MountRoot: cfg.MountRoot, Source: src, Filter: func(d inventory.Disk) bool { return d.Name == disk }}
	res, err := f.Scan(ctx)
	if err != nil {
		f.Close()
		return "", nil, err
	}
	var found *repofind.Found
	for i := range res.Found {
		fd := &res.Found[i]
		if fd.Device != dev {
			continue
		}
		if spec.Dir != "" && filepath.Clean(fd.Dir) != filepath.Join(fd.MountPoint, spec.Dir) {
			continue
		}
		if found != nil {
			f.Close()
			return "", nil, fmt.Errorf("%s holds more than one repository (%s, %s): say which with %srepodir", dev, found.Dir, fd.Dir, Prefix)
		}
		found = fd
	}
	if found == nil {
		reason := "no Lifeboat repository there"
		for _, s := range res.Skipped {
			if s.Device == dev {
				reason = s.Reason
				if s.Err != nil {
					reason += ": " + s.Err.Error()
				}
			}
		}
		if spec.Dir != "" {
			reason += " (looked for " + spec.Dir + ")"
		}
		return "", nil, errors.Join(fmt.Errorf("%s (%s): %s", spec, dev, reason), f.Close())
	}
	if found.Err != nil {
		return "", nil, errors.Join(fmt.Errorf("%s: %w", found.Dir, found.Err), f.Close())
	}
	if p.Has(JobCapture) {
		if err := f.MakeWritable(found); err != nil {
			return "", nil, errors.Join(err, f.Close())
		}
	} else if err := f.MakeWritable(found); err != nil {
		// Only the job logs would be written: they go elsewhere.
		cfg.logf("the repository stays read-only (%v): job logs go elsewhere", err)
	}
	cfg.logf("repository on %s (%s), mounted at %s", dev, found.FSType, found.MountPoint)
	return found.Dir, f.Close, nil
}

// findFilesystem finds the one partition (or whole disk without
// partitions) whose file system the spec names, and returns its device path
// and its disk's kernel name.
func findFilesystem(disks []inventory.Disk, spec RepoSpec) (dev, disk string, err error) {
	type cand struct{ path, disk string }
	var cands []cand
	for _, d := range disks {
		if len(d.Partitions) == 0 {
			cands = append(cands, cand{d.Path, d.Name})
		}
		for _, pt := range d.Partitions {
			cands = append(cands, cand{pt.Path, d.Name})
		}
	}
	var match []cand
	for _, c := range cands {
		if spec.Device != "" {
			if samePath(spec.Device, c.path) {
				match = append(match, c)
			}
			continue
		}
		info, err := probe(c.path)
		if err != nil {
			continue
		}
		if (spec.Label != "" && info.Label == spec.Label) || (spec.UUID != "" && strings.EqualFold(info.UUID, spec.UUID)) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 1:
		return match[0].path, match[0].disk, nil
	case 0:
		return "", "", fmt.Errorf("no file system is %s", spec)
	}
	var names []string
	for _, m := range match {
		names = append(names, m.path)
	}
	return "", "", fmt.Errorf("%d file systems are %s (%s); name it by UUID or device", len(match), spec, strings.Join(names, ", "))
}

func probe(path string) (fsprobe.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return fsprobe.Info{}, err
	}
	defer f.Close()
	size, err := f.Seek(0, 2)
	if err != nil {
		return fsprobe.Info{}, err
	}
	return fsprobe.Probe(f, size)
}
