package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/boot"
	"github.com/lifeboat-dev/lifeboat/pkg/kmod"
)

// alwaysModules are loaded at boot whatever the hardware: the file systems
// repositories live on, and loop devices.
var alwaysModules = []string{"ext4", "vfat", "exfat", "isofs", "nls_cp437", "nls_iso8859_1", "nls_utf8", "loop", "efivarfs"}

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
	if dir, err := kmod.DefaultDir(); err != nil {
		logf("modules: %v", err)
	} else if ix, err := kmod.Open(dir); err != nil {
		logf("modules: %v", err)
	} else {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := ix.ForHardware(mctx, *sysRoot, 300*time.Millisecond)
		cancel()
		if err != nil {
			logf("loading modules for the hardware: %v", err)
		}
		efi := false
		if _, err := os.Stat(*sysRoot + "/firmware/efi"); err == nil {
			efi = true
		}
		for _, m := range alwaysModules {
			if m == "efivarfs" && !efi {
				continue // only UEFI firmware has variables
			}
			if ix.Has(m) {
				if err := ix.Load(m, ""); err != nil {
					res.Failed[m] = err
				} else {
					res.Loaded = append(res.Loaded, m)
				}
			}
		}
		logf("loaded %d modules in %d passes: %s", len(res.Loaded), res.Passes, strings.Join(res.Loaded, " "))
		for m, err := range res.Failed {
			logf("module %s: %v", m, err)
		}
	}
	disks := boot.SettleDisks(ctx, *sysRoot, time.Second, 10*time.Second)
	logf("disks after %s: %s", time.Since(start).Round(100*time.Millisecond), strings.Join(disks, " "))

	consoles, err := boot.Consoles(*sysRoot)
	if err != nil {
		logf("%v", err)
		consoles = []string{"tty1"}
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
