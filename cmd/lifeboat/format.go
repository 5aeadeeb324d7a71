package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// human formats a byte count.
func human(n int64) string { return units.Bytes(n) }

func rate(n int64, secs float64) string { return units.Rate(n, secs) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// showProgress draws a tracker on w, a terminal, a few times a second until
// the returned stop function is called.
func showProgress(w io.Writer, tr *progress.Tracker, quiet bool) (stop func()) {
	if quiet || !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\033[K"+progressLine(tr.Snapshot()))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func progressLine(s progress.Snapshot) string {
	bar, pct := units.Bar(s.Done, s.Total, 20)
	left := "-"
	if r := s.Remaining(); r > 0 {
		left = r.Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s] %5.1f%% %s / %s  %s  %s left", s.Stage, bar, pct, human(s.Done), human(s.Total), human(int64(s.Rate))+"/s", left)
}
