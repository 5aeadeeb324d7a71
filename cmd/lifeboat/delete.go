package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// exact is a size for people with its exact byte count: "12.0 MiB
// (12582912 bytes)".
func exact(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%s (%d bytes)", human(n), n)
}

// count is "1 chunk", "2 chunks".
func count(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// findImage lists the repository's images and returns name's, or an
// error that lists the images there are.
func findImage(repoDir, name string) (ops.ImageInfo, []ops.ImageInfo, error) {
	list, err := ops.ListImages(repoDir)
	if err != nil {
		return ops.ImageInfo{}, nil, err
	}
	for _, im := range list {
		if im.Name == name {
			return im, list, nil
		}
	}
	return ops.ImageInfo{}, list, noImage(repoDir, name, list)
}

// noImage says that name is not an image of the repository, and which
// images are.
func noImage(repoDir, name string, list []ops.ImageInfo) error {
	if len(list) == 0 {
		return fmt.Errorf("image %q in %s: %w (the repository holds no images)", name, repoDir, repo.ErrNoImage)
	}
	names := make([]string, len(list))
	for i, im := range list {
		names[i] = im.Name
	}
	return fmt.Errorf("image %q in %s: %w; the images are: %s", name, repoDir, repo.ErrNoImage, strings.Join(names, ", "))
}

// lockHint adds to a refusal for locks what can be done about it.
func lockHint(err error) error {
	var le *repo.LockedError
	if errors.As(err, &le) && le.AllStale() {
		return fmt.Errorf("%w\nthe holders are gone: --remove-stale-locks removes their locks", err)
	}
	if errors.As(err, &le) {
		return fmt.Errorf("%w\nwait for it to finish and try again", err)
	}
	return err
}

// removeStale removes stale locks when asked to, saying which.
func (e *env) removeStale(r *repo.Repo, do bool) error {
	if !do {
		return nil
	}
	removed, err := r.RemoveStaleLocks()
	for _, l := range removed {
		fmt.Fprintf(e.stderr, "removed stale lock %s: %s\n", l.ID, l)
	}
	return err
}

func (e *env) deleteImage(ctx context.Context, args []string) error {
	fs := newFlags("delete")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image to delete")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	dry := fs.Bool("dry-run", false, "say what would be reclaimed and delete nothing")
	stale := fs.Bool("remove-stale-locks", false, "remove the locks of operations whose process is gone first")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("delete takes no arguments: give --name NAME")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	r, err := repo.Open(*repoDir)
	if err != nil {
		return err
	}
	im, _, err := findImage(*repoDir, *name)
	if err != nil {
		return err
	}
	describeImage(e.stderr, im)
	if *dry {
		res, err := r.Delete(ctx, *name, repo.PruneOptions{DryRun: true})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, res)
		}
		fmt.Fprintf(e.stdout, "would delete %s and reclaim %s in %s\n", *name, exact(res.Prune.Reclaimed()), count(res.Prune.Chunks, "chunk"))
		writeLeftovers(e.stdout, res.Prune, res.Usage)
		fmt.Fprintln(e.stdout, "nothing was deleted (--dry-run)")
		return nil
	}
	if !*yes {
		fmt.Fprintf(e.stderr, "\nThe image cannot be brought back. Type %q to delete it: ", *name)
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if strings.TrimSpace(line) != *name {
			fmt.Fprintln(e.stderr, "\nnothing was deleted")
			return errNotConfirmed
		}
	}
	if err := e.removeStale(r, *stale); err != nil {
		return err
	}
	res, err := r.Delete(ctx, *name, repo.PruneOptions{})
	if err != nil {
		return lockHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "deleted %s; reclaimed %s in %s\n", *name, exact(res.Prune.Reclaimed()), count(res.Prune.Chunks, "chunk"))
	writeLeftovers(e.stdout, res.Prune, res.Usage)
	return nil
}

// describeImage shows what a delete is about to remove.
func describeImage(w io.Writer, im ops.ImageInfo) {
	if im.Err != nil {
		fmt.Fprintf(w, "image %s: unreadable (%v)\n", im.Name, im.Err)
		return
	}
	m := im.Manifest
	fmt.Fprintf(w, "image %s: captured %s from %s (%s disk)\n", m.Name, m.Created.Local().Format("2006-01-02 15:04"), dash(sourceOf(m.Disk)), human(m.Disk.Size))
	if im.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", oneLine(im.Note))
	}
	fmt.Fprintf(w, "  %s on disk in %s; %s in %s no other image uses\n", human(im.Usage.Stored), count(im.Usage.Chunks, "chunk"), exact(im.Usage.Unique), count(im.Usage.UniqueChunks, "chunk"))
}

