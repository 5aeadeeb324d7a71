package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
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
	target := pos[0]
	r, err := repo.Open(*repoDir)
	if err != nil {
		return err
	}
	codec, err := repo.NewCodec(repo.LevelDefault, *workers)
	if err != nil {
		return err
	}
	defer codec.Close()
	im, err := r.OpenImage(*name, codec)
	if err != nil {
		return err
	}
	m := im.M
	dev, err := safety.CheckRestoreTarget(inventory.DefaultSource(), target, *repoDir)
	if err != nil {
		return err
	}
	lss := *sector
	if lss == 0 {
		lss = m.Disk.LogicalSectorSize
	}
	dst, err := disk.Open(target, disk.Options{Write: true, CreateSize: m.Disk.Size, SectorSize: lss})
	if err != nil {
		return err
	}
	created := dst.Created()
	defer func() {
		cerr := dst.Close()
		if err == nil {
			err = cerr
		}
		if err != nil && created {
			// A disk image file we made that does not hold the whole
			// image must not look like one.
			os.Remove(target)
		}
	}()
	if err := dst.Lock(true); err != nil {
		return err
	}
	plan, err := engine.PlanRestore(im, dst.Size(), dst.LogicalSectorSize())
	if err != nil {
		return fmt.Errorf("restore %s onto %s: %w", m.Name, target, err)
	}
	if !created && !*yes {
		if err := e.confirm(dev, dst, m, plan); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "restoring %s (%s) onto %s\n", m.Name, human(m.Disk.Size), dev.Describe())
	tr := &progress.Tracker{}
	stop := showProgress(e.stderr, tr, *quiet)
	sum, err := engine.Restore(ctx, im, dst, engine.RestoreOptions{
		Workers: *workers, TargetReadsZeros: created, SkipHoles: *skipHoles, Progress: tr,
	})
	stop()
	if err != nil {
		if !created {
			err = fmt.Errorf("%w\n%s now holds a partial restore and will not boot; fix the cause and restore again", err, target)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s onto %s\n", m.Name, target)
	fmt.Fprintf(e.stdout, "  wrote  %s from %d chunks in %.1f s (%s)\n", human(sum.BytesWritten), sum.Chunks, sum.Seconds, rate(m.Disk.Size, sum.Seconds))
	holeWord := "zeroed"
	if created || *skipHoles {
		holeWord = "left as they were"
	}
	fmt.Fprintf(e.stdout, "  holes  %s %s\n", human(sum.HoleBytes), holeWord)
	for _, c := range sum.Changes {
		fmt.Fprintln(e.stdout, "  note  ", c)
	}
	if *verify {
		if err := dst.DropCache(); err != nil {
			return err
		}
		tr := &progress.Tracker{}
		stop := showProgress(e.stderr, tr, *quiet)
		rep, err := engine.VerifyTarget(ctx, im, dst, engine.VerifyOptions{Workers: *workers, Progress: tr})
		stop()
		for _, p := range rep.Problems {
			fmt.Fprintln(e.stdout, "  DIFFERS", p)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "  verified: the disk reads back identical to the image (%s in %.1f s)\n", human(rep.Bytes), rep.Seconds)
	}
	if dst.IsBlockDevice() {
		if err := dst.RereadPartitions(); err != nil {
			fmt.Fprintf(e.stdout, "  warning: %v; the new partitions appear after a reboot or `partprobe %s`\n", err, target)
		}
	}
	return nil
}

// confirm shows what the restore destroys and asks for the target's name.
func (e *env) confirm(dev safety.Device, dst *disk.Disk, m *image.Manifest, plan *engine.Plan) error {
	w := e.stderr
	fmt.Fprintf(w, "\nTARGET  %s, %s\n", dev.Describe(), human(dst.Size()))
	if t, err := ptable.Read(dst, dst.Size(), dst.LogicalSectorSize()); err != nil {
		fmt.Fprintf(w, "        current contents unreadable: %v\n", err)
	} else if t.Type == ptable.TypeNone {
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
	for _, c := range plan.Changes {
		fmt.Fprintln(w, "NOTE   ", c)
	}
	word := filepath.Base(dev.Path)
	if dev.Disk != nil {
		word = dev.Disk.Name
	}
	fmt.Fprintf(w, "\nEverything on %s will be destroyed. Type %q to continue: ", dev.Path, word)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	answer := strings.TrimSpace(line)
	if answer != word && answer != dev.Path {
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
