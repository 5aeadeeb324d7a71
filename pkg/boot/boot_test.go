package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestQuietConsole(t *testing.T) {
	proc := t.TempDir()
	printk := filepath.Join(proc, "sys/kernel/printk")
	writeFile(t, printk, "7\t4\t1\t7\n")
	if err := QuietConsole(proc); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, printk); got != "1 4 1 7\n" {
		t.Errorf("printk = %q, want %q", got, "1 4 1 7\n")
	}

	err := QuietConsole(filepath.Join(proc, "nonexistent"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "quiet the console") {
		t.Errorf("QuietConsole without a proc tree: %v", err)
	}
}

func TestSetModprobe(t *testing.T) {
	proc := t.TempDir()
	modprobe := filepath.Join(proc, "sys/kernel/modprobe")
	writeFile(t, modprobe, "/sbin/modprobe\n")
	for _, prog := range []string{"/bbin/lifeboat-modprobe", "/sbin/modprobe"} {
		if err := SetModprobe(proc, prog); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, modprobe); got != prog+"\n" {
			t.Errorf("modprobe = %q, want %q", got, prog+"\n")
		}
	}

	err := SetModprobe(filepath.Join(proc, "nonexistent"), "/bbin/lifeboat-modprobe")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/bbin/lifeboat-modprobe") {
		t.Errorf("SetModprobe without a proc tree: %v", err)
	}
}

func TestConsoles(t *testing.T) {
	for _, tc := range []struct {
		active string // the contents of class/tty/console/active
		want   []string
	}{
		{"tty0 ttyS0\n", []string{"tty1", "ttyS0"}},
		{"ttyS0\n", []string{"ttyS0"}},
		{"tty1\n", []string{"tty1"}},
		{"ttyS0 tty0\n", []string{"ttyS0", "tty1"}},
		{"hvc0\n", []string{"hvc0"}},
		{"ttyS0 ttyS1 ttyS0\n", []string{"ttyS0", "ttyS1"}},
		{"tty0 tty1\n", []string{"tty1"}}, // the same terminal, once
		{"\tttyAMA0  \n", []string{"ttyAMA0"}},
		{"../sda ttyS0 . tty.x\n", []string{"ttyS0"}}, // never a path
		// No console named: the screen.
		{"", []string{"tty1"}},
		{"\n", []string{"tty1"}},
		{"../x\n", []string{"tty1"}},
	} {
		sys := t.TempDir()
		writeFile(t, filepath.Join(sys, "class/tty/console/active"), tc.active)
		got, err := Consoles(sys)
		if err != nil {
			t.Errorf("Consoles(%q): %v", tc.active, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Consoles(%q) = %q, want %q", tc.active, got, tc.want)
		}
	}

	if got, err := Consoles(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Consoles without class/tty/console/active = %q, %v; want fs.ErrNotExist", got, err)
	}
}

func TestTerm(t *testing.T) {
	for console, want := range map[string]string{
		"tty0":    "linux",
		"tty1":    "linux",
		"tty12":   "linux",
		"ttyS0":   "vt220",
		"ttyS1":   "vt220",
		"ttyAMA0": "vt220",
		"ttyUSB0": "vt220",
		"hvc0":    "vt220",
		"tty":     "vt220",
		"console": "vt220",
		"":        "vt220",
	} {
		if got := Term(console); got != want {
			t.Errorf("Term(%q) = %q, want %q", console, got, want)
		}
	}
}

// addDisk makes sysRoot/block/name the way sysfs does: a symlink into the
// device tree.
func addDisk(t *testing.T, sys, name string) {
	t.Helper()
	dev := filepath.Join(sys, "devices/virtual/block", name)
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.MkdirAll(filepath.Join(sys, "block"), 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.Symlink(filepath.Join("../devices/virtual/block", name), filepath.Join(sys, "block", name)); err != nil {
		t.Error(err)
	}
}

func TestSettleDisks(t *testing.T) {
	type step struct {
		after time.Duration // from the start
		disk  string
	}
	for _, tc := range []struct {
		name       string
		initial    []string
		appear     []step
		cancelled  bool
		quiet, max time.Duration
		want       []string // nil: not checked
		minTime    time.Duration
		maxTime    time.Duration
	}{{
		name:    "no block devices",
		quiet:   200 * time.Millisecond,
		max:     5 * time.Second,
		want:    []string{},
		minTime: 200 * time.Millisecond,
		maxTime: 3 * time.Second,
	}, {
		name:    "disks already there",
		initial: []string{"sda", "nvme0n1"},
		quiet:   300 * time.Millisecond,
		max:     5 * time.Second,
		want:    []string{"nvme0n1", "sda"},
		minTime: 300 * time.Millisecond,
		maxTime: 3 * time.Second,
	}, {
		name:    "disks appearing",
		initial: []string{"sda"},
		appear:  []step{{100 * time.Millisecond, "sdb"}, {300 * time.Millisecond, "vda"}},
		quiet:   time.Second,
		max:     10 * time.Second,
		want:    []string{"sda", "sdb", "vda"},
		minTime: 1300 * time.Millisecond,
		maxTime: 5 * time.Second,
	}, {
		name:    "never quiet",
		initial: []string{"sda"},
		appear: func() []step {
			var s []step
			for i := range 40 {
				s = append(s, step{time.Duration(i+1) * 50 * time.Millisecond, fmt.Sprintf("loop%d", i)})
			}
			return s
		}(),
		quiet:   time.Second,
		max:     500 * time.Millisecond,
		minTime: 500 * time.Millisecond,
		maxTime: 1500 * time.Millisecond,
	}, {
		name:      "context ended",
		initial:   []string{"sda"},
		cancelled: true,
		quiet:     10 * time.Second,
		max:       10 * time.Second,
		want:      []string{"sda"},
		maxTime:   time.Second,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sys := t.TempDir()
			for _, d := range tc.initial {
				addDisk(t, sys, d)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			defer func() { close(stop); wg.Wait() }()
			start := time.Now()
			wg.Go(func() {
				for _, s := range tc.appear {
					select {
					case <-stop:
						return
					case <-time.After(time.Until(start.Add(s.after))):
					}
					addDisk(t, sys, s.disk)
				}
			})

			got := SettleDisks(ctx, sys, tc.quiet, tc.max)
			took := time.Since(start)
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("SettleDisks = %q, want %q", got, tc.want)
			}
			if took < tc.minTime || took > tc.maxTime {
				t.Errorf("SettleDisks took %s, want %s to %s", took, tc.minTime, tc.maxTime)
			}
			if !slices.IsSorted(got) {
				t.Errorf("SettleDisks = %q, not sorted", got)
			}
		})
	}
}

// openPTY opens a new pseudo-terminal. It returns the master side and the
// slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	// Through SyscallConn, not Fd, which would make reads block Close.
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	err2 := rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		}
	})
	if err := errors.Join(err, err2); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// console is a pseudo-terminal standing for a console: devRoot/name is its
