package ops

import (
	"fmt"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// LogDirs are where the log of a job on repository repoDir goes: the
// repository's logs directory, then the fallbacks in order (for a
// repository that cannot be written).
func LogDirs(repoDir string, fallback ...string) []string {
	if repo.IsRemote(repoDir) {
		return fallback // a web server's repository is read-only
	}
	return append([]string{joblog.Dir(repoDir)}, fallback...)
}

// StartLog begins the capture's log in the first of dirs it can write
// (LogDirs): the source disk, the image, the repository, the options and
// the warnings seen so far. Run's result goes in with LogCaptured.
func (j *CaptureJob) StartLog(dirs []string) (*joblog.Log, error) {
	l, err := joblog.Create(dirs, "capture", j.req.Name, time.Now())
	if err != nil {
		return nil, err
	}
	l.Repo(j.Repo.Dir())
	l.Source(joblog.DiskOf(j.req.Source, j.Source.Disk, j.Size))
	level := j.req.Level
	if level == 0 {
		level = repo.LevelDefault
	}
	extent := j.req.ExtentSize
	if extent == 0 {
		extent = engine.DefaultExtentSize
	}
	l.Printf("options: compression %v, extent size %s, workers %s, all sectors %t, allow mounted %t; %s",
		level, units.Bytes(extent), workers(j.req.Workers), j.req.AllSectors, j.req.AllowMounted, j.env.Tool)
	if j.Plan != nil && j.Plan.Table != nil {
		l.Printf("partition table: %s, %d partitions", j.Plan.Table.Type, len(j.Plan.Table.Partitions))
	}
	for _, w := range j.Warnings {
		l.Warn(w)
	}
	if j.Plan != nil {
		for _, w := range j.Plan.Warnings {
			l.Warn(w)
		}
	}
	return l, nil
}

// workers names a worker count as a request gives it.
func workers(n int) string {
	if n <= 0 {
		return "one per CPU"
	}
	return fmt.Sprint(n)
}

// StartLog begins the restore's log in the first of dirs it can write:
// the image, the target disk, the repository, the options and the plan.
func (j *RestoreJob) StartLog(dirs []string) (*joblog.Log, error) {
	m := j.Image.M
	l, err := joblog.Create(dirs, "restore", m.Name, time.Now())
	if err != nil {
		return nil, err
	}
	l.Repo(j.req.Repo)
	l.ImageID(m.ID.String())
	l.Printf("image: %s, captured %s from %s (serial %q), %s", m.Name, m.Created.UTC().Format(time.RFC3339), m.Disk.Model, m.Disk.Serial, units.Bytes(m.Disk.Size))
	l.Target(joblog.DiskOf(j.req.Target, j.Target.Disk, j.Size))
	l.Printf("options: verify %t, skip holes %t, new identity %t, boot entries %t, workers %s, new file %t",
		j.req.Verify, j.req.SkipHoles, j.req.NewIdentity, j.req.BootEntries, workers(j.req.Workers), j.Created)
	if j.CurrentErr != nil {
		l.Warn(fmt.Sprintf("the target's partition table before the restore could not be read: %v", j.CurrentErr))
	} else if t := j.Current; t != nil {
		l.Printf("target before: %s table, %d partitions", t.Type, len(t.Partitions))
	}
	if p := j.Plan; p != nil {
		l.Printf("plan: %s layout", p.Kind)
		for _, pt := range p.Parts {
			l.Printf("plan: partition %d at %s, %s: %s", pt.Number, units.Bytes(pt.Start), units.Bytes(pt.Size), pt.Note)
		}
		for _, c := range p.Changes {
			l.Printf("plan: %s", c)
		}
	}
	return l, nil
}

// LogRestored writes what Run did into the restore's log.
func LogRestored(l *joblog.Log, res RestoreResult) {
	l.Printf("wrote %s from %d chunks in %.1f s (%s); holes %s", units.Bytes(res.BytesWritten), res.Chunks, res.Seconds, units.Rate(res.BytesWritten, res.Seconds), units.Bytes(res.HoleBytes))
	for _, c := range res.Changes {
		l.Printf("change: %s", c)
	}
	if v := res.Verified; v != nil {
		for _, p := range v.Problems {
			l.Error("differs: " + p.String())
		}
		l.Printf("verified: %s compared in %.1f s, %d problems", units.Bytes(v.Bytes), v.Seconds, len(v.Problems))
	}
	if b := res.Boot; b != nil {
		for _, line := range b.Lines() {
			l.Printf("boot: %s", line)
		}
		for _, p := range b.Problems {
			l.Warn("boot: " + p)
		}
	}
	for _, w := range res.Warnings {
		l.Warn(w)
	}
}

// StartVerifyLog begins the log of a verification in the first of dirs it
// can write.
func StartVerifyLog(dirs []string, req VerifyRequest) (*joblog.Log, error) {
	l, err := joblog.Create(dirs, "verify", req.Name, time.Now())
	if err != nil {
		return nil, err
	}
	l.Repo(req.Repo)
	if req.Target != "" {
		l.Printf("compared with: %s", req.Target)
	}
	return l, nil
}

// LogVerified writes what Verify found into its log.
func LogVerified(l *joblog.Log, res VerifyResult) {
	if res.Image != nil {
		l.ImageID(res.Image.ID.String())
	}
	c := res.Chunks
	for _, p := range c.Problems {
		l.Error("damaged: " + p.String())
	}
	l.Printf("chunks: %d checked, %s in %.1f s (%s), %d problems", c.Chunks, units.Bytes(c.Bytes), c.Seconds, units.Rate(c.Bytes, c.Seconds), len(c.Problems))
	if t := res.Target; t != nil {
		for _, p := range t.Problems {
			l.Error("differs: " + p.String())
		}
		l.Printf("target: %s compared in %.1f s, %d problems", units.Bytes(t.Bytes), t.Seconds, len(t.Problems))
	}
}

// LogCaptured writes what the capture stored into its log.
func LogCaptured(l *joblog.Log, m *image.Manifest) {
	l.ImageID(m.ID.String())
	s := m.Stats
	l.Printf("read %s of %s in %.1f s (%s); %s unused by file systems skipped", units.Bytes(s.BytesRead), units.Bytes(m.Disk.Size), s.Seconds, units.Rate(s.BytesRead, s.Seconds), units.Bytes(s.UnusedBytes))
	l.Printf("stored %s new in %d new chunks of %d (%d distinct); %s of zeros as holes; image %s compressed",
		units.Bytes(s.NewBytes), s.NewChunks, s.Chunks, s.UniqueChunks, units.Bytes(s.HoleBytes), units.Bytes(s.StoredBytes))
	for _, p := range m.Table.Partitions {
		if p.Capture != "" {
			l.Printf("partition %d: %s, %s, read %s: %s", p.Number, p.FileSystem, units.Bytes(p.Size), units.Bytes(p.UsedBytes), p.Capture)
		}
	}
}

// RepoDir is the repository the image is restored from.
func (j *RestoreJob) RepoDir() string { return j.req.Repo }
