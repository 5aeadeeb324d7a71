package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// startClone runs the clone wizard: the disk to copy, the disk to
// overwrite (or a new image file), summary and typed confirmation, run.
func (u *UI) startClone(pre *ops.DiskInfo) {
	u.pickDisk(" Clone: 1/3 choose the disk to copy ", "", pre, nil, func(src ops.DiskInfo) {
		u.pickCloneTarget(src)
	})
}

// pickCloneTarget chooses the disk to copy src onto; the boot disk and
// src itself are not offered. n copies into a new image file.
func (u *UI) pickCloneTarget(src ops.DiskInfo) {
	skip := func(d ops.DiskInfo) string {
		switch {
		case d.Path == src.Path:
			return "the source"
		case d.Boot:
			return "Lifeboat booted from it"
		}
		return ""
	}
	extra := fmt.Sprintf(" %s is %s.", src.Name, units.Bytes(src.Size))
	table := u.pickDisk(" Clone: 2/3 choose the disk to overwrite with a copy of "+cleanLine(src.Name)+" ", extra, nil, skip, func(d ops.DiskInfo) {
		u.cloneSummary(src, d.Path)
	})
	table.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Rune() != 'n' {
			return ev
		}
		u.askPath(" Clone into a new disk image file ", "File to create (it must not exist): ", func(p string) {
			u.cloneSummary(src, p)
		})
		return nil
	})
	u.hintOf[u.stack[len(u.stack)-1]] += "  [::b]n[::-] new image file"
	u.hints.SetText(" " + u.hintOf[u.stack[len(u.stack)-1]])
}

// cloneSummary prepares the clone off the UI goroutine (both disks
// checked and opened, the source's allocation maps read, the copy
// planned), shows what will be destroyed and what will be copied, and
// asks for the target's serial (or name) before running. F2 plans another
// layout, F3 turns new identities on or off, F4 verification (the target
// read back and compared with what was read).
func (u *UI) cloneSummary(src ops.DiskInfo, target string) {
	name := fmt.Sprintf("~clonesum%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true).SetScrollable(true).SetText("\n  Checking the disks...")
	input := tview.NewInputField().SetFieldWidth(32)
	status := tview.NewTextView().SetDynamicColors(true)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(view, 0, 1, false).
		AddItem(input, 1, 0, true).
		AddItem(status, 1, 0, false)
	root.SetBorder(true).SetTitle(" Clone: 3/3 confirm ")
	var job *ops.CloneJob
	// left: Esc was pressed, a job prepared after that is closed at once.
	// gen counts preparations (F2 and F3 start new ones); they run one at
	// a time, so a stale one has released the disks before the next opens
	// them.
	var left atomic.Bool
	var gen atomic.Int64
	var prepMu sync.Mutex
	closeJob := func() {
		if job != nil {
			job.Close()
			job = nil
		}
	}
	kind := layout.Kind("")
	newID, verify := false, false
	var prepare func()
	input.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyF2:
			next := map[layout.Kind]layout.Kind{"": layout.Keep, layout.Keep: layout.Grow, layout.Grow: layout.Scale, layout.Scale: layout.Fit, layout.Fit: ""}
			kind = next[kind]
		case tcell.KeyF3:
			newID = !newID
		case tcell.KeyF4:
			verify = !verify
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
				u.logf("clone %s onto %s: not confirmed (%s)", src.Path, target, msg)
				status.SetText(" [::b]" + cleanLine(msg) + "[::-]")
				input.SetText("")
				return
			}
			j := job
			job = nil
			u.runClone(j)
		}
	})
	u.addPage(name, root, "[::b]Esc[::-] back")
	u.show(name)
	prepare = func() {
		mine, k, nid, ver := gen.Add(1), kind, newID, verify
		stale := func() bool { return left.Load() || gen.Load() != mine }
		what := "the first layout that works"
		if k != "" {
			what = "the " + string(k) + " layout"
		}
		root.SetTitle(" Clone: 3/3 confirm ")
		view.SetText("\n  Checking the disks, reading what the file systems use, and planning " + what + "...")
		input.SetLabel("")
		go func() {
			prepMu.Lock()
			defer prepMu.Unlock()
			if stale() {
				return
			}
			j, err := ops.PrepareClone(u.cfg.Env, ops.CloneRequest{
				Source: src.Path, Target: target, SourceSectorSize: src.LogicalSectorSize,
				Layout: k, NewIdentity: nid, Verify: ver, BootEntries: u.cfg.Boot,
			})
			if stale() {
				if err == nil {
					j.Close()
				}
				return
			}
			u.app.QueueUpdateDraw(func() {
				if stale() {
					if err == nil {
						j.Close()
					}
					return
				}
				yes := map[bool]string{false: "no", true: "yes"}
				hint := "  [::b]F2[::-] layout: " + string(orAuto(k)) + "  [::b]F3[::-] new ids: " + yes[nid] + "  [::b]F4[::-] verify: " + yes[ver]
				if err != nil {
					root.SetTitle(" Clone: cannot start ")
					view.SetText(fmt.Sprintf("\n  [::b]The clone cannot start with %s; nothing was written.[::-]\n\n  %s\n\n  [::b]What to do:[::-] %s", what, clean(err.Error()), clean(advice(err))))
					input.SetLabel("Press Esc to go back, F2 for another layout. ")
					u.hintOf[name] = "[::b]Esc[::-] back" + hint
					u.hints.SetText(" " + u.hintOf[name])
					u.logf("clone %s onto %s (%s): %v", src.Path, target, what, err)
					return
				}
				job = j
				view.SetText(cloneText(j))
				if j.Created {
					input.SetLabel("Press Enter to start. ")
					u.hintOf[name] = "[::b]Enter[::-] start  [::b]Esc[::-] back" + hint
				} else {
					input.SetLabel(fmt.Sprintf("Type %s to destroy it and copy: ", cleanLine(j.ConfirmWord())))
					u.hintOf[name] = "[::b]Enter[::-] when typed  [::b]Esc[::-] back" + hint
				}
				u.hints.SetText(" " + u.hintOf[name])
			})
		}()
	}
	prepare()
}