// writeLeftovers says what a delete reclaimed beyond the image's own
// chunks, and what it left because it was new.
func writeLeftovers(w io.Writer, p repo.PruneResult, u repo.Usage) {
	if extra := p.Chunks - u.UniqueChunks; extra > 0 && p.Bytes > u.Unique {
		fmt.Fprintf(w, "  of which %s in %s no image used before (left by earlier deletes or interrupted captures)\n", exact(p.Bytes-u.Unique), count(extra, "chunk"))
	}
	if p.Temps > 0 {
		fmt.Fprintf(w, "  and %d temporary files of interrupted writes (%s)\n", p.Temps, exact(p.TempBytes))
	}
	if p.Kept > 0 {
		fmt.Fprintf(w, "  %d unused chunks (%s) were kept: they were written after the prune began\n", p.Kept, exact(p.KeptBytes))
	}
}

func (e *env) prune(ctx context.Context, args []string) error {
	fs := newFlags("prune")
	repoDir := repoFlag(fs)
	dry := fs.Bool("dry-run", false, "say what would be removed and remove nothing")
	stale := fs.Bool("remove-stale-locks", false, "remove the locks of operations whose process is gone first")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("prune takes no arguments")
	}
	if err := needRepoName(*repoDir, "", false); err != nil {
		return err
	}
	r, err := repo.Open(*repoDir)
	if err != nil {
		return err
	}
	if !*dry {
		if err := e.removeStale(r, *stale); err != nil {
			return err
		}
	}
	res, err := r.Prune(ctx, repo.PruneOptions{DryRun: *dry})
	if err != nil {
		return lockHint(err)
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	fmt.Fprintf(e.stdout, "%s %s no image uses: %s\n", verb, count(res.Chunks, "chunk"), exact(res.Bytes))
	if res.Temps > 0 {
		fmt.Fprintf(e.stdout, "%s %d temporary files of interrupted writes: %s\n", verb, res.Temps, exact(res.TempBytes))
	}
	if res.Notes > 0 {
		fmt.Fprintf(e.stdout, "%s %d notes of deleted images\n", verb, res.Notes)
	}
	if res.Kept > 0 {
		fmt.Fprintf(e.stdout, "kept %d unused chunks (%s) written after the prune began\n", res.Kept, exact(res.KeptBytes))
	}
	fmt.Fprintf(e.stdout, "%s in use by %s: %s\n", count(res.InUse, "chunk"), count(int64(res.Images), "image"), exact(res.InUseBytes))
	if *dry {
		fmt.Fprintln(e.stdout, "nothing was removed (--dry-run)")
	}
	return nil
}

func (e *env) note(ctx context.Context, args []string) error {
	fs := newFlags("note")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image")
	clear := fs.Bool("clear", false, "remove the note")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("note takes one TEXT (quote it)")
	}
	if len(pos) == 1 && *clear {
		return usageError("note takes TEXT or --clear, not both")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	r, err := repo.Open(*repoDir)
	if err != nil {
		return err
	}
	im, _, err := findImage(*repoDir, *name)
	if err != nil {
		return err
	}
	type noteJSON struct {
		Image   string `json:"image"`
		Note    string `json:"note"`
		Changed bool   `json:"changed"`
	}
	if len(pos) == 0 && !*clear {
		if *asJSON {
			return printJSON(e.stdout, noteJSON{Image: *name, Note: im.Note})
		}
		if im.Note != "" {
			fmt.Fprintln(e.stdout, im.Note)
		}
		return nil
	}
	text := ""
	if len(pos) == 1 {
		text = strings.TrimSpace(pos[0])
		if err := image.ValidNote(text); err != nil {
			return usageError(err.Error())
		}
	}
	if err := r.SetNote(*name, text); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, noteJSON{Image: *name, Note: text, Changed: true})
	}
	if text == "" {
		fmt.Fprintf(e.stdout, "note of %s removed\n", *name)
	} else {
		fmt.Fprintf(e.stdout, "note of %s set\n", *name)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
