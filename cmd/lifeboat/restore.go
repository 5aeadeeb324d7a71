package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

func (e *env) restore(ctx context.Context, args []string) (err error) {
	fs := newFlags("restore")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	logDir := logDirFlag(fs)
	yes := fs.Bool("yes", false, "do not ask")
	verify := fs.Bool("verify", false, "read back and compare")
	skipHoles := fs.Bool("skip-holes", false, "leave holes untouched")
	workers := fs.Int("workers", 0, "workers")
	sector := fs.Int("sector-size", 0, "logical sector size of a file")
	planOnly := fs.Bool("plan", false, "print the plan, write nothing")
	layoutName := fs.String("layout", "", "keep, grow, scale or fit")
	growPart := fs.Int("grow", 0, "partition the grow layout enlarges")
	newID := fs.Bool("new-identity", false, "new disk, partition and file-system identifiers")
	scratch := fs.String("scratch", "", "directory for the ends of file systems being shrunk")
	bootEntry := fs.Bool("boot-entry", false, "give this machine's UEFI firmware a boot entry for the disk")
	quiet := fs.Bool("quiet", false, "no progress")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("restore takes one TARGET")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	kind, err := layout.ParseKind(*layoutName)
	if err != nil {
		return usageError(err.Error())
	}
	if *growPart != 0 && kind != layout.Grow {
		return usageError("--grow N goes with --layout grow")
	}
	job, err := ops.PrepareRestore(e.opsEnv(), ops.RestoreRequest{
		Repo: *repoDir, Name: *name, Target: pos[0], Workers: *workers,
		SectorSize: *sector, SkipHoles: *skipHoles, Verify: *verify,
		Layout: kind, Grow: *growPart, NewIdentity: *newID, PlanOnly: *planOnly, Scratch: *scratch, BootEntries: *bootEntry,
	})
	if err != nil {
		return err
	}
	if *planOnly {
		defer job.Close()
		if *asJSON {
			out := newRestoreJSON(job)
			out.PlannedOnly = true
			return writeJSON(e.stdout, out)
		}
		writePlan(e.stdout, job)
		fmt.Fprintln(e.stdout, "nothing was written (--plan)")
		return nil
	}
	defer func() {
		if cerr := job.Close(); err == nil {
			err = cerr
		}
	}()
	m := job.Image.M
	if !job.Created && !*yes {
		if job.Current != nil {
			setContents(job.Current, job.CurrentParts()) // what the restore destroys, for the listing
		}
		if err := e.confirm(job); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "restoring %s (%s) onto %s\n", m.Name, human(m.Disk.Size), job.Target.Describe())
	tr := &progress.Tracker{}
	lg := e.startLog(job.StartLog(logDirs(*repoDir, *logDir)))
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	lg.Follow(tr)
	res, err := job.Run(ctx, tr)
	stop()
	ops.LogRestored(lg, res)
	e.finishLog(lg, err)
	if *asJSON {
		if err == nil || res.Verified != nil {
			out := restoreResultJSON(job, res)
			if err != nil {
				out.Result, out.Error = "failed", err.Error()
			}
			if jerr := writeJSON(e.stdout, out); jerr != nil && err == nil {
				err = jerr
			}
		}
		return err
	}
	if res.Verified != nil {
		for _, p := range res.Verified.Problems {
			fmt.Fprintln(e.stdout, "  DIFFERS", p)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s onto %s\n", m.Name, job.Target.Path)
	fmt.Fprintf(e.stdout, "  wrote  %s from %d chunks in %.1f s (%s)\n", human(res.BytesWritten), res.Chunks, res.Seconds, rate(m.Disk.Size, res.Seconds))
	holeWord := "zeroed"
	if job.HolesLeft() {
		holeWord = "left as they were"
	}
	fmt.Fprintf(e.stdout, "  holes  %s %s\n", human(res.HoleBytes), holeWord)
	for _, c := range res.Changes {
		fmt.Fprintln(e.stdout, "  note  ", c)
	}
	if v := res.Verified; v != nil {
		what := "the disk reads back identical to the image"
		if !job.Plan.Identity() {
			what = "every partition reads back identical to the image where the plan put it, and the new table is in place"
		}
		fmt.Fprintf(e.stdout, "  verified: %s (%s in %.1f s)\n", what, human(v.Bytes), v.Seconds)
	}
	if res.Boot != nil {
		for _, l := range res.Boot.Lines() {
			fmt.Fprintln(e.stdout, "  boot  ", l)
		}
		for _, p := range res.Boot.Problems {
			fmt.Fprintln(e.stdout, "  warning: boot:", p)
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stdout, "  warning:", w)
	}
	return nil
}

// confirm shows what the restore destroys and asks for the target's name
// or serial.
func (e *env) confirm(job *ops.RestoreJob) error {
	w := e.stderr
	m := job.Image.M
	writeTarget(w, job)
	src := m.Disk.Model
	if m.Disk.Serial != "" {
		src += " serial " + m.Disk.Serial
	}
	fmt.Fprintf(w, "IMAGE   %s, captured %s from %s, %s, %s table, %d partitions:\n",
		m.Name, m.Created.Local().Format("2006-01-02 15:04"), dash(strings.TrimSpace(src)), human(m.Disk.Size), m.Table.Type, len(m.Table.Partitions))
	writePartitions(w, m.Table.Partitions, "          ")
	fmt.Fprintln(w)
	writePlan(w, job)
	return e.ask(job)
}

// writeTarget shows the target and what is on it now.
func writeTarget(w io.Writer, job *ops.RestoreJob) {
	fmt.Fprintf(w, "\nTARGET  %s, %s\n", job.Target.Describe(), human(job.Size))
	if t, err := job.Current, job.CurrentErr; err != nil {
		fmt.Fprintf(w, "        current contents unreadable: %v\n", err)
	} else if t == nil || t.Type == ptable.TypeNone {
		fmt.Fprintln(w, "        no partition table (blank or unpartitioned)")
	} else {
		fmt.Fprintf(w, "        %s partition table, %d partitions:\n", t.Type, len(t.Partitions))
		writePartitions(w, t.Partitions, "          ")
	}
}

// ask asks for the target's name or serial.
func (e *env) ask(job *ops.RestoreJob) error {
	w, dev := e.stderr, job.Target
	word := filepath.Base(dev.Path)
	if dev.Disk != nil {
		word = dev.Disk.Name
	}
	fmt.Fprintf(w, "\nEverything on %s will be destroyed. Type %q to continue: ", dev.Path, word)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	answer := strings.TrimSpace(line)
	if !job.Confirms(answer) {
		if err != nil && answer == "" {
			return fmt.Errorf("%w (no answer; use --yes for unattended restores)", errNotConfirmed)
		}
		return fmt.Errorf("%w: you typed %q, not %q; nothing was written", errNotConfirmed, answer, word)
	}
	return nil
}

// writePlan prints how the image will be laid out on the target.
func writePlan(w io.Writer, job *ops.RestoreJob) {
	p, m := job.Plan, job.Manifest()
	fmt.Fprintf(w, "PLAN    %s layout: %s (%s, %s, %d-byte sectors) onto %s (%s, %d-byte sectors)\n",
		p.Kind, m.Name, m.Table.Type, human(p.Source.Size), p.Source.SectorSize, job.Target.Path, human(p.Target.Size), p.Target.SectorSize)
	if len(p.Parts) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "          #\tstart\tsize\twas\tfile system\twhat happens")
		for _, pt := range p.Parts {
			was := "same"
			if pt.Start != pt.Src.Start || pt.Size != pt.Src.Size {
				was = human(pt.Src.Start) + ", " + human(pt.Src.Size)
			}
			fsName := pt.Src.FileSystem
			if pt.Src.FSLabel != "" {
				fsName += fmt.Sprintf(" %q", pt.Src.FSLabel)
			}
			if pt.Extended {
				fsName = "extended"
			}
			fmt.Fprintf(tw, "          %d\t%s\t%s\t%s\t%s\t%s\n", pt.Number, human(pt.Start), human(pt.Size), was, dash(fsName), pt.Note)
		}
		tw.Flush()
	}
	for _, id := range p.IDs {
		where := "disk"
		if id.Partition > 0 {
			where = fmt.Sprintf("partition %d", id.Partition)
		}
		how := ""
		if id.Tool != "" {
			how = " (" + id.Tool + " after the restore)"
		}
		fmt.Fprintf(w, "NEW ID  %s %s: %s -> %s%s\n", where, id.What, id.Old, id.New, how)
	}
	if n := p.Scratch(); n > 0 {
		dir := job.Scratch()
		fmt.Fprintf(w, "SCRATCH %s in %s hold the ends of the file systems being shrunk until they are (--scratch DIR to choose)\n", human(n), dir)
	}
	for _, c := range p.Changes {
		fmt.Fprintln(w, "NOTE   ", c)
	}
	for _, s := range p.Skipped {
		fmt.Fprintln(w, "NOT    ", s)
	}
}

func writePartitions(w io.Writer, parts []ptable.Partition, indent string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s#\tSIZE\tSTART\tTYPE\tFS\tLABEL\tUSED\n", indent)
	for _, p := range parts {
		kind := p.TypeName
		if kind == "" {
			kind = p.Type
		}
		if p.Name != "" {
			kind += fmt.Sprintf(" %q", p.Name)
		}
		fs := p.FileSystem
		if fs == "vfat" && p.FSVersion != "" {
			fs = p.FSVersion
		}
		if p.Extended {
			fs = "extended"
		}
		// What the file system has in use: counted on the target, or
		// read by a capture of used blocks only (capture's UsedBytes is
		// the whole partition when it read every sector).
		used := "-"
		if p.UsedBytes > 0 && (p.Capture == "" || strings.HasPrefix(p.Capture, "used blocks")) {
			used = human(p.UsedBytes)
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\t%s\n", indent, p.Number, human(p.Size), human(p.Start), kind, dash(fs), dash(p.FSLabel), used)
	}
	tw.Flush()
}
