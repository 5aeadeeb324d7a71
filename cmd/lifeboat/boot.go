package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/boot"
	"github.com/lifeboat-dev/lifeboat/pkg/kmod"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/unattended"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
	"golang.org/x/sys/unix"
)

// alwaysModules are loaded at boot whatever the hardware: the file systems
// repositories live on (fuse for NTFS, which ntfs-3g mounts), and loop
// devices. XFS and btrfs, large, are left to the first mount of one.
var alwaysModules = []string{"fuse", "ext4", "vfat", "exfat", "isofs", "nls_cp437", "nls_ascii", "nls_iso8859_1", "nls_utf8", "loop", "efivarfs"}

// boot is the rescue environment's start, run by init: it never returns
// while ctx lasts, because init would then run a shell, or the kernel
// panic.
func (e *env) boot(ctx context.Context, args []string) error {
	fs := newFlags("boot")
	sysRoot := fs.String("sys", "/sys", "sysfs")
	if _, err := parse(fs, args, e.stderr); err != nil {
		return err
	}
	kmsg, _ := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		line := "lifeboat: " + fmt.Sprintf(format, a...)
		logMu.Lock()
		defer logMu.Unlock()
		if kmsg != nil {
			fmt.Fprintln(kmsg, line)
		} else {
			fmt.Fprintln(e.stderr, line)
		}
	}
	start := time.Now()
	if err := boot.QuietConsole("/proc"); err != nil {
		logf("%v", err)
	}
	if p, err := exec.LookPath("modprobe"); err == nil {
		if err := boot.SetModprobe("/proc", p); err != nil {
			logf("%v", err)
		}
	}
	// hardware is closed when the modules for the hardware present are
	// loaded; nil when there are no modules to load.
	var hardware chan struct{}
	// fileSystems is closed when the file-system modules are loaded (or
	// there are none to load).
	fileSystems := make(chan struct{})
	if dir, err := kmod.DefaultDir(); err != nil {
		logf("modules: %v", err)
		close(fileSystems)
	} else if ix, err := kmod.Open(dir); err != nil {
		logf("modules: %v", err)
		close(fileSystems)
	} else {
		hardware = make(chan struct{})
		if err := os.MkdirAll(filepath.Dir(boot.LoadingMarker), 0o755); err != nil {
			logf("%v", err)
		} else if err := os.WriteFile(boot.LoadingMarker, nil, 0o644); err != nil {
			logf("%v", err)
		}
		// Listen for devices before loading modules for those already
		// there, so that none appearing in between is missed; then keep
		// loading modules for whatever is plugged in, as udev would.
		if ev, err := kmod.ListenUevents(); err != nil {
			logf("hotplug: %v", err)
		} else {
			go func() {
				err := ix.Hotplug(ctx, ev, func(m string, err error) {
					if err != nil {
						logf("hotplug: module %s: %v", m, err)
					} else {
						logf("hotplug: loaded %s", m)
					}
				})
				if ctx.Err() == nil {
					logf("hotplug stopped: %v", err)
				}
			}()
		}
		// efivarfs first, so that the UI can tell whether Secure Boot is
		// on (only UEFI firmware has variables).
		if _, err := os.Stat(*sysRoot + "/firmware/efi"); err == nil && ix.Has("efivarfs") {
			if err := ix.Load("efivarfs", ""); err != nil {
				logf("module efivarfs: %v", err)
			}
		}
		// The file systems repositories live on are loaded beside the
		// modules for the hardware: on two CPUs that halves the wait. The
		// UI does not wait for either: it shows disks as their drivers
		// load, and a mount it asks for before its file system's module
		// is in loads that module through modprobe.
		always := make(chan kmod.Result, 1)
		go func() {
			res := kmod.Result{Failed: map[string]error{}}
			for _, m := range alwaysModules {
				if m == "efivarfs" {
					continue
				}
				if ix.Has(m) {
					if err := ix.Load(m, ""); err != nil {
						res.Failed[m] = err
					} else {
						res.Loaded = append(res.Loaded, m)
					}
				}
			}
			always <- res
		}()
		go func() {
			mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			res, err := ix.ForHardware(mctx, *sysRoot, 300*time.Millisecond)
			cancel()
			if err != nil {
				logf("loading modules for the hardware: %v", err)
			}
			logf("loaded %d modules for the hardware in %d passes in %s: %s", len(res.Loaded), res.Passes, time.Since(start).Round(100*time.Millisecond), strings.Join(res.Loaded, " "))
			for m, err := range res.Failed {
				logf("module %s: %v", m, err)
			}
			if err := os.Remove(boot.LoadingMarker); err != nil {
				logf("%v", err)
			}
			close(hardware)
		}()
		go func() {
			res := <-always
			logf("loaded %d file-system modules in %s: %s", len(res.Loaded), time.Since(start).Round(100*time.Millisecond), strings.Join(res.Loaded, " "))
			for m, err := range res.Failed {
				logf("module %s: %v", m, err)
			}
			close(fileSystems)
		}()
	}
	if err := boot.MountFirmwareFS(*sysRoot); err != nil {
		logf("%v", err)
	}
	fw := boot.ReadFirmware(*sysRoot)
	logf("firmware: %s; kernel lockdown: %s", fw, orUnknown(fw.Lockdown))
	consoles, err := boot.Consoles(*sysRoot)
	if err != nil {
		logf("%v", err)
		consoles = []string{"tty1"}
	}
	if cmdline, err := os.ReadFile("/proc/cmdline"); err != nil {
		logf("%v", err)
	} else {
		e.unattended(ctx, string(cmdline), *sysRoot, consoles, fileSystems, hardware, logf)
	}
	self, err := exec.LookPath("lifeboat")
	if err != nil {
		self = "/bbin/lifeboat"
	}
	var wg sync.WaitGroup
	for _, c := range consoles {
		env := append(os.Environ(), "TERM="+boot.Term(c), "HOME=/root", "PATH=/bbin:/bin:/sbin:/usr/bin:/usr/sbin")
		wg.Add(1)
		go func() {
			defer wg.Done()
			boot.Supervise(ctx, "/dev", c, []string{self, "tui", "--boot"}, env, logf)
		}()
	}
	logf("text UI on %s", strings.Join(consoles, ", "))
	wg.Wait()
	return ctx.Err()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// unattended runs the job the kernel command line asks for, if any, with
