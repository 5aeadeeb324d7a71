package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// logLines is how many lines the log keeps, and how many kernel messages
// are kept beside it: a flood of kernel messages never pushes Lifeboat's
// own lines out.
const logLines = 2000

// kernelPerSecond is how many kernel messages a second the log takes; the
// rest are counted and the count shown.
const kernelPerSecond = 20

// kernelClock is the clock each new log view's limiter takes (a test sets
// its own before starting the UI).
var kernelClock = time.Now

// logBuffer is one list of log lines, the newest last.
type logBuffer struct {
	lines   []string
	dropped int // lines cut from the front since the view was last set
}

func (b *logBuffer) add(line string) {
	b.lines = append(b.lines, line)
	if n := len(b.lines) - logLines; n > 0 {
		b.lines = b.lines[n:]
		b.dropped += n
	}
}

// logView is the operation log and, in the rescue environment, the
// kernel's messages: two lists, one shown at a time (k switches).
type logView struct {
	app  *tview.Application
	root *tview.TextView

	mu     sync.Mutex
	own    logBuffer
	kernel logBuffer
	limit  kernelLimiter
	dirty  bool // lines were added since the view was last set

	kernelOn atomic.Bool // kernel messages are followed: k switches to them

	// Touched on the UI goroutine only.
	showKernel bool
	// follow is set while the view follows the end of the log: new lines
	// scroll it. Scrolling back clears it; End sets it again.
	follow bool
	count  int // lines in the view
}

func newLogView(app *tview.Application) *logView {
	l := &logView{app: app, follow: true, limit: kernelLimiter{perSecond: kernelPerSecond, now: kernelClock}}
	l.root = tview.NewTextView().SetDynamicColors(true).SetScrollable(true)
	l.root.SetBorder(true)
	l.root.ScrollToEnd()
	l.root.SetInputCapture(l.key)
	l.setTitle()
	return l
}

// key switches between the lists (k) and tracks whether the view follows
// the end; tview scrolls.
func (l *logView) key(ev *tcell.EventKey) *tcell.EventKey {
	switch ev.Key() {
	case tcell.KeyUp, tcell.KeyPgUp, tcell.KeyHome, tcell.KeyCtrlB:
		l.follow = false
	case tcell.KeyEnd:
		l.follow = true
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			if !l.kernelOn.Load() {
				l.follow = false // tview's own k: a line up
				l.setTitle()
				return ev
			}
			l.showKernel = !l.showKernel
			l.follow = true
			l.root.ScrollToEnd()
			l.refresh(true)
			return nil
		case 'g':
			l.follow = false
		case 'G':
			l.follow = true
		}
	}
	defer l.setTitle()
	return ev
}

func (l *logView) setTitle() {
	title := fmt.Sprintf(" Log: %d lines ", l.count)
	if l.showKernel {
		title = fmt.Sprintf(" Kernel messages: %d lines ", l.count)
	}
	if !l.follow {
		title += "(scrolled back; End follows new lines) "
	}
	l.root.SetTitle(title)
}

// add appends a line of Lifeboat's own; safe from any goroutine. The view
// shows it at the next refresh (run), so that a burst of lines costs one
// redraw, not one per line: on a serial console each redraw is slow.
func (l *logView) add(line string) {
	l.mu.Lock()
	l.own.add(time.Now().Format("15:04:05 ") + line)
	l.dirty = true
	l.mu.Unlock()
}

// addKernel takes one kernel message through the limiter.
func (l *logView) addKernel(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.limit.feed(msg) {
		l.kernel.add(time.Now().Format("15:04:05 ") + line)
		l.dirty = true
	}
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
		for _, line := range l.limit.flush() {
			l.kernel.add(time.Now().Format("15:04:05 ") + line)
			l.dirty = true
		}
		dirty := l.dirty
		l.mu.Unlock()
		if dirty {
			l.app.QueueUpdateDraw(func() { l.refresh(false) })
		}
	}
}

// refresh sets the view's text from the list shown; on the UI goroutine.
// A view scrolled back stays on the lines it shows, even as old lines are
// cut from the front; one that follows the end shows the new lines.
func (l *logView) refresh(force bool) {
	l.mu.Lock()
	if !l.dirty && !force {
		l.mu.Unlock()
		return
	}
	l.dirty = false
	b := &l.own
	if l.showKernel {
		b = &l.kernel
	}
	text := clean(strings.Join(b.lines, "\n"))
	l.count = len(b.lines)
	dropped := b.dropped
	l.own.dropped, l.kernel.dropped = 0, 0
	l.mu.Unlock()
	row, col := l.root.GetScrollOffset()
	l.root.SetText(text)
	if !l.follow && dropped > 0 && !force {
		l.root.ScrollTo(max(row-dropped, 0), col)
	}
	l.setTitle()
}

