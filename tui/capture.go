package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

var levelNames = []string{"fastest", "fast", "better", "best"}
var levelValues = []repo.Level{repo.LevelFastest, repo.LevelFast, repo.LevelBetter, repo.LevelBest}

// defaultLevel is the index of repo.LevelDefault in levelValues.
const defaultLevel = 2

// captureState is what the capture wizard has chosen so far.
type captureState struct {
	disk  ops.DiskInfo
	repo  repoEntry
	name  string
	level int
	// allSectors reads every sector, used by a file system or not.
	allSectors bool
}

// startCapture runs the capture wizard: source, repository, name and
// options, summary, run.
func (u *UI) startCapture(pre *ops.DiskInfo) {
	st := &captureState{level: defaultLevel}
	u.pickDisk(" Capture: 1/4 choose the disk to capture ", "", pre, nil, func(d ops.DiskInfo) {
		st.disk = d
		spaces := func() []repofind.Space { return u.spacesFor(d) }
		u.pickRepoOrNew(" Capture: 2/4 choose the repository to store the image in ", spaces, func(r repoEntry) {
			st.repo = r
			st.name = defaultName(d, time.Now())
			u.captureOptions(st)
		})
	})
}

// pickDisk shows a list of disks to choose from. skip hides disks (with
// the reason shown in the hint line instead).
func (u *UI) pickDisk(title, extra string, pre *ops.DiskInfo, skip func(ops.DiskInfo) string, chosen func(ops.DiskInfo)) *tview.Table {
	name := fmt.Sprintf("~disk%d", time.Now().UnixNano())
	table := tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	table.SetBorder(true).SetTitle(title)
	note := tview.NewTextView().SetDynamicColors(true)
	var shown []ops.DiskInfo
	var hidden []string
	for c, h := range diskHeader {
		table.SetCell(0, c, tview.NewTableCell("[::b]"+h).SetSelectable(false).SetExpansion(expansion(c)))
	}
	sel := 1
	for _, d := range u.diskList() {
		why := ""
		if d.NoMedium {
			why = "no medium"
		} else if skip != nil {
			why = skip(d)
		}
		if why != "" {
			hidden = append(hidden, d.Name+" ("+why+")")
			continue
		}
		shown = append(shown, d)
		row := len(shown)
		if pre != nil && pre.Path == d.Path {
			sel = row
		}
		for c, s := range diskCells(d, u.home.flags(d)) {
			table.SetCell(row, c, tview.NewTableCell(cleanLine(s)).SetMaxWidth(maxWidth(c)).SetExpansion(expansion(c)))
		}
	}
	text := extra
	if len(hidden) > 0 {
		text += " Not offered: " + strings.Join(hidden, ", ") + "."
	}
	if len(shown) == 0 {
		text = " No disk can be chosen." + text
		// A table must keep a selectable cell: tview loops forever
		// looking for one on a cursor key.
		table.SetCell(1, 0, tview.NewTableCell("none"))
	}
	note.SetText(cleanLine(strings.TrimSpace(text)))
	if len(shown) > 0 {
		table.Select(sel, 0)
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
	root := tview.NewFlex().SetDirection(tview.FlexRow).AddItem(table, 0, 1, true).AddItem(note, 2, 0, false)
	u.addPage(name, root, "[::b]↑↓[::-] choose  [::b]Enter[::-] next  [::b]Esc[::-] back")
	u.show(name)
	return table
}

// pickRepo shows the repositories, and a way to type a path.
func (u *UI) pickRepo(title string, chosen func(repoEntry)) {
	u.pickRepoOrNew(title, nil, chosen)
}

// pickRepoOrNew is pickRepo that also offers, after the repositories, the
// file systems spaces returns as places for a new one (confirmNewRepo).
func (u *UI) pickRepoOrNew(title string, spaces func() []repofind.Space, chosen func(repoEntry)) {
	name := fmt.Sprintf("~repo%d", time.Now().UnixNano())
	list := tview.NewList()
	list.SetBorder(true).SetTitle(title)
	var build func()
	build = func() {
		list.Clear()
		for _, r := range u.repos {
			r := r
			origin := "typed path"
			if r.Found != nil {
				origin = fmt.Sprintf("found on %s (%s)", r.Found.Device, r.Found.FSType)
			}
			list.AddItem(cleanLine(r.Dir), cleanLine(origin), 0, func() { chosen(r) })
		}
		if spaces != nil {
			for _, sp := range spaces() {
				list.AddItem(cleanLine(spaceLine(sp)), cleanLine(sp.Device)+": makes lifeboat/ at its root; nothing else is touched", 0, func() {
					u.confirmNewRepo(sp, func(r repoEntry) {
						build()
						chosen(r)
					})
				})
			}
		}
		list.AddItem("Type a path...", "a repository directory; created if missing", 't', func() {
			u.askRepoPath(func(dir string) {
				build()
				for _, r := range u.repos {
					if r.Dir == dir {
						chosen(r)
						return
					}
				}
			})
		})
	}
	build()
	list.SetDoneFunc(func() { u.back() })
	u.addPage(name, list, "[::b]↑↓[::-] choose  [::b]Enter[::-] next  [::b]t[::-] type a path  [::b]Esc[::-] back")
	u.show(name)
}

// defaultName makes an image name from the disk's model, serial and the
// date.
func defaultName(d ops.DiskInfo, now time.Time) string {
	var parts []string
	if d.File {
		parts = append(parts, strings.TrimSuffix(d.Name, filepath.Ext(d.Name)))
	} else {
		for _, s := range []string{d.Model, d.Serial} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) == 0 {
			parts = append(parts, d.Name)
		}
	}
	parts = append(parts, now.Format("2006-01-02-1504"))
	var b strings.Builder
	for _, r := range strings.Join(parts, "-") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '+', r == '-':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	name := strings.TrimLeft(b.String(), "._+-")
	if len(name) > 128 {
		name = name[len(name)-128:]
		name = strings.TrimLeft(name, "._+-")
	}
	if name == "" {
		name = "disk-" + now.Format("2006-01-02-1504")
	}
	return name
}

