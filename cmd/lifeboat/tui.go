package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	bootpkg "github.com/lifeboat-dev/lifeboat/pkg/boot"
	"github.com/lifeboat-dev/lifeboat/pkg/claim"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/tui"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func (e *env) tui(ctx context.Context, args []string) error {
	fs := newFlags("tui")
	var repos, files listFlag
	fs.Var(&repos, "repo", "repository directory (repeatable)")
	fs.Var(&files, "disk", "disk image file to show as a disk (repeatable)")
	find := fs.Bool("find", true, "look for repositories on the attached disks")
	mountRoot := fs.String("mount-root", "/run/lifeboat/mnt", "where found file systems are mounted")
	noColor := fs.Bool("no-color", false, "no colours")
	boot := fs.Bool("boot", false, "run as the rescue environment's console")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("tui takes no arguments")
	}
	if len(repos) == 0 {
		if r := os.Getenv("LIFEBOAT_REPO"); r != "" {
			repos = append(repos, r)
		}
	}
	// The UI's jobs claim their disks where its finder looks for claims
	// (see package claim): beside the mount root, which for the default
	// root is where the command line's jobs claim theirs too.
	claims := &claim.Registry{Dir: filepath.Join(filepath.Dir(*mountRoot), "claims")}
	env := e.rescueEnv(*boot)
	env.Claims = claims
	cfg := tui.Config{
		Env: env, Repos: repos, Files: files, Boot: *boot, Version: version,
		NoColor: *noColor || os.Getenv("NO_COLOR") != "",
	}
	if *boot {
		cfg.Status = bootpkg.ReadFirmware("/sys").String()
		cfg.JobLock = "/run/lifeboat/job.lock"
		cfg.Loading = func() bool {
			_, err := os.Stat(bootpkg.LoadingMarker)
			return err == nil
		}
	}
	if *find && os.Geteuid() == 0 {
		cfg.Find = &repofind.Finder{MountRoot: *mountRoot, Source: inventory.DefaultSource(), Claims: *claims}
	}
	return tui.Run(ctx, cfg)
}