// slave side. It keeps what the programs on it write.
type console struct {
	devRoot, name, path string

	mu  sync.Mutex
	out bytes.Buffer
}

func newConsole(t *testing.T, name string) *console {
	t.Helper()
	m, slave := openPTY(t)
	c := &console{devRoot: t.TempDir(), name: name, path: slave}
	if err := os.Symlink(slave, filepath.Join(c.devRoot, name)); err != nil {
		t.Fatal(err)
	}
	// Hold the slave open, so that reading the master does not fail
	// between one program and the next.
	s, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			c.mu.Lock()
			c.out.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { m.Close(); <-done })
	return c
}

func (c *console) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// waitFor waits for the programs on c to have written s n times.
func (c *console) waitFor(t *testing.T, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(c.output(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (%d times) on the console after %s; it shows %q", s, n, timeout, c.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logs keeps what Supervise logs.
type logs struct {
	mu    sync.Mutex
	lines []string
	at    []time.Time
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.at = append(l.at, time.Now())
}

func (l *logs) get() ([]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines), slices.Clone(l.at)
}

func (l *logs) waitFor(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines, _ := l.get()
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines logged after %s, want %d: %q", len(lines), timeout, n, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// supervise runs Supervise in the background. The function it returns ends
// the context and waits for Supervise to return, failing the test if that
// takes more than a second or two.
func supervise(t *testing.T, devRoot, name string, argv, env []string, l *logs) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Supervise(ctx, devRoot, name, argv, env, l.logf)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() {
		t.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Supervise did not return when its context ended")
		}
	}
}

const shell = "/bin/sh"

// The program runs on the console as a session leader with the console as
// its controlling terminal, with the environment given, on a terminal
// with a size.
func TestSuperviseRunsOnConsole(t *testing.T) {
	if _, err := os.Stat(shell); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name     string
		size     *unix.Winsize
		wantSize string
	}{
		{"serial line", nil, "24 80"},
		{"screen", &unix.Winsize{Row: 48, Col: 160}, "48 160"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsole(t, "ttyS0")
			if tc.size != nil {
				s, err := os.OpenFile(c.path, os.O_RDWR|unix.O_NOCTTY, 0)
				if err != nil {
					t.Fatal(err)
				}
				err = unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, tc.size)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			script := `echo "size=$(stty size)"; echo "term=$TERM"; echo "tty=$(tty)"; ` +
				`set -- $(cat /proc/$$/stat); echo "pid=$1 session=$6 ctty=$7"; echo done`
			var l logs
			stop := supervise(t, c.devRoot, c.name, []string{shell, "-c", script},
				[]string{"TERM=vt220", "PATH=/usr/local/bin:/usr/bin:/bin"}, &l)
			c.waitFor(t, "done\r\n", 1, 10*time.Second)
			out := c.output()
			for _, want := range []string{"size=" + tc.wantSize + "\r\n", "term=vt220\r\n", "tty=" + c.path + "\r\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("the program wrote %q, not %q", out, want)
				}
			}
			var pid, session, ctty int
			i := strings.Index(out, "pid=")
			if i < 0 {
				t.Fatalf("the program wrote %q", out)
			}
			if _, err := fmt.Sscanf(out[i:], "pid=%d session=%d ctty=%d", &pid, &session, &ctty); err != nil {
				t.Fatalf("the program wrote %q: %v", out, err)
			}
			if pid != session || ctty == 0 {
				t.Errorf("pid %d, session %d, controlling terminal %#x: want a session leader with a controlling terminal", pid, session, ctty)
			}

			lines := l.waitFor(t, 1, 5*time.Second)
			if !strings.HasPrefix(lines[0], shell+" on ttyS0 exited after ") || !strings.HasSuffix(lines[0], "starting it again") {
				t.Errorf("logged %q", lines[0])
			}
			// Supervise waits before starting the program again; ending
			// the context ends the wait.
			stop()
			if got := strings.Count(c.output(), "done\r\n"); got != 1 {
				t.Errorf("the program ran %d times, want 1", got)
			}
		})
	}
}

