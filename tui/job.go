package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// jobFunc does the work of a job and returns the text of its summary.
type jobFunc func(ctx context.Context, tr *progress.Tracker) (summary string, err error)

// runJob shows a progress screen while fn runs off the UI goroutine.
// Esc pauses the job (the tracker's pause gate: no more extents are read
// or written) and asks whether to cancel it; no resumes it. When fn
// returns, its summary (or the error and what to do next) stays on the
// screen until dismissed; then done runs.
func (u *UI) runJob(title, cancelNote string, fn jobFunc, done func()) {
	name := fmt.Sprintf("~job%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true)
	view.SetBorder(true).SetTitle(" " + cleanLine(title) + " ")
	tr := &progress.Tracker{}
	ctx, cancel := context.WithCancel(u.ctx)
	finished := false
	// question updates the cancel question while it is shown; only the
	// UI goroutine touches it.
	var question func(progress.Snapshot)
	u.jobBusy = true
	var lock *os.File
	if u.cfg.JobLock != "" {
		// Shared: jobs on several consoles may run at once; a reboot
		// waits for all of them.
		var err error
		if lock, err = lockFile(u.cfg.JobLock, unix.LOCK_SH); err != nil {
			u.logf("%s: job lock: %v", title, err)
		}
	}
	u.logf("%s: started", title)
	start := time.Now()

	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if finished {
			if ev.Key() == tcell.KeyEnter || ev.Key() == tcell.KeyEscape {
				u.back()
				if done != nil {
					done()
				}
				return nil
			}
			return ev
		}
		if ev.Key() == tcell.KeyEscape || ev.Rune() == 'x' {
			tr.Pause()
			u.logf("%s: paused", title)
			ask := "Cancel " + strings.ToLower(title) + "?\n" + cancelNote
			question = u.askCancel(ask, tr.Snapshot(), func(yes bool) {
				question = nil
				if yes {
					u.logf("%s: cancel requested", title)
					cancel()
					return
				}
				u.logf("%s: resumed", title)
				tr.Resume()
			})
			return nil
		}
		return ev
	})
	u.addPage(name, view, "[::b]Esc[::-] pause, then cancel or go on")
	u.show(name)
	view.SetText(progressText(tr.Snapshot(), time.Since(start)))

	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s := tr.Snapshot()
				el := time.Since(start)
				u.app.QueueUpdateDraw(func() {
					if !finished {
						view.SetText(progressText(s, el))
					}
					if question != nil {
						question(s)
					}
				})
			}
		}
	}()
	go func() {
		summary, err := fn(ctx, tr)
		if lock != nil {
			lock.Close()
		}
		close(stop)
		cancel()
		el := time.Since(start)
		if errors.Is(err, context.Canceled) {
			u.logf("%s: cancelled after %s: %v", title, units.Duration(el), err)
		} else if err != nil {
			u.logf("%s: failed after %s: %v", title, units.Duration(el), err)
		} else {
			u.logf("%s: done in %s", title, units.Duration(el))
		}
		u.app.QueueUpdateDraw(func() {
			finished = true
			u.jobBusy = false
			u.hintOf[name] = "[::b]Enter[::-] back"
			u.hints.SetText(" " + u.hintOf[name])
			if errors.Is(err, context.Canceled) {
				// The message says what was left and what to do.
				view.SetTitle(" " + cleanLine(title) + ": cancelled ")
				text := fmt.Sprintf("[::b]Cancelled after %s.[::-]\n\n%s", units.Duration(el), clean(upperFirst(err.Error())))
				if a := advice(err); a != "" {
					text += "\n\n[::b]What to do:[::-] " + clean(a)
				}
				view.SetText(text + "\n\nPress Enter.")
				return
			}
			if err != nil {
				view.SetTitle(" " + cleanLine(title) + ": FAILED ")
				view.SetText(fmt.Sprintf("[::b]%s failed after %s.[::-]\n\n%s\n\n[::b]What to do:[::-] %s\n\nPress Enter.",
					cleanLine(title), units.Duration(el), clean(err.Error()), clean(advice(err))))
				return
			}
			view.SetTitle(" " + cleanLine(title) + ": done ")
			view.SetText(fmt.Sprintf("[::b]%s finished in %s.[::-]\n\n%s\n\nPress Enter.", cleanLine(title), units.Duration(el), summary))
		})
	}()
}

