package tui

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rivo/tview"
)

// logLines is how many lines the log keeps.
const logLines = 2000

// logView is the operation log (and, in the boot environment, the
// kernel's messages).
type logView struct {
	app  *tview.Application
	root *tview.TextView

	mu    sync.Mutex
	lines []string
	dirty bool // lines were added since the view was last set
}

func newLogView(app *tview.Application) *logView {
	l := &logView{app: app}
	l.root = tview.NewTextView().SetDynamicColors(true).SetScrollable(true)
	l.root.SetBorder(true).SetTitle(" Log ")
	return l
}

// add appends a line; safe from any goroutine. The view shows it at the
// next refresh (run), so that a burst of lines (the kernel's messages at
// boot) costs one redraw, not one per line: on a serial console each
// redraw is slow.
func (l *logView) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, time.Now().Format("15:04:05 ")+line)
	if len(l.lines) > logLines {
		l.lines = l.lines[len(l.lines)-logLines:]
	}
	l.dirty = true
	l.mu.Unlock()
}

// run refreshes the view with the new lines, a few times a second, until
// ctx ends.
func (l *logView) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		dirty := l.dirty
		l.dirty = false
		var text string
		if dirty {
			text = clean(strings.Join(l.lines, "\n"))
		}
		l.mu.Unlock()
		if dirty {
			l.app.QueueUpdateDraw(func() {
				l.root.SetText(text)
				l.root.ScrollToEnd()
			})
		}
	}
}

// Lines returns a copy of the log.
func (l *logView) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// followKernel adds the kernel's messages (/dev/kmsg) to the log until ctx
// ends.
func (l *logView) followKernel(ctx context.Context) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		l.add(fmt.Sprintf("kernel messages unavailable: %v", err))
		return
	}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 8192), 8192)
	for sc.Scan() {
		// "prio,seq,time,flags;message"
		line := sc.Text()
		if strings.HasPrefix(line, " ") {
			continue // a record's KEY=value continuation (SUBSYSTEM=, DEVICE=)
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[i+1:]
		}
		l.add("kernel: " + line)
	}
}
