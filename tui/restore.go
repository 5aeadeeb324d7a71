package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// startRestore runs the restore wizard: image (unless given), target
// disk, summary and typed confirmation, run.
func (u *UI) startRestore(m *image.Manifest, repoDir string) {
	if m != nil {
		u.pickTarget(m, repoDir)
		return
	}
	u.pickRepo(" Restore: 1/3 choose the repository ", func(r repoEntry) {
		u.pickImage(r.Dir, func(m *image.Manifest) { u.pickTarget(m, r.Dir) })
	})
}

// pickImage lists a repository's images to choose one.
func (u *UI) pickImage(repoDir string, chosen func(*image.Manifest)) {
	name := fmt.Sprintf("~img%d", time.Now().UnixNano())
	table := tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	table.SetBorder(true).SetTitle(" Restore: 1/3 choose the image ")
	list, err := ops.ListImages(repoDir)
	for c, h := range []string{"NAME", "CAPTURED", "SOURCE", "SIZE", "PARTS"} {
		table.SetCell(0, c, tview.NewTableCell("[::b]"+h).SetSelectable(false))
	}
	var shown []*image.Manifest
	for _, im := range list {
		if im.Manifest == nil {
			continue
		}
		m := im.Manifest
		shown = append(shown, m)
		for c, v := range []string{m.Name, m.Created.Local().Format("2006-01-02 15:04"), source(m.Disk), units.Bytes(m.Disk.Size), fmt.Sprintf("%s %d", m.Table.Type, len(m.Table.Partitions))} {
			table.SetCell(len(shown), c, tview.NewTableCell(cleanLine(v)))
		}
	}
	if err != nil {
		table.SetCell(1, 0, tview.NewTableCell(cleanLine(err.Error())))
	} else if len(shown) == 0 {
		table.SetCell(1, 0, tview.NewTableCell("no images in "+cleanLine(repoDir)))
	} else {
		table.Select(1, 0)
	}
	table.SetSelectedFunc(func(row, _ int) {
		if row >= 1 && row <= len(shown) {
			chosen(shown[row-1])
		}
	})
	table.SetDoneFunc(func(key tcell.Key) {
		if key == tcell.KeyEscape {
			u.back()
		}
	})
	u.addPage(name, table, "[::b]↑↓[::-] choose  [::b]Enter[::-] next  [::b]Esc[::-] back")
	u.show(name)
}

// repoDisks are the kernel names of the disks holding a repository.
func (u *UI) repoDisks(repoDir string) map[string]bool {
	out := map[string]bool{}
	for _, r := range u.repos {
		if r.Found != nil && sameDir(r.Dir, repoDir) {
			out[r.Found.Disk] = true
		}
	}
	if ds, err := inventory.DisksUnder(u.cfg.Env.Inventory, repoDir); err == nil {
		for _, d := range ds {
			out[d.Name] = true
		}
	}
	return out
}

// pickTarget chooses the disk to restore onto; the boot disk and the
// repository's disk are not offered. n restores into a new image file.
func (u *UI) pickTarget(m *image.Manifest, repoDir string) {
	held := u.repoDisks(repoDir)
	skip := func(d ops.DiskInfo) string {
		switch {
		case d.Boot:
			return "Lifeboat booted from it"
		case !d.File && held[d.Name]:
			return "it holds the repository"
		}
		return ""
	}
	extra := fmt.Sprintf(" The image needs %s.", units.Bytes(m.Disk.Size))
	table := u.pickDisk(" Restore: 2/3 choose the disk to overwrite with "+cleanLine(m.Name)+" ", extra, nil, skip, func(d ops.DiskInfo) {
		u.restoreSummary(m, repoDir, d.Path)
	})
	table.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Rune() != 'n' {
			return ev
		}
		u.askPath(" Restore into a new disk image file ", "File to create (it must not exist): ", func(p string) {
			u.restoreSummary(m, repoDir, p)
		})
		return nil
	})
	u.hintOf[u.stack[len(u.stack)-1]] += "  [::b]n[::-] new image file"
	u.hints.SetText(" " + u.hintOf[u.stack[len(u.stack)-1]])
}

// askPath asks for a file path.
func (u *UI) askPath(title, label string, done func(string)) {
	name := fmt.Sprintf("~path%d", time.Now().UnixNano())
	in := tview.NewInputField().SetLabel(label).SetFieldWidth(0)
	in.SetBorder(true).SetTitle(title)
	in.SetDoneFunc(func(key tcell.Key) {
		switch key {
		case tcell.KeyEscape:
			u.back()
		case tcell.KeyEnter:
			p := strings.TrimSpace(in.GetText())
			if p == "" {
				return
			}
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			u.back()
			done(p)
		}
	})
	u.addPage(name, in, "[::b]Enter[::-] OK  [::b]Esc[::-] back")
	u.show(name)
}

