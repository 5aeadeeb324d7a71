package initramfs_test

import (
	"regexp"
	"strings"
	"time"
)

// Helpers that read the text UI's tables off the serial console.

// sgr matches the SGR escape sequences tmux adds to a pane captured with -e.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// selectedRow is the text of the highlighted row of the table in a double
// border (the disks, a wizard's list), or "" when none is highlighted. On
// the serial console (TERM=vt220, no colours) tview draws the cursor in
// reverse video; the title bar is reverse too, but is not in a border.
func (v *vm) selectedRow() string {
	b, _ := v.tmux("capture-pane", "-p", "-e", "-t", v.session).Output()
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "║") && strings.Contains(l, "\x1b[7m") {
			return sgr.ReplaceAllString(l, "")
		}
	}
	return ""
}

// selectRow moves the cursor of the table on the screen down to the row
// that shows want, one row at a time, waiting for the highlight to move
// after each key so that a slow redraw cannot make it overshoot.
func (v *vm) selectRow(want string) {
	v.t.Helper()
	for range 20 {
		cur := v.selectedRow()
		for deadline := time.Now().Add(time.Minute); cur == "" && time.Now().Before(deadline); cur = v.selectedRow() {
			time.Sleep(250 * time.Millisecond)
		}
		if strings.Contains(cur, want) {
			return
		}
		v.keys("Down")
		for deadline := time.Now().Add(time.Minute); v.selectedRow() == cur && time.Now().Before(deadline); {
			time.Sleep(250 * time.Millisecond)
		}
	}
	v.t.Fatalf("no row showing %q could be selected; highlighted: %q\n%s", want, v.selectedRow(), v.screen())
}

// waitUntil waits until ok accepts the screen and returns that screen; it
// fails the test after timeout, saying what it waited for.
func (v *vm) waitUntil(timeout time.Duration, what string, ok func(screen string) bool) string {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := v.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("after %s the serial console does not show %s:\n%s", time.Since(v.start).Round(time.Second), what, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitJob waits for a job's screen (a capture, a restore) to say it is
// done, and fails the test at once if it says the job failed.
func (v *vm) waitJob(timeout time.Duration, title string) string {
	v.t.Helper()
	var failed bool
	s := v.waitUntil(timeout, "the end of "+title, func(s string) bool {
		failed = strings.Contains(s, title+": FAILED")
		return failed || strings.Contains(s, title+": done")
	})
	// The title is drawn before the rest of the screen: wait until the
	// screen is the same twice in a row, so the summary below it is there.
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		next := v.screen()
		if next == s {
			break
		}
		s = next
	}
	if failed {
		v.t.Fatalf("%s failed:\n%s", title, s)
	}
	return s
}

// tableRows reads the table whose header line shows every one of cols
// (column names as they appear, each a single word) from a screen: each
// row after the header becomes a map from column name to the cell's text.
// Cells are cut at the columns' starts in the header, so they may hold
// blanks; the last column runs to the end of the line. A border around
// the table is dropped.
func tableRows(screen string, cols ...string) []map[string]string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		head := []rune(l)
		starts := make([]int, len(cols))
		found := true
		for c, name := range cols {
			at := wordAt(head, name)
			if at < 0 || (c > 0 && at <= starts[c-1]) {
				found = false
				break
			}
			starts[c] = at
		}
		if !found {
			continue
		}
		var rows []map[string]string
		for _, l := range lines[i+1:] {
			r := []rune(l)
			row := map[string]string{}
			for c, name := range cols {
				from, to := starts[c], len(r)
				if c+1 < len(cols) {
					to = starts[c+1]
				}
				if from > len(r) {
					from = len(r)
				}
				if to > len(r) {
					to = len(r)
				}
				row[name] = strings.TrimSpace(strings.Trim(string(r[from:to]), "║│"))
			}
			rows = append(rows, row)
		}
		return rows
	}
	return nil
}

// wordAt is the rune index of name in line as a whole word, or -1.
func wordAt(line []rune, name string) int {
	n := []rune(name)
	for i := 0; i+len(n) <= len(line); i++ {
		if string(line[i:i+len(n)]) != name {
			continue
		}
		before := i == 0 || line[i-1] == ' ' || line[i-1] == '║'
		after := i+len(n) == len(line) || line[i+len(n)] == ' ' || line[i+len(n)] == '║'
		if before && after {
			return i
		}
	}
	return -1
}

// rowWith is the first row whose column col holds exactly value, or nil.
func rowWith(rows []map[string]string, col, value string) map[string]string {
	for _, r := range rows {
		if r[col] == value {
			return r
		}
	}
	return nil
}
