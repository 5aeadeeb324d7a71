package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// marker is the line tests look for on the serial console.
const marker = "LIFEBOAT-DEMO-SYSTEM-UP"

func main() {
	var problems []string
	for _, m := range []struct{ fstype, dir string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
	} {
		if err := mount(m.fstype, m.dir); err != nil {
			problems = append(problems, err.Error())
		}
	}
	out := consoles()
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...) + "\n"
		for _, w := range out {
			io.WriteString(w, line)
		}
	}
	say("%s", marker)
	say("%s", demoID())
	say("root: %s", rootParam())
	say("block devices: %s", blockDevices())
	for _, p := range problems {
		say("demoinit: %s", p)
	}
	say("demoinit: powering off")
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	say("demoinit: power off failed: %v; halting here", err)
	for {
		time.Sleep(time.Hour)
	}
}

// rootParam is the root= parameter GRUB put on the kernel command line.
func rootParam() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "unknown: " + err.Error()
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "root="); ok {
			return v
		}
	}
	return "none"
}

// mount mounts a kernel file system of type fstype on dir, which it makes
// if needed. A file system already mounted there is not an error.
func mount(fstype, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", fstype, err)
	}
	err := unix.Mount(fstype, dir, fstype, unix.MS_NOSUID|unix.MS_NOEXEC, "")
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount %s on %s: %w", fstype, dir, err)
	}
	return nil
}

// consoles opens the kernel's console and the first serial port, leaving
// the serial port out when the console already is that port, so that no
// line is printed twice on it.
func consoles() []io.Writer {
	var out []io.Writer
	console, err := os.OpenFile("/dev/console", os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err == nil {
		out = append(out, console)
	}
	serial, err := os.OpenFile("/dev/ttyS0", os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return out
	}
	if console != nil && sameTTY(console, serial) {
		serial.Close()
		return out
	}
	return append(out, serial)
}

// sameTTY tells whether the console is the serial port: TIOCGDEV gives
// the device behind /dev/console.
func sameTTY(console, serial *os.File) bool {
	dev, err := unix.IoctlGetUint32(int(console.Fd()), unix.TIOCGDEV)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(serial.Fd()), &st); err != nil {
		return false
	}
	return uint64(dev) == st.Rdev
}

// demoID is the first line of /etc/demo-id, which build/demodisk.sh writes
// into the initramfs.
func demoID() string {
	b, err := os.ReadFile("/etc/demo-id")
	if err != nil {
		return fmt.Sprintf("demo-id unknown: %v", err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return id
}

// blockDevices lists the block devices in /sys/block with their sizes,
// leaving out the empty ones (idle loop and RAM disk devices).
func blockDevices() string {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return fmt.Sprintf("unknown: %v", err)
	}
	var devs []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "size"))
		if err != nil {
			continue
		}
		sectors, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || sectors == 0 {
			continue
		}
		devs = append(devs, fmt.Sprintf("%s (%d MiB)", e.Name(), sectors*512>>20))
	}
	if len(devs) == 0 {
		return "none"
	}
	sort.Strings(devs)
	return strings.Join(devs, ", ")
}
