package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"golang.org/x/sys/unix"
)

type diskJSON struct {
	inventory.Disk
	Table   *ptable.Table `json:"table,omitempty"`
	TableOK string        `json:"table_error,omitempty"`
	InUse   []string      `json:"in_use"`
	// NoMedium: a drive of removable media that holds none (Size is then
	// 0, not the kernel's guess).
	NoMedium bool `json:"no_medium,omitempty"`
}

func (e *env) disks(ctx context.Context, args []string) error {
	fs := newFlags("disks")
	asJSON := fs.Bool("json", false, "JSON output")
	if pos, err := parse(fs, args, e.stderr); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("disks takes no arguments")
	}
	list, err := inventory.Scan(inventory.DefaultSource())
	if err != nil {
		return err
	}
	out := make([]diskJSON, 0, len(list))
	for _, d := range list {
		j := diskJSON{Disk: d, InUse: d.InUse()}
		if j.InUse == nil {
			j.InUse = []string{}
		}
		if d.NoMedium {
			// An empty drive is not opened (that only makes the
			// kernel log errors).
			j.NoMedium = true
			out = append(out, j)
			continue
		}
		j.Table, err = readTable(d.Path)
		if errors.Is(err, unix.ENOMEDIUM) {
			j.NoMedium, j.Size = true, 0
		} else if err != nil {
			j.TableOK = err.Error()
		}
		out = append(out, j)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no disks found")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tSIZE\tMODEL\tSERIAL\tBUS\tTABLE\tNOTES")
	for _, d := range out {
		table, size := "?", human(d.Size)
		if d.Table != nil {
			table = d.Table.Type
		}
		var notes []string
		if d.NoMedium {
			table, size = "-", "-"
			notes = append(notes, "no medium")
		}
		notes = append(notes, d.InUse...)
		if d.Removable {
			notes = append(notes, "removable")
		}
		if d.LogicalSectorSize != 512 {
			notes = append(notes, fmt.Sprintf("%d-byte sectors", d.LogicalSectorSize))
		}
		if d.BackingFile != "" {
			notes = append(notes, "file "+d.BackingFile)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, size, dash(modelOf(d.Vendor, d.Model)), dash(d.Serial), dash(d.Transport), table, strings.Join(notes, ", "))
		for _, p := range d.Partitions {
			what := ""
			if d.Table != nil {
				for _, tp := range d.Table.Partitions {
					if tp.Number == p.Number {
						what = tp.TypeName
						if what == "" {
							what = tp.Type
						}
						if tp.Name != "" {
							what += " \"" + tp.Name + "\""
						}
					}
				}
			}
			mp := ""
			if len(p.MountPoints) > 0 {
				mp = "mounted at " + strings.Join(p.MountPoints, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\t\t%s\n", p.Name, human(p.Size), what, mp)
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readTable reads a disk's partition table; nil with the error when the
// disk cannot be read.
func readTable(path string) (*ptable.Table, error) {
	d, err := disk.Open(path, disk.Options{})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return ptable.Read(d, d.Size(), d.LogicalSectorSize())
}

// modelOf joins vendor and model, leaving out vendor strings that say
// nothing to a person (PCI ids, "ATA").
func modelOf(vendor, model string) string {
	if strings.HasPrefix(vendor, "0x") || vendor == "ATA" || strings.HasPrefix(model, vendor) {
		vendor = ""
	}
	return strings.TrimSpace(vendor + " " + model)
}