// captureOptions asks for the image name and the compression level.
func (u *UI) captureOptions(st *captureState) {
	name := fmt.Sprintf("~capopts%d", time.Now().UnixNano())
	form := tview.NewForm()
	form.SetBorder(true).SetTitle(" Capture: 3/4 name and options ")
	form.AddInputField("Image name", st.name, 48, nil, func(t string) { st.name = strings.TrimSpace(t) })
	form.AddDropDown("Compression", levelNames, st.level, func(_ string, i int) { st.level = i })
	form.AddCheckbox("All sectors", st.allSectors, func(on bool) { st.allSectors = on })
	form.AddButton("Next", func() { u.captureSummary(st) })
	form.AddButton("Back", func() { u.back() })
	form.SetCancelFunc(func() { u.back() })
	u.addPage(name, form, "[::b]Tab[::-] next field  [::b]Enter[::-] on Next to continue  [::b]Esc[::-] back")
	u.show(name)
}

// captureSummary prepares the capture (checks, opens) off the UI
// goroutine, shows what will happen, and runs it on Enter.
func (u *UI) captureSummary(st *captureState) {
	name := fmt.Sprintf("~capsum%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true).SetText("\n  Checking the disk and the repository...")
	view.SetBorder(true).SetTitle(" Capture: 4/4 summary ")
	var job *ops.CaptureJob
	ready := false
	left := false // Esc was pressed: a job prepared after that is closed at once
	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyEscape:
			left = true
			if job != nil {
				job.Close()
				job = nil
			}
			u.back()
			return nil
		case tcell.KeyEnter:
			if !ready || job == nil {
				return nil
			}
			j := job
			job = nil
			u.runCapture(st, j)
			return nil
		}
		return ev
	})
	u.addPage(name, view, "[::b]Enter[::-] start the capture  [::b]Esc[::-] back")
	u.show(name)
	req := ops.CaptureRequest{Source: st.disk.Path, Repo: st.repo.Dir, Name: st.name, Level: levelValues[st.level], SectorSize: st.disk.LogicalSectorSize, AllSectors: st.allSectors}
	go func() {
		var err error
		if st.repo.Found != nil && st.repo.Found.ReadOnly && u.cfg.Find != nil {
			u.findMu.Lock()
			err = u.cfg.Find.MakeWritable(st.repo.Found)
			u.findMu.Unlock()
		}
		var j *ops.CaptureJob
		if err == nil {
			j, err = ops.PrepareCapture(u.cfg.Env, req)
		}
		u.app.QueueUpdateDraw(func() {
			if left {
				// The technician went back while the source was being
				// opened: release it.
				if j != nil {
					j.Close()
				}
				return
			}
			if err != nil {
				view.SetTitle(" Capture: cannot start ")
				view.SetText(fmt.Sprintf("\n  [::b]The capture cannot start.[::-]\n\n  %s\n\n  [::b]What to do:[::-] %s\n\n  Esc goes back.", clean(err.Error()), clean(advice(err))))
				u.hintOf[name] = "[::b]Esc[::-] back"
				u.hints.SetText(" " + u.hintOf[name])
				return
			}
			job, ready = j, true
			var b strings.Builder
			fmt.Fprintf(&b, "\n  [::b]Read[::-]   %s\n", cleanLine(j.Source.Describe()))
			fmt.Fprintf(&b, "         %s\n", strings.ReplaceAll(describeDisk(st.disk, u.home.flags(st.disk)), "\n", "\n         "))
			fmt.Fprintf(&b, "  [::b]Into[::-]   repository %s\n         as image %q\n", cleanLine(j.Repo.Dir()), cleanLine(st.name))
			what := "only what file systems use is read"
			if st.allSectors {
				what = "every sector is read"
			}
			fmt.Fprintf(&b, "  [::b]With[::-]   %s compression; %s\n", levelNames[st.level], what)
			for _, w := range append(append([]string(nil), j.Warnings...), j.Plan.Warnings...) {
				fmt.Fprintf(&b, "  [::b]Warning[::-] %s\n", clean(w))
			}
			b.WriteString("\n  Nothing on the disk is changed. Press Enter to start.")
			view.SetText(b.String())
		})
	}()
}