// Lines returns a copy of Lifeboat's own log.
func (l *logView) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.own.lines...)
}

// KernelLines returns a copy of the kernel messages kept.
func (l *logView) KernelLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.kernel.lines...)
}

// followKernel adds the kernel's messages from path (/dev/kmsg) to the
// kernel list until ctx ends or the file does.
func (l *logView) followKernel(ctx context.Context, path string) {
	l.kernelOn.Store(true)
	f, err := os.Open(path)
	if err != nil {
		l.add(fmt.Sprintf("kernel messages unavailable: %v", err))
		return
	}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	l.readKernel(f)
}

// readKernel adds the kmsg records of r ("prio,seq,time,flags;message",
// with " KEY=value" continuation lines) to the kernel list.
func (l *logView) readKernel(r io.Reader) {
	sc := bufio.NewScanner(kmsgReader{r})
	sc.Buffer(make([]byte, 8192), 8192)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") {
			continue // a record's KEY=value continuation (SUBSYSTEM=, DEVICE=)
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[i+1:]
		}
		l.addKernel(line)
	}
}

// kmsgLost is the record kmsgReader gives in place of the messages the
// kernel overwrote before they were read.
const kmsgLost = "0,0,0,-;(kernel messages were lost: the kernel's log buffer overran before Lifeboat read them)\n"

// kmsgReader reads /dev/kmsg, which fails a read with EPIPE when the
// reader has fallen behind and records were overwritten, then goes on
// from the oldest one left: it says so in a record of its own rather than
// stopping there.
type kmsgReader struct{ r io.Reader }

func (k kmsgReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if errors.Is(err, syscall.EPIPE) {
		if n > 0 {
			return n, nil
		}
		return copy(p, kmsgLost), nil
	}
	return n, err
}

// kernelLimiter keeps a flood of kernel messages from filling the log:
// a message like the one before it (the same but for its numbers: the
// sector of each I/O error) is counted, not shown, and the count shown
// when another comes or at the next flush; and no more than perSecond
// messages are shown in a second, the rest counted and the count shown
// when the second is over.
type kernelLimiter struct {
	perSecond int
	now       func() time.Time

	last    string // the last message shown, its numbers masked
	repeats int    // messages like last since it was shown

	second  time.Time // the second being counted
	shown   int       // messages shown in that second
	dropped int       // messages left out in that second
}

// feed takes a message and returns the lines to show for it (none, it,
// or counts of what was held back before it and then it).
func (k *kernelLimiter) feed(msg string) []string {
	var out []string
	now := k.now().Truncate(time.Second)
	if !now.Equal(k.second) {
		out = k.endSecond(out)
		k.second = now
	}
	key := maskNumbers(msg)
	if key == k.last && k.last != "" {
		k.repeats++
		return out
	}
	out = k.endRepeats(out)
	k.last = key
	if k.shown >= k.perSecond {
		k.dropped++
		return out
	}
	k.shown++
	return append(out, msg)
}

// flush returns the counts of what was held back, once the second in
// which it was held back is over.
func (k *kernelLimiter) flush() []string {
	now := k.now().Truncate(time.Second)
	if now.Equal(k.second) {
		return nil
	}
	out := k.endRepeats(nil)
	out = k.endSecond(out)
	k.second = now
	return out
}

func (k *kernelLimiter) endRepeats(out []string) []string {
	if k.repeats > 0 {
		out = append(out, fmt.Sprintf("(the message above repeated %d more times)", k.repeats))
		k.repeats = 0
	}
	return out
}

func (k *kernelLimiter) endSecond(out []string) []string {
	if k.dropped > 0 {
		out = append(out, fmt.Sprintf("(%d more messages left out: over %d a second)", k.dropped, k.perSecond))
	}
	k.shown, k.dropped = 0, 0
	return out
}

// maskNumbers replaces each run of digits in s with "#", so that messages
// differing only in a sector, a time or a count compare equal.
func maskNumbers(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}
