package main

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

func (e *env) restore(ctx context.Context, args []string) (err error) {
	fs := newFlags("restore")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	yes := fs.Bool("yes", false, "do not ask")
	verify := fs.Bool("verify", false, "read back and compare")
	skipHoles := fs.Bool("skip-holes", false, "leave holes untouched")
	workers := fs.Int("workers", 0, "workers")
	sector := fs.Int("sector-size", 0, "logical sector size of a file")
	quiet := fs.Bool("quiet", false, "no progress")
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
	job, err := ops.PrepareRestore(e.opsEnv(), ops.RestoreRequest{
		Repo: *repoDir, Name: *name, Target: pos[0], Workers: *workers,
		SectorSize: *sector, SkipHoles: *skipHoles, Verify: *verify,
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := job.Close(); err == nil {
			err = cerr
		}
	}()
	m := job.Image.M
	if !job.Created && !*yes {
		if err := e.confirm(job); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "restoring %s (%s) onto %s\n", m.Name, human(m.Disk.Size), job.Target.Describe())
	tr := &progress.Tracker{}
	stop := showProgress(e.stderr, tr, *quiet)
	res, err := job.Run(ctx, tr)
	stop()
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
		fmt.Fprintf(e.stdout, "  verified: the disk reads back identical to the image (%s in %.1f s)\n", human(v.Bytes), v.Seconds)
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
	dev, m := job.Target, job.Image.M
	fmt.Fprintf(w, "\nTARGET  %s, %s\n", dev.Describe(), human(job.Size))
	if t, err := job.Current, job.CurrentErr; err != nil {
		fmt.Fprintf(w, "        current contents unreadable: %v\n", err)
	} else if t == nil || t.Type == ptable.TypeNone {
		fmt.Fprintln(w, "        no partition table (blank or unpartitioned)")
	} else {
		fmt.Fprintf(w, "        %s partition table, %d partitions:\n", t.Type, len(t.Partitions))
		writePartitions(w, t.Partitions, "          ")
	}
	src := m.Disk.Model
	if m.Disk.Serial != "" {
		src += " serial " + m.Disk.Serial
	}
	fmt.Fprintf(w, "IMAGE   %s, captured %s from %s, %s, %s table, %d partitions:\n",
		m.Name, m.Created.Local().Format("2006-01-02 15:04"), dash(strings.TrimSpace(src)), human(m.Disk.Size), m.Table.Type, len(m.Table.Partitions))
	writePartitions(w, m.Table.Partitions, "          ")
	for _, c := range job.Plan.Changes {
		fmt.Fprintln(w, "NOTE   ", c)
	}
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

func writePartitions(w interface{ Write([]byte) (int, error) }, parts []ptable.Partition, indent string) {
	for _, p := range parts {
		kind := p.TypeName
		if kind == "" {
			kind = p.Type
		}
		label := ""
		if p.Name != "" {
			label = fmt.Sprintf(" %q", p.Name)
		}
		fmt.Fprintf(w, "%s#%d  %10s at %s  %s%s\n", indent, p.Number, human(p.Size), human(p.Start), kind, label)
	}
}