func (u *UI) runCapture(st *captureState, job *ops.CaptureJob) {
	title := "Capture " + st.name
	u.runJob(title, "No image is kept; the chunks already stored are reused by the next capture.", u.logged(title, job.Repo.Dir(), job.StartLog, func(ctx context.Context, tr *progress.Tracker, lg *joblog.Log) (string, error) {
		defer job.Close()
		m, err := job.Run(ctx, tr)
		if err != nil {
			return "", err
		}
		ops.LogCaptured(lg, m)
		s := m.Stats
		var b strings.Builder
		fmt.Fprintf(&b, "Image %s in %s\n\n", cleanLine(m.Name), cleanLine(job.Repo.Dir()))
		fmt.Fprintf(&b, "read         %s at %s\n", units.Bytes(s.BytesRead), units.Rate(s.BytesRead, s.Seconds))
		if s.UnusedBytes > 0 {
			fmt.Fprintf(&b, "skipped      %s that file systems do not use\n", units.Bytes(s.UnusedBytes))
		}
		fmt.Fprintf(&b, "data         %s in %d chunks; %s of zeros as holes\n", units.Bytes(s.DataBytes), s.Chunks, units.Bytes(s.HoleBytes))
		fmt.Fprintf(&b, "stored new   %s (%d chunks); %d chunks were already stored\n", units.Bytes(s.NewBytes), s.NewChunks, s.UniqueChunks-s.NewChunks)
		fmt.Fprintf(&b, "image size   %s compressed\n", units.Bytes(s.StoredBytes))
		if s.NewRawBytes > 0 {
			fmt.Fprintf(&b, "dedup        %.1f:1\n", float64(s.DataBytes)/float64(s.NewRawBytes))
		}
		for _, w := range m.Warnings {
			fmt.Fprintf(&b, "[::b]warning:[::-] %s\n", clean(w))
		}
		return b.String(), nil
	}), func() {
		u.goHome()
		go u.rescan(u.ctx, true)
	})
}
