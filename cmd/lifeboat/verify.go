package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

func (e *env) verify(ctx context.Context, args []string) error {
	fs := newFlags("verify")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	logDir := logDirFlag(fs)
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
	type result struct {
		Image  string               `json:"image"`
		ID     string               `json:"id"`
		Chunks engine.VerifyReport  `json:"chunks"`
		Target *engine.VerifyReport `json:"target,omitempty"`
		OK     bool                 `json:"ok"`
	}
	tr := &progress.Tracker{}
	req := ops.VerifyRequest{Repo: *repoDir, Name: *name, Target: *target, Workers: *workers}
	lg := e.startLog(ops.StartVerifyLog(logDirs(*repoDir, *logDir), req))
	lg.Follow(tr)
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	vr, err := ops.Verify(ctx, req, tr)
	stop()
	ops.LogVerified(lg, vr)
	e.finishLog(lg, err)
	if vr.Image == nil {
		return err
	}
	var terr error
	if vr.Target != nil {
		terr, err = err, nil
	}
	res := result{Image: vr.Image.Name, ID: vr.Image.ID.String(), Chunks: vr.Chunks, Target: vr.Target}
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
				vr.Image.Name, res.Chunks.Chunks, human(res.Chunks.Bytes), res.Chunks.Seconds, rate(res.Chunks.Bytes, res.Chunks.Seconds))
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
