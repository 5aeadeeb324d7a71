package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// cloneResult is what `lifeboat clone --json` prints.
type cloneResult struct {
	Source   string               `json:"source"`
	Target   string               `json:"target"`
	Layout   layout.Kind          `json:"layout"`
	Planned  bool                 `json:"planned_only,omitempty"`
	Read     int64                `json:"bytes_read"`
	Written  int64                `json:"bytes_written"`
	Holes    int64                `json:"hole_bytes"`
	Seconds  float64              `json:"seconds"`
	Verified *engine.VerifyReport `json:"verified,omitempty"`
	Changes  []string             `json:"changes"`
	Boot     *engine.BootReport   `json:"boot,omitempty"`
	Warnings []string             `json:"warnings"`
}

func (e *env) clone(ctx context.Context, args []string) (err error) {
	fs := newFlags("clone")
	yes := fs.Bool("yes", false, "do not ask")
	planOnly := fs.Bool("plan", false, "print the plan, write nothing")
	layoutName := fs.String("layout", "", "keep, grow, scale or fit")
	growPart := fs.Int("grow", 0, "partition the grow layout enlarges")
	newID := fs.Bool("new-identity", false, "new disk, partition and file-system identifiers")
	verify := fs.Bool("verify", false, "read the target back and compare")
	allSectors := fs.Bool("all-sectors", false, "copy every sector, used or not")
	allowMounted := fs.Bool("allow-mounted", false, "copy a mounted source")
	scratch := fs.String("scratch", "", "directory for the ends of file systems being shrunk")
	bootEntry := fs.Bool("boot-entry", false, "give this machine's UEFI firmware a boot entry for the target")
	workers := fs.Int("workers", 0, "extents read and written at once")
	sourceSector := fs.Int("source-sector-size", 512, "logical sector size of a SOURCE file")
	sector := fs.Int("sector-size", 0, "logical sector size of a TARGET file")
	quiet := fs.Bool("quiet", false, "no progress")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError("clone takes a SOURCE and a TARGET")
	}
	kind, err := layout.ParseKind(*layoutName)
	if err != nil {
		return usageError(err.Error())
	}
	if *growPart != 0 && kind != layout.Grow {
		return usageError("--grow N goes with --layout grow")
	}
	job, err := ops.PrepareClone(e.opsEnv(), ops.CloneRequest{
		Source: pos[0], Target: pos[1], Workers: *workers, SourceSectorSize: *sourceSector, SectorSize: *sector,
		AllowMounted: *allowMounted, AllSectors: *allSectors, Verify: *verify,
		Layout: kind, Grow: *growPart, NewIdentity: *newID, PlanOnly: *planOnly, BootEntries: *bootEntry, Scratch: *scratch,
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := job.Close(); err == nil {
			err = cerr
		}
	}()
	out := cloneResult{Source: job.Source.Path, Target: job.Target.Path, Layout: job.Plan.Kind, Changes: []string{}, Warnings: []string{}}
	if *planOnly {
		if *asJSON {
			out.Planned = true
			out.Changes = append(out.Changes, job.Plan.Changes...)
			out.Warnings = append(out.Warnings, job.Warnings...)
			return cloneJSON(e.stdout, out)
		}
		writeSource(e.stdout, job)
		writePlan(e.stdout, job.RestoreJob)
		fmt.Fprintln(e.stdout, "nothing was written (--plan)")
		return nil
	}
	for _, w := range job.Warnings {
		fmt.Fprintln(e.stderr, "warning:", w)
	}
	if !job.Created && !*yes {
		writeTarget(e.stderr, job.RestoreJob)
		writeSource(e.stderr, job)
		fmt.Fprintln(e.stderr)
		writePlan(e.stderr, job.RestoreJob)
		if err := e.ask(job.RestoreJob); err != nil {
			return err
		}
	}
	size := job.Disk.Manifest().Disk.Size
	fmt.Fprintf(e.stderr, "cloning %s (%s) onto %s\n", job.Source.Describe(), human(size), job.Target.Describe())
	tr := &progress.Tracker{}
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	res, err := job.Run(ctx, tr)
	stop()
	if res.Verified != nil && !*asJSON {
		for _, p := range res.Verified.Problems {
			fmt.Fprintln(e.stdout, "  DIFFERS", p)
		}
	}
	if err != nil {
		return err
	}
	out.Read, out.Written, out.Holes, out.Seconds = job.Disk.BytesRead(), res.BytesWritten, res.HoleBytes, res.Seconds
	out.Verified, out.Boot = res.Verified, res.Boot
	out.Changes = append(out.Changes, res.Changes...)
	out.Warnings = append(append(out.Warnings, job.Warnings...), res.Warnings...)
	if *asJSON {
		return cloneJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "cloned %s onto %s (%s layout)\n", job.Source.Path, job.Target.Path, job.Plan.Kind)
	rest := ""
	if out.Read < size {
		rest = "; the rest is not used by file systems"
	}
	fmt.Fprintf(e.stdout, "  read   %s of %s in %.1f s (%s)%s\n", human(out.Read), human(size), res.Seconds, rate(size, res.Seconds), rest)
	fmt.Fprintf(e.stdout, "  wrote  %s\n", human(res.BytesWritten))
	holeWord := "zeroed"
	if job.HolesLeft() {
		holeWord = "left as the new file has them (zeros)"
	}
	fmt.Fprintf(e.stdout, "  unused %s %s\n", human(res.HoleBytes), holeWord)
	for _, c := range res.Changes {
		fmt.Fprintln(e.stdout, "  note  ", c)
	}
	if v := res.Verified; v != nil {
		fmt.Fprintf(e.stdout, "  verified: the target reads back as the source was read, where the plan put it (%s in %.1f s)\n", human(v.Bytes), v.Seconds)
	}
	if res.Boot != nil {
		for _, l := range res.Boot.Lines() {
			fmt.Fprintln(e.stdout, "  boot  ", l)
		}
		for _, p := range res.Boot.Problems {
			fmt.Fprintln(e.stdout, "  warning: boot:", p)
		}
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(e.stdout, "  warning:", w)
	}
	return nil
}

// writeSource shows the disk being cloned and how each partition is read.
func writeSource(w io.Writer, job *ops.CloneJob) {
	m := job.Disk.Manifest()
	fmt.Fprintf(w, "SOURCE  %s, %s, %s table, %d partitions:\n", job.Source.Describe(), human(m.Disk.Size), m.Table.Type, len(m.Table.Partitions))
	for _, p := range m.Table.Partitions {
		fs := cmp.Or(p.FileSystem, "-")
		fmt.Fprintf(w, "          #%-2d %-6s %9s, read %9s: %s\n", p.Number, fs, human(p.Size), human(p.UsedBytes), cmp.Or(p.Capture, "-"))
	}
}

// cloneJSON writes the clone's result as indented JSON.
func cloneJSON(w io.Writer, v cloneResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