// A program that exits is started again, and a program that exits at once
// only after a pause.
func TestSuperviseRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("Supervise waits 5 s before starting a program that exited at once")
	}
	if _, err := os.Stat(shell); err != nil {
		t.Skip(err)
	}
	c := newConsole(t, "tty1")
	var l logs
	stop := supervise(t, c.devRoot, c.name, []string{shell, "-c", "echo run; exit 3"}, nil, &l)
	c.waitFor(t, "run\r\n", 2, 20*time.Second)
	second := time.Now()
	stop()

	lines, at := l.get()
	if len(lines) < 1 || !strings.Contains(lines[0], "exit status 3") {
		t.Fatalf("logged %q", lines)
	}
	if gap := second.Sub(at[0]); gap < 4*time.Second {
		t.Errorf("started again %s after it exited, want a pause of 5 s", gap)
	}
}

// Ending the context ends the program that runs.
func TestSuperviseStopsProgram(t *testing.T) {
	if _, err := os.Stat(shell); err != nil {
		t.Skip(err)
	}
	c := newConsole(t, "hvc0")
	pidFile := filepath.Join(t.TempDir(), "pid")
	var l logs
	stop := supervise(t, c.devRoot, c.name, []string{shell, "-c", "echo $$ > " + pidFile + "; echo started; exec sleep 60"}, nil, &l)
	c.waitFor(t, "started\r\n", 1, 10*time.Second)
	var pid int
	if _, err := fmt.Sscan(readFile(t, pidFile), &pid); err != nil {
		t.Fatal(err)
	}
	stop()
	if lines, _ := l.get(); len(lines) != 0 {
		t.Errorf("logged %q when the context ended", lines)
	}
	// Supervise waited for it: it is gone, not even a zombie.
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the program (pid %d) is still there: %v", pid, err)
	}
}

// A console that cannot be opened is reported, and tried again after a
// pause.
func TestSuperviseNoConsole(t *testing.T) {
	devRoot := t.TempDir()
	var l logs
	stop := supervise(t, devRoot, "ttyS9", []string{shell, "-c", "exit 0"}, nil, &l)
	lines := l.waitFor(t, 1, 5*time.Second)
	want := "open " + filepath.Join(devRoot, "ttyS9")
	if !strings.HasPrefix(lines[0], shell+" on ttyS9 exited after ") || !strings.Contains(lines[0], want) {
		t.Errorf("logged %q, want a line with %q", lines[0], want)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	if lines, _ := l.get(); len(lines) != 1 {
		t.Errorf("tried the console again at once: %q", lines)
	}
}
