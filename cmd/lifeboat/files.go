package main

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/imagemount"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// filesEntry is one entry of files ls --json.
type filesEntry struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"` // "file", "dir", "link", "other"
	Size    int64     `json:"size"`
	Mode    string    `json:"mode"`
	ModTime time.Time `json:"mtime"`
	Target  string    `json:"target,omitempty"`
}

func (e *env) files(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "ls" && args[0] != "cp") {
		return usageError("files needs ls or cp: lifeboat files ls|cp --repo DIR --name NAME --part N ...")
	}
	op := args[0]
	fs := newFlags("files")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	part := fs.Int("part", -1, "partition number")
	recursive := fs.Bool("r", false, "copy directories with everything in them")
	asJSON := fs.Bool("json", false, "JSON output")
	quiet := fs.Bool("quiet", false, "no progress")
	pos, err := parse(fs, args[1:], e.stderr)
	if err != nil {
		return err
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	if op == "cp" && len(pos) < 2 {
		return usageError("files cp needs what to copy and where to: PATH... DEST")
	}
	if op == "ls" && len(pos) > 1 {
		return usageError("files ls takes one path")
	}
	im, err := ops.OpenImage(e.opsEnv(), *repoDir, *name)
	if err != nil {
		return err
	}
	defer im.Close()
	logw := newReadErrorLog(e.stderr)
	b, err := imagemount.Browse(ctx, im, imagemount.Options{OnError: logw.log})
	if err != nil {
		return err
	}
	defer b.Close()
	if *part < 0 {
		if len(b.Parts) == 1 {
			*part = b.Parts[0].Number
		} else if op == "ls" && len(pos) == 0 {
			return e.listParts(b, *asJSON)
		} else {
			var nums []string
			for _, p := range b.Parts {
				nums = append(nums, p.Folder)
			}
			return usageError("the image has several partitions; say which with --part N (" + strings.Join(nums, ", ") + ")")
		}
	}
	fsys, err := b.FS(*part)
	if err != nil {
		return err
	}
	if op == "ls" {
		p := "/"
		if len(pos) == 1 {
			p = pos[0]
		}
		return e.listFiles(fsys, p, *asJSON)
	}
	tr := &progress.Tracker{}
	stop := showProgress(e.stderr, tr, *quiet || *asJSON)
	sum, err := imagemount.Copy(ctx, fsys, pos[:len(pos)-1], pos[len(pos)-1], imagemount.CopyOptions{Recursive: *recursive, Progress: tr})
	stop()
	if *asJSON {
		if jerr := printJSON(e.stdout, sum); jerr != nil {
			return jerr
		}
	} else if sum.Files+sum.Dirs+sum.Links > 0 {
		fmt.Fprintf(e.stdout, "copied %s (%s), %s, %s to %s\n", count(int64(sum.Files), "file"), human(sum.Bytes), count(int64(sum.Dirs), "folder"), count(int64(sum.Links), "link"), pos[len(pos)-1])
		for _, f := range sum.Failed {
			fmt.Fprintf(e.stdout, "NOT COPIED %s: %s\n", f.Path, f.Err)
		}
	}
	return err
}

func (e *env) listParts(b *imagemount.Browser, asJSON bool) error {
	if asJSON {
		return printJSON(e.stdout, b.Parts)
	}
	for _, p := range b.Parts {
		what := p.FSType
		if what == "" {
			what = "-"
		}
		line := fmt.Sprintf("%3d  %-8s %-16q %10s", p.Number, what, p.Label, human(p.Size))
		if b.Mounted != nil && p.Err != nil {
			line += "  cannot be read: " + p.Err.Error()
		}
		fmt.Fprintln(e.stdout, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(e.stdout, "(list a partition's files with --part N [PATH])")
	return nil
}

func (e *env) listFiles(fsys fs.FS, p string, asJSON bool) error {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	fi, err := fs.Stat(fsys, p)
	if err != nil {
		return err
	}
	var entries []filesEntry
	describe := func(name string, fi fs.FileInfo, full string) filesEntry {
		fe := filesEntry{Name: name, Size: fi.Size(), Mode: fi.Mode().String(), ModTime: fi.ModTime().UTC()}
		switch {
		case fi.IsDir():
			fe.Type, fe.Size = "dir", 0
		case fi.Mode()&fs.ModeSymlink != 0:
			fe.Type = "link"
			fe.Target, _ = fs.ReadLink(fsys, full)
		case fi.Mode().IsRegular():
			fe.Type = "file"
		default:
			fe.Type = "other"
		}
		return fe
	}
	if !fi.IsDir() {
		entries = append(entries, describe(path.Base(p), fi, p))
	} else {
		des, err := fs.ReadDir(fsys, p)
		if err != nil {
			return err
		}
		for _, d := range des {
			full := path.Join(p, d.Name())
			fi, err := d.Info()
			if err != nil {
				return fmt.Errorf("%s: %w", full, err)
			}
			entries = append(entries, describe(d.Name(), fi, full))
		}
	}
	if asJSON {
		if entries == nil {
			entries = []filesEntry{}
		}
		return printJSON(e.stdout, entries)
	}
	for _, fe := range entries {
		name := fe.Name
		if fe.Type == "dir" {
			name += "/"
		}
		if fe.Target != "" {
			name += " -> " + fe.Target
		}
		fmt.Fprintf(e.stdout, "%s %10d %s %s\n", fe.Mode, fe.Size, fe.ModTime.Format("2006-01-02 15:04"), name)
	}
	return nil
}
