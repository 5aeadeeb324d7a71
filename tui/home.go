package tui

import (
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// homeScreen lists the disks, with the selected disk's partitions below.
type homeScreen struct {
	u      *UI
	root   *tview.Flex
	table  *tview.Table
	detail *tview.TextView
	shown  []ops.DiskInfo
}

func newHomeScreen(u *UI) *homeScreen {
	h := &homeScreen{u: u}
	h.table = tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	h.table.SetBorder(true).SetTitle(" Disks ")
	h.detail = tview.NewTextView().SetDynamicColors(true)
	h.detail.SetBorder(true)
	h.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(h.table, 0, 1, true).
		AddItem(h.detail, 0, 1, false)
	h.table.SetSelectionChangedFunc(func(row, _ int) { h.showDetail(row) })
	h.table.SetCell(0, 0, tview.NewTableCell("scanning disks..."))
	h.root.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyF5:
			go u.rescan(u.ctx, true)
			return nil
		case tcell.KeyRune:
		default:
			return ev
		}
		switch ev.Rune() {
		case 'c':
			u.startCapture(h.selected())
		case 'r':
			u.startRestore(nil, "")
		case 'd':
			u.startClone(h.selected())
		case 'i':
			u.show("images")
		case 'l':
			u.show("log")
		case 's':
			u.shell()
		case 'q':
			if !u.cfg.Boot {
				u.ask("Quit Lifeboat?", u.app.Stop)
			}
		case 'b':
			if u.cfg.Boot {
				u.power(true)
			}
		case 'p':
			if u.cfg.Boot {
				u.power(false)
			}
		default:
			return ev
		}
		return nil
	})
	return h
}

// selected is the disk under the cursor, or nil.
func (h *homeScreen) selected() *ops.DiskInfo {
	row, _ := h.table.GetSelection()
	if row < 1 || row > len(h.shown) {
		return nil
	}
	d := h.shown[row-1]
	return &d
}

var diskHeader = []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}

func (h *homeScreen) refresh() {
	prev := ""
	if d := h.selected(); d != nil {
		prev = d.Path
	}
	h.shown = h.u.diskList()
	h.table.Clear()
	for c, s := range diskHeader {
		h.table.SetCell(0, c, tview.NewTableCell("[::b]"+s).SetSelectable(false).SetExpansion(expansion(c)))
	}
	sel := 1
	for i, d := range h.shown {
		row := i + 1
		if d.Path == prev {
			sel = row
		}
		for c, s := range diskCells(d, h.flags(d)) {
			h.table.SetCell(row, c, tview.NewTableCell(cleanLine(s)).SetMaxWidth(maxWidth(c)).SetExpansion(expansion(c)))
		}
	}
	if len(h.shown) == 0 {
		empty := "no disks found"
		if h.u.loading() {
			empty = "loading disk drivers..."
		}
		h.table.SetCell(1, 0, tview.NewTableCell(empty))
		h.detail.SetText("")
		return
	}
	h.table.Select(sel, 0)
	h.showDetail(sel)
}

// diskCells are a disk's cells in a table of diskHeader's columns.
func diskCells(d ops.DiskInfo, flags []string) []string {
	size := units.Bytes(d.Size)
	if d.NoMedium {
		size = "-"
	}
	return []string{d.Name, size, model(d), dash(d.Serial), dash(d.Transport), tableType(d), strings.Join(flags, ",")}
}

func expansion(col int) int {
	if col == 2 {
		return 1
	}
	return 0
}

func maxWidth(col int) int {
	switch col {
	case 0:
		return 14
	case 2:
		return 20
	case 3:
		return 16
	}
	return 0
}

// flags adds "repo" to a disk's flags when a known repository is on it.
func (h *homeScreen) flags(d ops.DiskInfo) []string {
	f := d.Flags()
	for _, r := range h.u.repos {
		if r.Found != nil && r.Found.Disk == d.Name {
			f = append([]string{"repo"}, f...)
			break
		}
	}
	return f
}