// restoreSummary prepares the restore off the UI goroutine, shows what
// will be destroyed and what will be written, and asks for the target's
// serial (or name) before running.
func (u *UI) restoreSummary(m *image.Manifest, repoDir, target string) {
	name := fmt.Sprintf("~ressum%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true).SetScrollable(true).SetText("\n  Checking the target...")
	input := tview.NewInputField().SetFieldWidth(32)
	status := tview.NewTextView().SetDynamicColors(true)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(view, 0, 1, false).
		AddItem(input, 1, 0, true).
		AddItem(status, 1, 0, false)
	root.SetBorder(true).SetTitle(" Restore: 3/3 confirm ")
	var job *ops.RestoreJob
	// left: Esc was pressed, a job prepared after that is closed at once.
	// gen counts preparations (F2 starts a new one); they run one at a
	// time, so a stale one has released the target before the next opens
	// it.
	var left atomic.Bool
	var gen atomic.Int64
	var prepMu sync.Mutex
	closeJob := func() {
		if job != nil {
			job.Close()
			job = nil
		}
	}
	kind := layout.Kind("") // the first layout that works
	var prepare func()
	newID := false
	input.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyF2:
			// F2: the next layout; the restore is planned again.
			next := map[layout.Kind]layout.Kind{"": layout.Keep, layout.Keep: layout.Grow, layout.Grow: layout.Scale, layout.Scale: layout.Fit, layout.Fit: ""}
			kind = next[kind]
		case tcell.KeyF3:
			// F3: new identities on or off.
			newID = !newID
		default:
			return ev
		}
		closeJob()
		status.SetText("")
		prepare()
		return nil
	})
	input.SetDoneFunc(func(key tcell.Key) {
		switch key {
		case tcell.KeyEscape:
			left.Store(true)
			closeJob()
			u.back()
		case tcell.KeyEnter:
			if job == nil {
				return
			}
			answer := strings.TrimSpace(input.GetText())
			if !job.Created && !job.Confirms(answer) {
				msg := fmt.Sprintf("You typed %q, not %q. Nothing was written.", answer, job.ConfirmWord())
				u.logf("restore %s onto %s: not confirmed (%s)", m.Name, target, msg)
				status.SetText(" [::b]" + cleanLine(msg) + "[::-]")
				input.SetText("")
				return
			}
			j := job
			job = nil
			u.runRestore(m, j)
		}
	})
	u.addPage(name, root, "[::b]Esc[::-] back")
	u.show(name)
	prepare = func() {
		mine, k, nid := gen.Add(1), kind, newID
		stale := func() bool { return left.Load() || gen.Load() != mine }
		what := "the first layout that works"
		if k != "" {
			what = "the " + string(k) + " layout"
		}
		root.SetTitle(" Restore: 3/3 confirm ")
		view.SetText("\n  Checking the target and planning " + what + "...")
		input.SetLabel("")
		go func() {
			prepMu.Lock()
			defer prepMu.Unlock()
			if stale() {
				return
			}
			j, err := ops.PrepareRestore(u.cfg.Env, ops.RestoreRequest{Repo: repoDir, Name: m.Name, Target: target, Layout: k, NewIdentity: nid, BootEntries: u.cfg.Boot})
			var parts []ops.PartInfo // what the restore destroys, read here, off the UI goroutine
			if err == nil {
				parts = j.CurrentParts()
			}
			if stale() {
				if j != nil {
					j.Close()
				}
				return
			}
			u.app.QueueUpdateDraw(func() {
				if stale() {
					// The technician went back, or chose another layout,
					// while the target was being checked: release it (a
					// new target file is removed).
					if j != nil {
						j.Close()
					}
					return
				}
				layoutHint := "  [::b]F2[::-] layout: " + string(orAuto(k)) + "  [::b]F3[::-] new ids: " + map[bool]string{false: "no", true: "yes"}[nid]
				if err != nil {
					root.SetTitle(" Restore: cannot start ")
					view.SetText(fmt.Sprintf("\n  [::b]The restore cannot start with %s; nothing was written.[::-]\n\n  %s\n\n  [::b]What to do:[::-] %s", what, clean(err.Error()), clean(advice(err))))
					input.SetLabel("Press Esc to go back, F2 for another layout. ")
					u.hintOf[name] = "[::b]Esc[::-] back" + layoutHint
					u.hints.SetText(" " + u.hintOf[name])
					u.logf("restore %s onto %s (%s): %v", m.Name, target, what, err)
					return
				}
				job = j
				view.SetText(restoreText(j, parts))
				if j.Created {
					input.SetLabel("Press Enter to start. ")
					u.hintOf[name] = "[::b]Enter[::-] start  [::b]Esc[::-] back" + layoutHint
				} else {
					input.SetLabel(fmt.Sprintf("Type %s to destroy it and restore: ", cleanLine(j.ConfirmWord())))
					u.hintOf[name] = "type serial or name, [::b]Enter[::-]  [::b]Esc[::-] back" + layoutHint
				}
				u.hints.SetText(" " + u.hintOf[name])
			})
		}()
	}
	prepare()
}