// cloneText says exactly what a clone destroys and what it copies.
func cloneText(j *ops.CloneJob) string {
	var b strings.Builder
	m := j.Disk.Manifest()
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
			var parts []ops.PartInfo
			for _, p := range j.Current.Partitions {
				parts = append(parts, ops.PartInfo{Partition: p})
			}
			var pb strings.Builder
			writeParts(&pb, parts)
			b.WriteString(indent(pb.String(), "        "))
		}
	}
	var used int64
	for _, p := range m.Table.Partitions {
		used += p.UsedBytes
	}
	fmt.Fprintf(&b, "  [::b]Copy[::-]    %s, %s\n", cleanLine(j.Source.Describe()), units.Bytes(m.Disk.Size))
	fmt.Fprintf(&b, "          %s partition table, %d partitions; of them %s is read\n", m.Table.Type, len(m.Table.Partitions), units.Bytes(used))
	for _, w := range j.Warnings {
		fmt.Fprintf(&b, "  [::b]Warning[::-] %s\n", clean(w))
	}
	writePlan(&b, j.Plan)
	return b.String()
}

func (u *UI) runClone(job *ops.CloneJob) {
	note := "The target will hold part of the copy and will not boot until cloned again."
	if job.Created {
		note = "The new file is removed."
	}
	src := job.Source.Path
	u.runJob("Clone "+src, note, func(ctx context.Context, tr *progress.Tracker) (string, error) {
		defer job.Close()
		res, err := job.Run(ctx, tr)
		if err != nil {
			return "", err
		}
		size := job.Disk.Manifest().Disk.Size
		var b strings.Builder
		fmt.Fprintf(&b, "A copy of %s is on %s.\n\n", cleanLine(job.Source.Describe()), cleanLine(job.Target.Describe()))
		fmt.Fprintf(&b, "read    %s of %s, wrote %s at %s\n", units.Bytes(job.Disk.BytesRead()), units.Bytes(size), units.Bytes(res.BytesWritten), units.Rate(size, res.Seconds))
		if v := res.Verified; v != nil {
			fmt.Fprintf(&b, "verified: the copy reads back as the source was read (%s)\n", units.Bytes(v.Bytes))
		}
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
	}, func() {
		u.goHome()
		go u.rescan(u.ctx, true)
	})
}
