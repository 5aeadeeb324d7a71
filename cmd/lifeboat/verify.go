package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

func (e *env) verify(ctx context.Context, args []string) error {
	fs := newFlags("verify")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	target := fs.String("target", "", "disk to compare")
	workers := fs.Int("workers", 0, "workers")
	asJSON := fs.Bool("json", false, "JSON output")
	quiet := fs.Bool("quiet", false, "no progress")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("verify takes no arguments; the disk to compare goes in --target")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
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
	type result struct {
		Image  string               `json:"image"`
		ID     string               `json:"id"`
		Chunks engine.VerifyReport  `json:"chunks"`
		Target *engine.VerifyReport `json:"target,omitempty"`
		OK     bool                 `json:"ok"`
	}
	res := result{Image: im.M.Name, ID: im.M.ID.String()}
	tr := &progress.Tracker{}
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	res.Chunks, err = engine.Verify(ctx, r, im.M, engine.VerifyOptions{Workers: *workers, Progress: tr})
	stop()
	var terr error
	if err == nil && *target != "" {
		d, oerr := disk.Open(*target, disk.Options{SectorSize: im.M.Disk.LogicalSectorSize})
		if oerr != nil {
			return oerr
		}
		defer d.Close()
		if err := d.DropCache(); err != nil {
			return err
		}
		tr := &progress.Tracker{}
		stop := showProgress(e.stderr, tr, *quiet || *asJSON)
		rep, verr := engine.VerifyTarget(ctx, im, d, engine.VerifyOptions{Workers: *workers, Progress: tr})
		stop()
		res.Target, terr = &rep, verr
	}
	res.OK = err == nil && terr == nil
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
	} else {
		for _, p := range res.Chunks.Problems {
			fmt.Fprintln(e.stdout, "DAMAGED", p)
		}
		if err == nil {
			fmt.Fprintf(e.stdout, "image %s: all %d chunks present and intact (%s checked in %.1f s, %s)\n",
				im.M.Name, res.Chunks.Chunks, human(res.Chunks.Bytes), res.Chunks.Seconds, rate(res.Chunks.Bytes, res.Chunks.Seconds))
		}
		if res.Target != nil {
			for _, p := range res.Target.Problems {
				fmt.Fprintln(e.stdout, "DIFFERS", p)
			}
			if terr == nil {
				fmt.Fprintf(e.stdout, "disk %s: identical to the image (%s compared in %.1f s)\n", *target, human(res.Target.Bytes), res.Target.Seconds)
			}
		}
	}
	if err != nil {
		return err
	}
	return terr
}
