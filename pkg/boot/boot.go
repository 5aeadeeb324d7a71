package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Logf receives what boot does, a line at a time.
type Logf func(format string, args ...any)

// LoadingMarker exists while the rescue environment loads the drivers for
// the hardware present: the UI then says that disks may still come.
const LoadingMarker = "/run/lifeboat/loading-drivers"

// QuietConsole keeps all but emergency kernel messages off the consoles
// (they stay readable in the kernel log).
func QuietConsole(procRoot string) error {
	p := filepath.Join(procRoot, "sys/kernel/printk")
	if err := os.WriteFile(p, []byte("1 4 1 7\n"), 0o644); err != nil {
		return fmt.Errorf("quiet the console: %w", err)
	}
	return nil
}

// SetModprobe makes the kernel run prog for its own module requests.
func SetModprobe(procRoot, prog string) error {
	p := filepath.Join(procRoot, "sys/kernel/modprobe")
	if err := os.WriteFile(p, []byte(prog+"\n"), 0o644); err != nil {
		return fmt.Errorf("set the kernel's modprobe to %s: %w", prog, err)
	}
	return nil
}

// Consoles returns the terminals the kernel writes its console to, from
// sysRoot/class/tty/console/active ("tty0 ttyS0"), as device names. tty0,
// the current virtual terminal, is given as tty1.
func Consoles(sysRoot string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(sysRoot, "class/tty/console/active"))
	if err != nil {
		return nil, fmt.Errorf("read the active consoles: %w", err)
	}
	var out []string
	for _, c := range strings.Fields(string(b)) {
		if c == "tty0" {
			c = "tty1"
		}
		if strings.ContainsAny(c, "/.") || slices.Contains(out, c) {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		out = []string{"tty1"}
	}
	return out, nil
}

// Term is the terminal type to give a program on a console: "linux" on a
// virtual terminal, "vt220" on a serial line (which any terminal emulator
// understands).
func Term(console string) string {
	if strings.HasPrefix(console, "tty") && len(console) > 3 && console[3] >= '0' && console[3] <= '9' {
		return "linux"
	}
	return "vt220"
}

// SettleDisks waits until the list of block devices in sysRoot/block has
// not changed for quiet, or until max has passed. It returns the devices.
func SettleDisks(ctx context.Context, sysRoot string, quiet, max time.Duration) []string {
	list := func() []string {
		ents, _ := os.ReadDir(filepath.Join(sysRoot, "block"))
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	deadline := time.Now().Add(max)
	last, since := list(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < quiet {
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
		if cur := list(); !slices.Equal(cur, last) {
			last, since = cur, time.Now()
		}
	}
	return last
}

// Supervise runs argv on the console devRoot/console, as the session
// leader with the console as its controlling terminal, and runs it again
// each time it exits, until ctx ends. A console with no size (a serial
// line) is given 80x24.
func Supervise(ctx context.Context, devRoot, console string, argv, env []string, logf Logf) {
	for ctx.Err() == nil {
		start := time.Now()
		err := runOn(ctx, filepath.Join(devRoot, console), argv, env)
		if ctx.Err() != nil {
			return
		}
		logf("%s on %s exited after %s: %v; starting it again", argv[0], console, time.Since(start).Round(time.Second), err)
		// Do not spin on a console that fails at once.
		wait := time.Second
		if time.Since(start) < 5*time.Second {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func runOn(ctx context.Context, dev string, argv, env []string) error {
	tty, err := os.OpenFile(dev, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer tty.Close()
	if ws, err := unix.IoctlGetWinsize(int(tty.Fd()), unix.TIOCGWINSZ); err == nil && (ws.Row == 0 || ws.Col == 0) {
		unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = env
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		return err
	}
	return errors.New("exited")
}