// its progress on every console, then does what lifeboat.after says. It
// returns to let the text UI start: after a shell request, after a failure
// (the technician must see what went wrong), or when there is no job.
func (e *env) unattended(ctx context.Context, cmdline, sysRoot string, consoles []string, fileSystems, hardware <-chan struct{}, logf func(string, ...any)) {
	var outs []*os.File
	for _, c := range consoles {
		if f, err := os.OpenFile("/dev/"+c, os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			outs = append(outs, f)
			defer f.Close()
		}
	}
	say := func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		logf("%s", line)
		for _, f := range outs {
			fmt.Fprintf(f, "lifeboat: %s\r\n", line)
		}
	}
	plan, err := unattended.Parse(unattended.Params(cmdline))
	if err != nil {
		say("UNATTENDED JOB NOT RUN: %v", err)
		say("starting the text UI")
		time.Sleep(5 * time.Second)
		return
	}
	if plan == nil {
		return
	}
	// The text UI shows disks as they come; a job waits for their drivers
	// and the file systems', then for the disks to settle.
	for _, c := range []<-chan struct{}{fileSystems, hardware} {
		if c == nil {
			continue
		}
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
	disks := boot.SettleDisks(ctx, sysRoot, 2*time.Second, 20*time.Second)
	say("disks: %s", strings.Join(disks, " "))
	say("unattended: %s of image %q, repository %s; then %s", strings.Join(plan.Jobs, ", "), plan.Image, plan.Repo, plan.After)
	tr := &progress.Tracker{}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := tr.Snapshot()
				if s.Total > 0 {
					say("%s: %d%%, %s of %s, %s/s", s.Stage, s.Done*100/s.Total, units.Bytes(s.Done), units.Bytes(s.Total), units.Bytes(int64(s.Rate)))
				}
			}
		}
	}()
	start := time.Now()
	err = unattended.Run(ctx, plan, unattended.Config{Env: e.rescueEnv(true), MountRoot: "/run/lifeboat/mnt", Logf: say, Progress: tr,
		LogDirs: []string{"/run/lifeboat/logs"}})
	close(done)
	if err != nil {
		say("UNATTENDED JOB FAILED after %s: %v", units.Duration(time.Since(start)), err)
		say("nothing more is done; starting the text UI")
		time.Sleep(5 * time.Second)
		return
	}
	say("UNATTENDED JOB DONE in %s", units.Duration(time.Since(start)))
	unix.Sync()
	switch plan.After {
	case unattended.AfterPowerOff:
		say("powering off")
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			say("power off: %v", err)
		}
	case unattended.AfterReboot:
		say("rebooting")
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
			say("reboot: %v", err)
		}
	}
}
