package initramfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// vm is a QEMU virtual machine whose serial console is a tmux pane of
// 80x24, so that tests see the screen a technician on a serial line sees.
type vm struct {
	t       *testing.T
	session string
	start   time.Time
	exited  string // a file that appears when QEMU exits, holding its status
}

// needVM skips the test unless it runs as root with QEMU and tmux.
func needVM(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"qemu-system-x86_64", "tmux"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run make deps", tool)
		}
	}
}

// startVM runs qemu-system-x86_64 with args (TCG, the serial console on
// the pane, no display). The VM is killed when the test ends.
func startVM(t *testing.T, args ...string) *vm {
	t.Helper()
	needVM(t)
	work := t.TempDir()
	// Each VM has its own tmux server (its socket named after the test's
	// own temporary directory): VMs of tests running at once, or of two
	// test runs, never share a server or a session name.
	v := &vm{t: t, session: "lifeboat-" + filepath.Base(filepath.Dir(work)) + "-" + filepath.Base(work), exited: filepath.Join(work, "exited")}
	var q []string
	for _, a := range append([]string{"qemu-system-x86_64", "-display", "none", "-serial", "mon:stdio", "-no-reboot"}, args...) {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	script := strings.Join(q, " ") + "; echo \"qemu exited: $?\" > " + v.exited + "; sleep 600"
	v.start = time.Now()
	out, err := v.tmux("new-session", "-d", "-s", v.session, "-x", "80", "-y", "24", script).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		v.tmux("kill-server").Run()
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), v.session))
	})
	return v
}

// tmux runs a tmux command on the VM's own server.
func (v *vm) tmux(args ...string) *exec.Cmd {
	return exec.Command("tmux", append([]string{"-L", v.session}, args...)...)
}

// screen is what the pane shows now.
func (v *vm) screen() string {
	b, _ := v.tmux("capture-pane", "-p", "-t", v.session).Output()
	return string(b)
}

// history is the pane with its scrollback: everything printed so far.
func (v *vm) history() string {
	b, _ := v.tmux("capture-pane", "-p", "-S", "-5000", "-t", v.session).Output()
	return string(b)
}

// waitFor waits until the screen shows every one of want and returns it;
// it fails the test after timeout with the screen it saw.
func (v *vm) waitFor(timeout time.Duration, want ...string) string {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := v.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("after %s the serial console does not show %q:\n%s", time.Since(v.start).Round(time.Second), missing, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// keys sends tmux key names ("Enter", "Escape", "Down") or text.
func (v *vm) keys(keys ...string) {
	v.t.Helper()
	if out, err := v.tmux(append([]string{"send-keys", "-t", v.session}, keys...)...).CombinedOutput(); err != nil {
		v.t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
	}
}

// text types s literally.
func (v *vm) text(s string) {
	v.t.Helper()
	if out, err := v.tmux("send-keys", "-t", v.session, "-l", s).CombinedOutput(); err != nil {
		v.t.Fatalf("tmux send-keys -l %q: %v\n%s", s, err, out)
	}
}

// waitExit waits for QEMU to exit (the guest powered off) and returns
// everything the console printed.
func (v *vm) waitExit(timeout time.Duration) string {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(v.exited); err == nil {
			if !strings.Contains(string(b), "qemu exited: 0") {
				v.t.Fatalf("%s\n%s", strings.TrimSpace(string(b)), v.history())
			}
			return v.history()
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("QEMU still runs after %s:\n%s", time.Since(v.start).Round(time.Second), v.screen())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop quits QEMU (Ctrl-A x on its serial console) and waits for it to
// exit, so that another VM may open its disks.
func (v *vm) stop() {
	v.t.Helper()
	v.tmux("send-keys", "-t", v.session, "C-a", "x").Run()
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(v.exited); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.t.Fatalf("QEMU did not quit:\n%s", v.screen())
}

// since is the time since QEMU started.
func (v *vm) since() time.Duration { return time.Since(v.start).Round(100 * time.Millisecond) }

// blankDisk makes a sparse file of size bytes in the test's temp dir.
func blankDisk(t *testing.T, name string, size int64) string {
	t.Helper()
	return testutil.Sparse(t, name, size)
}

// mediaDir is where make image put the boot media; make test sets
// LIFEBOAT_MEDIA_DIR.
func mediaDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LIFEBOAT_MEDIA_DIR")
	if dir == "" {
		t.Skip("LIFEBOAT_MEDIA_DIR is not set: run make test, which builds the boot media first")
	}
	if _, err := os.Stat(filepath.Join(dir, "lifeboat.img")); err != nil {
		t.Fatalf("the boot media are not built: %v", err)
	}
	return dir
}
