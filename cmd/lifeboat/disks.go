package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, size, dash(modelOf(d.Disk)), dash(d.Serial), dash(d.Transport), table, strings.Join(notes, ", "))
		writePartRows(tw, d)
	}
	return tw.Flush()
}

// writePartRows writes a row for each partition of d: of its table when it
// was read (with what each holds, and the kernel's name and mount points
// when the kernel has a device for it), else of the kernel's list.
func writePartRows(tw io.Writer, d diskJSON) {
	if d.Table == nil {
		for _, p := range d.Partitions {
			fmt.Fprintf(tw, "  %s\t%s\t\t\t\t\t%s\n", p.Name, human(p.Size), mountNote(p.MountPoints))
		}
		return
	}
	for _, tp := range d.Table.Partitions {
		name, notes := fmt.Sprintf("#%d", tp.Number), []string{contents(tp)}
		for _, p := range d.Partitions {
			if p.Number == tp.Number {
				name = p.Name
				if m := mountNote(p.MountPoints); m != "" {
					notes = append(notes, m)
				}
			}
		}
		what := tp.TypeName
		if what == "" {
			what = tp.Type
		}
		if tp.Name != "" {
			what += fmt.Sprintf(" %q", tp.Name)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\t\t%s\n", name, human(tp.Size), what, strings.Join(notes, ", "))
	}
}

func mountNote(points []string) string {
	if len(points) == 0 {
		return ""
	}
	return "mounted at " + strings.Join(points, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readTable reads a disk's partition table, with what each partition
// holds (setContents); nil with the error when the disk cannot be read.
func readTable(path string) (*ptable.Table, error) {
	d, err := disk.Open(path, disk.Options{})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	t, err := ptable.Read(d, d.Size(), d.LogicalSectorSize())
	if err != nil {
		return nil, err
	}
	setContents(t, ops.ProbeParts(d, d.Size(), t))
	return t, nil
}

// setContents records in t's partitions what parts (one for each, in
// order, as ops.ProbeParts gives them) found on them: file system, its
// variant and label, and the space it has in use as UsedBytes.
func setContents(t *ptable.Table, parts []ops.PartInfo) {
	for i := range t.Partitions {
		if i < len(parts) {
			p, fs := &t.Partitions[i], parts[i].FS
			p.FileSystem, p.FSVersion, p.FSLabel, p.UsedBytes = fs.Type, fs.Version, fs.Label, parts[i].Used
		}
	}
}

// contents says what a partition holds, as setContents recorded it:
// `ext4 "data", 1.2 GiB used`, or "-" when that is not known.
func contents(p ptable.Partition) string {
	if p.Extended {
		return "extended"
	}
	s := p.FileSystem
	if p.FileSystem == "vfat" && p.FSVersion != "" {
		s = p.FSVersion
	}
	if p.FSLabel != "" {
		s += fmt.Sprintf(" %q", p.FSLabel)
	}
	if p.UsedBytes > 0 {
		s += ", " + human(p.UsedBytes) + " used"
	}
	return dash(s)
}

// modelOf joins vendor and model, leaving out vendor strings that say
// nothing to a person ("ATA", a number) or that the model says; a virtio
// disk, which has no model, is the vendor's "virtio disk".
func modelOf(d inventory.Disk) string {
	vendor, model := d.Vendor, d.Model
	if strings.HasPrefix(vendor, "0x") || vendor == "ATA" || model != "" && strings.HasPrefix(model, vendor) {
		vendor = ""
	}
	if model == "" && d.Transport == "virtio" {
		model = "virtio disk"
	}
	return strings.TrimSpace(vendor + " " + model)
}
