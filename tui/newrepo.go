package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// logSpaces writes to the log where a new repository can be made, and
// why not elsewhere.
func logSpaces(u *UI, spaces []repofind.Space) {
	for _, s := range spaces {
		if s.Unfit == nil {
			u.logf("room for a %s", s)
		} else {
			u.logf("%s: no new repository there: %v", s.Device, s.Unfit)
		}
	}
}

// spaceWidth is the width of a line of the repository list on an
// 80-column screen: inside the border, after the shortcut column.
const spaceWidth = 74

// spaceLine names s in the repository list, as s.String() does, leaving
// out what does not fit on the line: the disk's model when there is a
// serial, then the label.
func spaceLine(s repofind.Space) string {
	line := s.String()
	if len([]rune(line)) > spaceWidth && s.Serial != "" {
		s.Model = ""
		line = s.String()
	}
	if len([]rune(line)) > spaceWidth {
		s.Label = ""
		line = s.String()
	}
	return line
}

// spacesFor returns the file systems a new repository can be made on for
// a capture of d: none on d itself.
func (u *UI) spacesFor(d ops.DiskInfo) []repofind.Space {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []repofind.Space
	for _, s := range u.spaces {
		if s.Unfit == nil && s.Disk != d.Name {
			out = append(out, s)
		}
	}
	return out
}

// confirmNewRepo says what making a repository on s does and, on Enter,
// makes it (off the UI goroutine), adds it to the repositories and calls
// created with it.
func (u *UI) confirmNewRepo(s repofind.Space, created func(repoEntry)) {
	name := fmt.Sprintf("~newrepo%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true).SetWordWrap(true)
	view.SetBorder(true).SetTitle(" New repository ")
	var b strings.Builder
	fmt.Fprintf(&b, "\n  [::b]Make a new repository on[::-]\n\n")
	id := strings.TrimSpace(s.Model + " " + s.Serial)
	if id == "" {
		id = s.Disk
	}
	where := "the whole disk"
	if s.Partition > 0 {
		where = fmt.Sprintf("partition %d", s.Partition)
	}
	fmt.Fprintf(&b, "  disk         %s, %s (%s)\n", cleanLine(id), where, cleanLine(s.Device))
	fs := s.FSType
	if s.Label != "" {
		fs += fmt.Sprintf(" labelled %q", s.Label)
	}
	fmt.Fprintf(&b, "  file system  %s, %s free of %s\n\n", cleanLine(fs), units.Bytes(s.Free), units.Bytes(s.Size))
	fmt.Fprintf(&b, "  A directory named [::b]%s[::-] is made at the root of this file system to\n", repofind.NewRepoDir)
	b.WriteString("  hold the repository. Nothing else on it is changed or deleted: the\n")
	b.WriteString("  files there stay as they are.\n\n")
	b.WriteString("  Press Enter to make it, Esc to go back.")
	view.SetText(b.String())
	busy, done := false, false
	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyEscape:
			if !busy {
				u.back()
			}
			return nil
		case tcell.KeyEnter:
			if busy || done || u.cfg.Find == nil {
				return nil
			}
			busy = true
			view.SetText("\n  Making the repository on " + cleanLine(s.Device) + "...")
			go func() {
				u.findMu.Lock()
				fd, err := u.cfg.Find.CreateRepo(s)
				u.findMu.Unlock()
				u.app.QueueUpdateDraw(func() {
					busy = false
					if err != nil {
						u.logf("no repository made on %s: %v", s.Device, err)
						view.SetTitle(" New repository: not made ")
						view.SetText(fmt.Sprintf("\n  [::b]No repository was made.[::-]\n\n  %s\n\n  [::b]What to do:[::-] %s\n\n  Esc goes back.",
							clean(err.Error()), clean(advice(err))))
						u.hintOf[name] = "[::b]Esc[::-] back"
						u.hints.SetText(" " + u.hintOf[name])
						return
					}
					done = true
					u.logf("repository made on %s: %s", s.Device, fd.Dir)
					r := u.addMade(fd)
					u.back()
					created(r)
					u.home.refresh()
					u.images.refreshRepos()
				})
			}()
			return nil
		}
		return ev
	})
	u.addPage(name, view, "[::b]Enter[::-] make the repository  [::b]Esc[::-] back")
	u.show(name)
}

// addMade records a repository just made on a file system the finder
// offered: it is found there from now on, and the file system is no longer
// offered for a new one.
func (u *UI) addMade(fd repofind.Found) repoEntry {
	u.mu.Lock()
	u.found = append(slices.Clip(u.found), fd)
	f := &u.found[len(u.found)-1]
	u.spaces = slices.DeleteFunc(slices.Clone(u.spaces), func(s repofind.Space) bool { return s.Device == fd.Device })
	u.mu.Unlock()
	r := repoEntry{Dir: fd.Dir, Origin: fd.Device, Found: f}
	u.repos = append(u.repos, r)
	return r
}