func orAuto(k layout.Kind) layout.Kind {
	if k == "" {
		return "auto"
	}
	return k
}

// restoreText says exactly what a restore destroys (the target's
// partitions now, parts, as RestoreJob.CurrentParts reads them) and what
// it writes.
func restoreText(j *ops.RestoreJob, parts []ops.PartInfo) string {
	var b strings.Builder
	m := j.Image.M
	if j.Created {
		fmt.Fprintf(&b, "  [::b]Create[::-]  %s, a new %s disk image file\n", cleanLine(j.Target.Path), units.Bytes(j.Size))
	} else {
		fmt.Fprintf(&b, "  [::b]DESTROY[::-] %s, %s\n", cleanLine(j.Target.Describe()), units.Bytes(j.Size))
		switch {
		case j.CurrentErr != nil:
			fmt.Fprintf(&b, "          current contents unreadable: %s\n", clean(j.CurrentErr.Error()))
		case j.Current == nil || j.Current.Type == ptable.TypeNone:
			b.WriteString("          no partition table now (blank or unpartitioned)\n")
		default:
			fmt.Fprintf(&b, "          now: %s partition table, %d partitions, all lost:\n", j.Current.Type, len(j.Current.Partitions))
			if parts == nil { // the table alone
				for _, p := range j.Current.Partitions {
					parts = append(parts, ops.PartInfo{Partition: p})
				}
			}
			var pb strings.Builder
			writeParts(&pb, parts)
			b.WriteString(indent(pb.String(), "        "))
		}
	}
	fmt.Fprintf(&b, "  [::b]Write[::-]   image %s, captured %s from %s\n", cleanLine(m.Name), m.Created.Local().Format("2006-01-02 15:04"), cleanLine(dash(sourceLong(m.Disk))))
	fmt.Fprintf(&b, "          %s, %s partition table, %d partitions\n", units.Bytes(m.Disk.Size), m.Table.Type, len(m.Table.Partitions))
	writePlan(&b, j.Plan)
	return b.String()
}

// writePlan shows how the partitions land on the target, one line each.
func writePlan(b *strings.Builder, p *layout.Plan) {
	fmt.Fprintf(b, "  [::b]Layout[::-]  %s (F2 chooses another), onto %s:\n", p.Kind, units.Bytes(p.Target.Size))
	for _, pt := range p.Parts {
		fs := pt.Src.FileSystem
		if pt.Src.FSLabel != "" {
			fs += " " + pt.Src.FSLabel
		}
		fmt.Fprintf(b, "          #%-2d %9s at %-9s %s: %s\n", pt.Number, units.Bytes(pt.Size), units.Bytes(pt.Start), clean(dash(fs)), clean(pt.Note))
	}
	for _, id := range p.IDs {
		where := "disk"
		if id.Partition > 0 {
			where = fmt.Sprintf("#%d", id.Partition)
		}
		fmt.Fprintf(b, "  [::b]New ID[::-]  %s %s %s\n", where, clean(id.What), clean(id.New))
	}
	if n := p.Scratch(); n > 0 {
		fmt.Fprintf(b, "  [::b]Scratch[::-] %s in %s hold the ends of shrunk file systems until they are shrunk\n", units.Bytes(n), os.TempDir())
	}
	for _, c := range p.Changes {
		fmt.Fprintf(b, "  [::b]Note[::-]    %s\n", clean(c))
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(b, "  [::b]Not[::-]     %s\n", clean(s))
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func (u *UI) runRestore(m *image.Manifest, job *ops.RestoreJob) {
	note := "The target will hold part of the image and will not boot until restored again."
	if job.Created {
		note = "The new file is removed."
	}
	title := "Restore " + m.Name
	u.runJob(title, note, u.logged(title, job.RepoDir(), job.StartLog, func(ctx context.Context, tr *progress.Tracker, lg *joblog.Log) (string, error) {
		defer job.Close()
		res, err := job.Run(ctx, tr)
		ops.LogRestored(lg, res)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Image %s is on %s.\n\n", cleanLine(m.Name), cleanLine(job.Target.Describe()))
		fmt.Fprintf(&b, "wrote   %s from %d chunks at %s; every chunk matched its hash\n", units.Bytes(res.BytesWritten), res.Chunks, units.Rate(m.Disk.Size, res.Seconds))
		for _, c := range res.Changes {
			fmt.Fprintf(&b, "note    %s\n", clean(c))
		}
		if res.Boot != nil {
			for _, l := range res.Boot.Lines() {
				fmt.Fprintf(&b, "boot    %s\n", clean(l))
			}
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "[::b]warning:[::-] %s\n", clean(w))
		}
		return b.String(), nil
	}), func() {
		u.goHome()
		go u.rescan(u.ctx, true)
	})
}
