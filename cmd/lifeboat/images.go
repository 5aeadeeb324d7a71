package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

func (e *env) images(ctx context.Context, args []string) error {
	fs := newFlags("images")
	repoDir := repoFlag(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("images takes no arguments")
	}
	if err := needRepoName(*repoDir, "", false); err != nil {
		return err
	}
	r, err := repo.Open(*repoDir)
	if err != nil {
		return err
	}
	names, err := r.Images()
	if err != nil {
		return err
	}
	type entry struct {
		*image.Manifest
		ID    string `json:"id"`
		Error string `json:"error,omitempty"`
	}
	list := make([]entry, 0, len(names))
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.ReadManifest(n)
		if err != nil {
			list = append(list, entry{Manifest: &image.Manifest{Name: n}, Error: err.Error()})
			continue
		}
		list = append(list, entry{Manifest: m, ID: m.ID.String()})
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stdout, "no images in %s\n", r.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tDISK\tDATA\tSTORED\tTABLE\tSOURCE")
	for _, m := range list {
		if m.Error != "" {
			fmt.Fprintf(tw, "%s\tDAMAGED: %s\n", m.Name, m.Error)
			continue
		}
		src := strings.TrimSpace(m.Disk.Model)
		if m.Disk.Serial != "" {
			src += " (" + m.Disk.Serial + ")"
		}
		if src == "" {
			src = m.Disk.Path
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s, %d parts\t%s\n", m.Name, m.Created.Local().Format("2006-01-02 15:04"),
			human(m.Disk.Size), human(m.Stats.DataBytes), human(m.Stats.StoredBytes), m.Table.Type, len(m.Table.Partitions), src)
	}
	return tw.Flush()
}
