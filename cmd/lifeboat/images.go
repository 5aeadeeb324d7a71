package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// imageEntry is one image in `images --json`: the manifest's metadata,
// with the effective note and the repository usage.
type imageEntry struct {
	*image.Manifest
	ID    string `json:"id"`
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
	repo.Usage
}

func (e *env) images(ctx context.Context, args []string) error {
	fs := newFlags("images")
	repoDir := repoFlag(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	sortBy := fs.String("sort", "date", "sort by name, date (newest first) or size (largest on disk first)")
	filter := fs.String("filter", "", "only images whose name, note, or source model, serial or path contain TEXT")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("images takes no arguments")
	}
	if *sortBy != "name" && *sortBy != "date" && *sortBy != "size" {
		return usageError(fmt.Sprintf("--sort %q: want name, date or size", *sortBy))
	}
	if err := needRepoName(*repoDir, "", false); err != nil {
		return err
	}
	list, err := ops.ListImages(*repoDir)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	total := len(list)
	if *filter != "" {
		list = slices.DeleteFunc(list, func(im ops.ImageInfo) bool { return !matches(im, *filter) })
	}
	sortImages(list, *sortBy)
	if *asJSON {
		out := make([]imageEntry, 0, len(list))
		for _, im := range list {
			if im.Err != nil {
				out = append(out, imageEntry{Manifest: &image.Manifest{Name: im.Name}, Error: im.Err.Error()})
				continue
			}
			out = append(out, imageEntry{Manifest: im.Manifest, ID: im.Manifest.ID.String(), Note: im.Note, Usage: im.Usage})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(list) == 0 {
		if total > 0 {
			fmt.Fprintf(e.stdout, "none of the %d images in %s matches %q\n", total, *repoDir, *filter)
		} else {
			fmt.Fprintf(e.stdout, "no images in %s\n", *repoDir)
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tDISK\tDATA\tON DISK\tUNIQUE\tTABLE\tSOURCE\tNOTE")
	for _, im := range list {
		if im.Err != nil {
			fmt.Fprintf(tw, "%s\tDAMAGED: %s\n", im.Name, oneLine(im.Err.Error()))
			continue
		}
		m := im.Manifest
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s, %d parts\t%s\t%s\n", m.Name, m.Created.Local().Format("2006-01-02 15:04"),
			human(m.Disk.Size), human(m.Stats.DataBytes), human(im.Usage.Stored), human(im.Usage.Unique),
			m.Table.Type, len(m.Table.Partitions), oneLine(sourceOf(m.Disk)), oneLine(shorten(im.Note, 40)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *filter != "" {
		fmt.Fprintf(e.stdout, "%d of %d images match %q\n", len(list), total, *filter)
	}
	return nil
}

// matches reports whether an image's name, note or source identity
// contains text (case-insensitive).
func matches(im ops.ImageInfo, text string) bool {
	fields := []string{im.Name, im.Note}
	if m := im.Manifest; m != nil {
		fields = append(fields, m.Disk.Model, m.Disk.Vendor, m.Disk.Serial, m.Disk.WWN, m.Disk.Path)
	}
	text = strings.ToLower(text)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// sortImages sorts by name, date (newest first) or size on disk (largest
// first); ties by name. Unreadable images go last.
func sortImages(list []ops.ImageInfo, by string) {
	slices.SortStableFunc(list, func(a, b ops.ImageInfo) int {
		if (a.Manifest == nil) != (b.Manifest == nil) {
			if a.Manifest == nil {
				return 1
			}
			return -1
		}
		c := 0
		if a.Manifest != nil {
			switch by {
			case "date":
				c = b.Manifest.Created.Compare(a.Manifest.Created)
			case "size":
				c = cmp.Compare(b.Usage.Stored, a.Usage.Stored)
			}
		}
		return cmp.Or(c, strings.Compare(a.Name, b.Name))
	})
}

func sourceOf(d image.Disk) string {
	src := strings.TrimSpace(d.Model)
	if d.Serial != "" {
		src += " (" + d.Serial + ")"
	}
	if src == "" {
		src = d.Path
	}
	return src
}

// oneLine makes text fit one line of a table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r < ' ' {
			return ' '
		}
		return r
	}, s)
}

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
