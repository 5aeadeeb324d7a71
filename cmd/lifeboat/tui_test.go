package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
)

// TestTUIInTmux starts the real binary's text UI in a real terminal
// (tmux, 80x24) as each kind of terminal it meets (an X terminal, the
// Linux console, a serial terminal without colours) and checks that it
// lists this machine's disks, then quits it with the keyboard.
func TestTUIInTmux(t *testing.T) {
	testutil.Root(t)
	tmux := testutil.Tool(t, "tmux")
	dir := t.TempDir()
	bin := filepath.Join(dir, "lifeboat")
	testutil.Run(t, "go", "build", "-o", bin, ".")
	all, err := inventory.Scan(inventory.DefaultSource())
	if err != nil {
		t.Fatal(err)
	}
	// Loop devices come and go with tests running beside this one; the
	// machine's own disks stay.
	var disks []inventory.Disk
	for _, d := range all {
		if d.Transport != "loop" && !strings.HasPrefix(d.Name, "loop") {
			disks = append(disks, d)
		}
	}
	if len(disks) == 0 {
		t.Fatal("this machine has no disks but loop devices; the test would prove nothing")
	}
	for _, term := range []string{"xterm", "linux", "vt220"} {
		t.Run(term, func(t *testing.T) {
			session := "lifeboat-test-" + term + "-" + filepath.Base(dir)
			testutil.Run(t, tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM="+term,
				bin+" tui --find=false")
			t.Cleanup(func() { exec.Command(tmux, "kill-session", "-t", session).Run() })
			pane := func() string {
				out, _ := exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
				return string(out)
			}
			waitFor := func(want string) string {
				t.Helper()
				deadline := time.Now().Add(60 * time.Second)
				for {
					s := pane()
					if strings.Contains(s, want) {
						return s
					}
					if time.Now().After(deadline) {
						t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			s := waitFor(disks[0].Name)
			for _, d := range disks {
				if !strings.Contains(s, d.Name) {
					t.Errorf("disk %s is not listed:\n%s", d.Name, s)
				}
			}
			lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
			if len(lines) != 24 || !strings.Contains(lines[23], "c capture") || !strings.Contains(lines[23], "q quit") {
				t.Errorf("key hints not on the 24th line:\n%s", s)
			}
			testutil.Run(t, tmux, "send-keys", "-t", session, "q")
			waitFor("Quit Lifeboat?")
			testutil.Run(t, tmux, "send-keys", "-t", session, "y")
			deadline := time.Now().Add(30 * time.Second)
			for exec.Command(tmux, "has-session", "-t", session).Run() == nil {
				if time.Now().After(deadline) {
					t.Fatalf("lifeboat tui did not quit:\n%s", pane())
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