func model(d ops.DiskInfo) string {
	if d.File {
		return "image file"
	}
	vendor := d.Vendor // a name: inventory names PCI vendor numbers
	if vendor == "ATA" || strings.HasPrefix(vendor, "0x") || d.Model != "" && strings.HasPrefix(d.Model, vendor) {
		vendor = "" // a placeholder, a number, or said by the model
	}
	m := strings.TrimSpace(vendor + " " + d.Model)
	if d.Model == "" && d.Transport == "virtio" {
		m = strings.TrimSpace(vendor + " virtio disk")
	}
	return dash(m)
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func tableType(d ops.DiskInfo) string {
	switch {
	case d.TableErr != nil:
		return "?"
	case d.Table == nil:
		return "-"
	case d.Table.Type == ptable.TypeNone:
		if d.FS.Type != "" {
			return d.FS.Type
		}
		return "none"
	}
	return string(d.Table.Type)
}

func (h *homeScreen) showDetail(row int) {
	if row < 1 || row > len(h.shown) {
		h.detail.SetText("")
		return
	}
	d := h.shown[row-1]
	h.detail.SetTitle(" " + cleanLine(d.Path) + " ")
	h.detail.SetText(describeDisk(d, h.flags(d)))
	h.detail.ScrollToBeginning()
}

// describeDisk is a disk's identity, flags and partitions as text.
func describeDisk(d ops.DiskInfo, flags []string) string {
	var b strings.Builder
	id := d.Label()
	if d.WWN != "" {
		id += ", WWN " + d.WWN
	}
	fmt.Fprintf(&b, "%s  %s  %s\n", units.Bytes(d.Size), cleanLine(dash(id)), sectors(d))
	if len(flags) > 0 {
		fmt.Fprintf(&b, "[::b]%s[::-]", cleanLine(strings.Join(explainFlags(d, flags), "; ")))
		b.WriteString("\n")
	}
	switch {
	case d.NoMedium:
		b.WriteString("no medium in the drive\n")
	case d.TableErr != nil:
		fmt.Fprintf(&b, "contents unreadable: %s\n", clean(d.TableErr.Error()))
	case d.Table == nil:
	case d.Table.Type == ptable.TypeNone:
		if d.FS.Type != "" {
			fmt.Fprintf(&b, "no partition table; the whole disk holds %s\n", cleanLine(fsText(d.FS.Type, d.FS.Label)))
		} else {
			b.WriteString("no partition table (blank or unknown contents)\n")
		}
	default:
		fmt.Fprintf(&b, "%s partition table, %d partitions\n", d.Table.Type, len(d.Parts))
		writeParts(&b, d.Parts)
	}
	return b.String()
}

func sectors(d ops.DiskInfo) string {
	if d.LogicalSectorSize == d.PhysicalSectorSize || d.PhysicalSectorSize == 0 {
		return fmt.Sprintf("%d-byte sectors", d.LogicalSectorSize)
	}
	return fmt.Sprintf("%d/%d-byte sectors", d.LogicalSectorSize, d.PhysicalSectorSize)
}

func explainFlags(d ops.DiskInfo, flags []string) []string {
	var out []string
	for _, f := range flags {
		switch f {
		case "boot":
			out = append(out, "Lifeboat booted from this disk")
		case "mounted":
			out = append(out, "mounted at "+strings.Join(nonSwap(d.MountPoints), ", "))
		case "repo":
			out = append(out, "holds a Lifeboat repository")
		case "in use":
			out = append(out, "in use by "+strings.Join(d.Holders, ", "))
		default:
			out = append(out, f)
		}
	}
	return out
}

func nonSwap(points []string) []string {
	var out []string
	for _, p := range points {
		if p != "[SWAP]" {
			out = append(out, p)
		}
	}
	return out
}

// writeParts writes a table of partitions, 68 columns wide, so that it
// fits an 80-column screen inside a border with up to 10 columns of indent:
// type, file system, label, size and the space the file system has in use.
func writeParts(b *strings.Builder, parts []ops.PartInfo) {
	fmt.Fprintf(b, "  [::b]%-3s %-20s %-9s %-11s %9s %9s[::-]\n", "#", "TYPE", "FS", "LABEL", "SIZE", "USED")
	for _, p := range parts {
		kind := p.TypeName
		if kind == "" {
			kind = p.Type
		}
		if p.Name != "" && p.Name != kind {
			kind += " \"" + p.Name + "\""
		}
		fs := p.FS.String()
		if p.Extended {
			fs = "extended"
		}
		used := "-"
		if p.Used > 0 {
			used = units.Bytes(p.Used)
		}
		fmt.Fprintf(b, "  %-3d %-20s %-9s %-11s %9s %9s\n", p.Number, cleanLine(trunc(kind, 20)), cleanLine(trunc(dash(fs), 9)),
			cleanLine(trunc(dash(p.FS.Label), 11)), units.Bytes(p.Size), used)
	}
}

func fsText(typ, label string) string {
	if label != "" {
		return fmt.Sprintf("%s %q", typ, label)
	}
	return typ
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "~"
}