// askCancel shows the cancel question of a paused job, with where the job
// stands (update shows a new snapshot); y, or the Yes button, cancels, and
// anything else resumes.
func (u *UI) askCancel(ask string, s progress.Snapshot, answer func(yes bool)) (update func(progress.Snapshot)) {
	name := fmt.Sprintf("~cancel%d", time.Now().UnixNano())
	m := tview.NewModal().AddButtons([]string{"No", "Yes"})
	update = func(s progress.Snapshot) { m.SetText(clean(ask) + "\n\n" + pausedText(s)) }
	update(s)
	answered := false
	done := func(yes bool) {
		if answered {
			return
		}
		answered = true
		u.back()
		answer(yes)
	}
	m.SetDoneFunc(func(_ int, label string) { done(label == "Yes") })
	m.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Rune() {
		case 'y', 'Y':
			done(true)
			return nil
		case 'n', 'N':
			done(false)
			return nil
		}
		return ev
	})
	u.addPage(name, m, "[::b]y[::-] yes, cancel  [::b]n[::-]/[::b]Esc[::-] no, go on")
	u.show(name)
	return update
}

// pausedText says where a paused job stands: still finishing the extents
// under way, or held.
func pausedText(s progress.Snapshot) string {
	if !s.Held {
		return "Pausing: finishing what is under way..."
	}
	return fmt.Sprintf("Paused at %s of %s: nothing is read or written until you answer.", units.Bytes(s.Done), units.Bytes(s.Total))
}

// progressText draws a progress snapshot: stage, bar, bytes, rate, time
// left.
func progressText(s progress.Snapshot, elapsed time.Duration) string {
	bar, pct := units.Bar(s.Done, s.Total, 60)
	left := "-"
	if r := s.Remaining(); r > 0 {
		left = units.Duration(r)
	}
	stage := s.Stage
	if stage == "" {
		stage = "starting"
	}
	return fmt.Sprintf("\n  %s\n\n  [%s] %5.1f%%\n\n  %s of %s   %s/s\n  elapsed %s   left %s\n\n  Esc pauses the job and asks whether to cancel it.",
		clean(stage), bar, pct, units.Bytes(s.Done), units.Bytes(s.Total), units.Bytes(int64(s.Rate)), units.Duration(elapsed), left)
}

// advice says what to do after a job or a check failed.
func advice(err error) string {
	var tse *engine.TooSmallError
	var pe *ops.PartialError
	switch {
	case errors.Is(err, context.Canceled):
		// A cancelled capture or restore says what it left and what to
		// do in its own message.
		return ""
	case errors.As(err, new(*copyError)):
		return copyAdvice(err)
	case errors.As(err, &tse) && tse.Shrunk:
		return fmt.Sprintf("Choose a target of at least %s (the partitions with their file systems shrunk as far as they go), or restore another image.", units.Bytes(tse.Need))
	case errors.As(err, &tse):
		return fmt.Sprintf("Choose a target of at least %s (the partitions' size), or restore another image.", units.Bytes(tse.Need))
	case errors.Is(err, engine.ErrSectorSize):
		return "A file system in the image cannot live on the target's sector size (the message says which and why); choose a disk with the image's sector size."
	case errors.Is(err, repo.ErrImageExists):
		return "Choose another name for the image."
	case errors.As(err, new(*repo.LockedError)):
		return "Another operation is using the repository (named above): wait for it to finish and try again. A lock marked stale (its process is gone) is removed from the shell with lifeboat prune --remove-stale-locks."
	case errors.Is(err, safety.ErrRefused):
		return "Choose another disk. Unmount a disk that is in use first (from the shell), or pick another repository."
	case errors.Is(err, disk.ErrBusy):
		return "Another program has the disk open. Close it, or choose another disk."
	case errors.Is(err, engine.ErrVerifyFailed), repo.IsContentError(err):
		return "The image is damaged or incomplete: run Verify on it to list every damaged chunk, and restore another image or capture again."
	case errors.As(err, &pe):
		return "Fix the cause shown above and restore again."
	default:
		return "Check the message above and the log (l on the disks screen) for details."
	}
}

// upperFirst makes a message a sentence: its first letter upper case.
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
