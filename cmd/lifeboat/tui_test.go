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
// (tmux, 80x24) and checks that it lists this machine's disks, then quits
// it with the keyboard.
func TestTUIInTmux(t *testing.T) {
	testutil.Root(t)
	tmux := testutil.Tool(t, "tmux")
	dir := t.TempDir()
	bin := filepath.Join(dir, "lifeboat")
	testutil.Run(t, "go", "build", "-o", bin, ".")
	disks, err := inventory.Scan(inventory.DefaultSource())
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) == 0 {
		t.Skip("this machine has no disks to list")
	}
	session := "lifeboat-test-" + filepath.Base(dir)
	testutil.Run(t, tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM=xterm",
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
		if !strings.Contains(s, d.Name) && len(disks) < 10 {
			t.Errorf("disk %s is not listed:\n%s", d.Name, s)
		}
	}
	if !strings.Contains(s, "c capture") {
		t.Errorf("no key hints:\n%s", s)
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
}
