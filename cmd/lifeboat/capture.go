package main

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

var levels = map[string]repo.Level{
	"fastest": repo.LevelFastest, "fast": repo.LevelFast,
	"better": repo.LevelBetter, "best": repo.LevelBest, "default": repo.LevelDefault,
}

func (e *env) capture(ctx context.Context, args []string) error {
	fs := newFlags("capture")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	logDir := logDirFlag(fs)
	level := fs.String("level", "better", "compression level")
	extent := fs.String("extent-size", "4M", "extent size")
	workers := fs.Int("workers", 0, "workers")
	sector := fs.Int("sector-size", 512, "logical sector size of a file")
	allowMounted := fs.Bool("allow-mounted", false, "capture a mounted disk")
	allSectors := fs.Bool("all-sectors", false, "capture every sector, used or not (forensic copy)")
	quiet := fs.Bool("quiet", false, "no progress")
	asJSON := fs.Bool("json", false, "JSON output")
	note := fs.String("note", "", "a description kept with the image")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("capture takes one SOURCE")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	if err := image.ValidNote(*note); err != nil {
		return usageError("--note: " + err.Error())
	}
	lvl, ok := levels[*level]
	if !ok {
		return usageError(fmt.Sprintf("--level %q: want fastest, fast, better or best", *level))
	}
	es, err := parseSize(*extent)
	if err != nil || es < image.MinExtentSize || es > image.MaxExtentSize || es&(es-1) != 0 {
		return usageError(fmt.Sprintf("--extent-size %q: want a power of two from 64K to 64M", *extent))
	}
	job, err := ops.PrepareCapture(e.opsEnv(), ops.CaptureRequest{
		Source: pos[0], Repo: *repoDir, Name: *name, Level: lvl, ExtentSize: es,
		Workers: *workers, SectorSize: *sector, AllowMounted: *allowMounted,
		AllSectors: *allSectors, Note: *note,
	})
	if err != nil {
		return err
	}
	defer job.Close()
	r := job.Repo
	for _, w := range append(append([]string(nil), job.Warnings...), job.Plan.Warnings...) {
		fmt.Fprintln(e.stderr, "warning:", w)
	}
	fmt.Fprintf(e.stderr, "capturing %s (%s) into %s as %q\n", job.Source.Describe(), human(job.Size), r.Dir(), *name)
	tr := &progress.Tracker{}
	lg := e.startLog(job.StartLog(logDirs(r.Dir(), *logDir)))
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	lg.Follow(tr)
	m, err := job.Run(ctx, tr)
	stop()
	if err == nil {
		ops.LogCaptured(lg, m)
	}
	e.finishLog(lg, err)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, newCaptureJSON(m, filepath.Clean(r.Dir()), job.Source.Path))
	}
	s := m.Stats
	fmt.Fprintf(e.stdout, "captured %s: image %s in %s\n", m.Name, m.ID, filepath.Clean(r.Dir()))
	fmt.Fprintf(e.stdout, "  read        %s of %s in %.1f s (%s)", human(s.BytesRead), human(m.Disk.Size), s.Seconds, rate(s.BytesRead, s.Seconds))
	if s.UnusedBytes > 0 {
		fmt.Fprintf(e.stdout, "; %s unused by file systems skipped", human(s.UnusedBytes))
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "  data        %s in %d chunks (%d distinct); %s of zeros stored as holes\n", human(s.DataBytes), s.Chunks, s.UniqueChunks, human(s.HoleBytes))
	fmt.Fprintf(e.stdout, "  stored new  %s in %d chunks (%s before compression); %d chunks were already in the repository\n", human(s.NewBytes), s.NewChunks, human(s.NewRawBytes), s.UniqueChunks-s.NewChunks)
	fmt.Fprintf(e.stdout, "  image size  %s compressed\n", human(s.StoredBytes))
	fmt.Fprintf(e.stdout, "  dedup ratio %s (data bytes per new byte before compression); compression %s\n", ratio(s.DataBytes, s.NewRawBytes), ratio(s.NewRawBytes, s.NewBytes))
	fmt.Fprintf(e.stdout, "  table       %s, %d partitions\n", m.Table.Type, len(m.Table.Partitions))
	for _, p := range m.Table.Partitions {
		if p.Capture == "" {
			continue
		}
		fs := p.FileSystem
		if p.FSVersion != "" && p.FileSystem == "vfat" {
			fs = p.FSVersion
		}
		fmt.Fprintf(e.stdout, "  partition %-2d %-6s %9s, read %9s: %s\n", p.Number, cmp.Or(fs, "-"), human(p.Size), human(p.UsedBytes), p.Capture)
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(e.stdout, "  warning:", w)
	}
	return nil
}

func ratio(a, b int64) string {
	if b == 0 {
		if a == 0 {
			return "-"
		}
		return "all deduplicated"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.2f", float64(a)/float64(b)), "0") + ":1"
}
