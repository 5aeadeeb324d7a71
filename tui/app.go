package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
)

// Config is what the UI runs with.
type Config struct {
	Env ops.Env
	// Repos are repository directories the user named (--repo,
	// $LIFEBOAT_REPO); more are found on the disks when Find is set.
	Repos []string
	// Files are disk image files shown and usable as disks.
	Files []string
	// Find looks for repositories on the attached disks; nil turns that
	// off.
	Find *repofind.Finder
	// Boot is set when the UI is the rescue environment's console: it then
	// shows kernel messages (KernelLog) and offers reboot and power off.
	Boot bool
	// KernelLog is the file of kernel messages, in /dev/kmsg's format,
	// that the log screen shows apart from Lifeboat's own lines (k
	// switches); "" is /dev/kmsg when Boot is set, else none.
	KernelLog string
	// Screen is the terminal; nil opens the process's terminal.
	Screen tcell.Screen
	// Shell is run by the shell key (default /bin/sh).
	Shell string
	// Poll is how often the disk list is checked for changes (default 2s).
	Poll time.Duration
	// Loading, when set, reports whether disk drivers are still being
	// loaded (at boot): the disk list then says so rather than "no disks
	// found", and is checked four times as often.
	Loading func() bool
	// NoColor draws in the terminal's default colours only.
	NoColor bool
	// Version is shown in the title bar.
	Version string
	// Status is shown in the title bar after the version: how the machine
	// booted ("UEFI, Secure Boot on").
	Status string
	// JobLock, when set, is a file every UI of the machine shares (one
	// runs on each console at boot): a job holds a shared lock on it while
	// it runs, and reboot and power off need it exclusively, so that no
	// console reboots the machine under another console's job.
	JobLock string
}

// UI is a running text UI.
type UI struct {
	cfg   Config
	ctx   context.Context
	app   *tview.Application
	pages *tview.Pages
	title *tview.TextView
	hints *tview.TextView
	log   *logView

	findMu sync.Mutex // Finder's methods must not run concurrently

	mu     sync.Mutex
	disks  []ops.DiskInfo
	repos  []repoEntry
	found  []repofind.Found
	spaces []repofind.Space // file systems with room for a new repository
	sig    string
	stack  []string // page names, for Esc
	hintOf map[string]string

	home    *homeScreen
	images  *imagesScreen
	jobBusy bool

	// openImages are the images opened for browsing, closed when the UI
	// stops if they are still open.
	openImages closers
}

type repoEntry struct {
	Dir    string
	Origin string // "typed" or the device it was found on
	Found  *repofind.Found
}

// Run shows the UI until the user quits or ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.Poll == 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.NoColor {
		monochrome()
	}
	if cfg.KernelLog == "" && cfg.Boot {
		cfg.KernelLog = "/dev/kmsg"
	}
	u := &UI{cfg: cfg, ctx: ctx, app: tview.NewApplication(), hintOf: map[string]string{}}
	if cfg.Screen != nil {
		u.app.SetScreen(cfg.Screen)
	}
	u.log = newLogView(u.app)
	for _, r := range cfg.Repos {
		u.repos = append(u.repos, repoEntry{Dir: r, Origin: "typed"})
	}
	u.build()
	u.logf("Lifeboat %s started", cfg.Version)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go u.watchDisks(ctx)
	go u.log.run(ctx)
	if u.cfg.KernelLog != "" {
		go u.log.followKernel(ctx, u.cfg.KernelLog)
	}
	go func() {
		<-ctx.Done()
		u.app.Stop()
	}()
	err := u.app.Run()
	cancel()
	// Before the finder unmounts the drives: a browsed image may live on
	// one of them.
	u.openImages.closeAll()
	if cfg.Find != nil {
		u.findMu.Lock()
		if cerr := cfg.Find.Close(); cerr != nil && err == nil {
			err = cerr
		}
		u.findMu.Unlock()
	}
	return err
}

func monochrome() {
	s := &tview.Styles
	s.PrimitiveBackgroundColor = tcell.ColorDefault
	s.ContrastBackgroundColor = tcell.ColorDefault
	s.MoreContrastBackgroundColor = tcell.ColorDefault
	s.BorderColor = tcell.ColorDefault
	s.TitleColor = tcell.ColorDefault
	s.GraphicsColor = tcell.ColorDefault
	s.PrimaryTextColor = tcell.ColorDefault
	s.SecondaryTextColor = tcell.ColorDefault
	s.TertiaryTextColor = tcell.ColorDefault
	s.InverseTextColor = tcell.ColorDefault
	s.ContrastSecondaryTextColor = tcell.ColorDefault
}

func (u *UI) build() {
	u.title = tview.NewTextView().SetDynamicColors(true)
	u.hints = tview.NewTextView().SetDynamicColors(true)
	u.pages = tview.NewPages()
	u.home = newHomeScreen(u)
	u.images = newImagesScreen(u)
	u.addPage("home", u.home.root, homeHints(u.cfg.Boot))
	u.addPage("images", u.images.root, imagesHints)
	u.log.root.SetDoneFunc(func(tcell.Key) { u.back() })
	logHints := "[::b]Esc[::-] back  [::b]↑↓ PgUp PgDn[::-] scroll  [::b]End[::-] follow"
	if u.cfg.KernelLog != "" {
		logHints += "  [::b]k[::-] kernel messages"
	}
	u.addPage("log", u.log.root, logHints)
	// Ctrl-C must not end the UI behind a running job's back (tview stops
	// on it by default): it is ignored; q (or Esc on a job) asks first.
	u.app.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Key() == tcell.KeyCtrlC {
			return nil
		}
		return ev
	})
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(u.title, 1, 0, false).
		AddItem(u.pages, 0, 1, true).
		AddItem(u.hints, 1, 0, false)
	u.app.SetRoot(root, true)
	title := fmt.Sprintf("[::r] Lifeboat %s [::-]", tview.Escape(u.cfg.Version))
	if u.cfg.Status != "" {
		title += "  " + tview.Escape(u.cfg.Status)
	}
	u.title.SetText(title)
	u.show("home")
}

func homeHints(boot bool) string {
	h := "[::b]c[::-] capture  [::b]r[::-] restore  [::b]d[::-] clone  [::b]i[::-] images  [::b]l[::-] log  [::b]s[::-] shell  "
	if boot {
		// No room for F5 on 80 columns; the list is rescanned by itself.
		return h + "[::b]b[::-] reboot  [::b]p[::-] power off"
	}
	return h + "[::b]F5[::-] scan  [::b]q[::-] quit"
}

// addPage registers a page and its key hints.
func (u *UI) addPage(name string, p tview.Primitive, hints string) {
	u.pages.AddPage(name, p, true, false)
	u.hintOf[name] = hints
}

// show brings a page to the front and remembers the way back.
func (u *UI) show(name string) {
	if n := len(u.stack); n == 0 || u.stack[n-1] != name {
		u.stack = append(u.stack, name)
	}
	u.pages.SwitchToPage(name)
	u.hints.SetText(" " + u.hintOf[name])
}

// back returns to the previous page; pages made for one use are removed.
func (u *UI) back() {
	if len(u.stack) <= 1 {
		return
	}
	top := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	if strings.HasPrefix(top, "~") {
		u.pages.RemovePage(top)
		delete(u.hintOf, top)
	}
	u.show(u.stack[len(u.stack)-1])
}

// home drops every page and goes back to the disks.
func (u *UI) goHome() {
	for len(u.stack) > 1 {
		u.back()
	}
}

func (u *UI) logf(format string, args ...any) {
	u.log.add(fmt.Sprintf(format, args...))
}

// message shows a dialog with one OK button.
func (u *UI) message(title, text string, done func()) {
	name := fmt.Sprintf("~msg%d", time.Now().UnixNano())
	m := tview.NewModal().SetText(clean(title) + "\n\n" + clean(text)).AddButtons([]string{"OK"})
	m.SetDoneFunc(func(int, string) {
		u.back()
		if done != nil {
			done()
		}
	})
	u.addPage(name, m, "[::b]Enter[::-] OK")
	u.show(name)
}

// ask shows a yes/no dialog; No is the default.
func (u *UI) ask(text string, yes func()) {
	name := fmt.Sprintf("~ask%d", time.Now().UnixNano())
	m := tview.NewModal().SetText(clean(text)).AddButtons([]string{"No", "Yes"})
	m.SetDoneFunc(func(_ int, label string) {
		u.back()
		if label == "Yes" {
			yes()
		}
	})
	m.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Rune() {
		case 'y', 'Y':
			u.back()
			yes()
			return nil
		case 'n', 'N':
			u.back()
			return nil
		}
		return ev
	})
	u.addPage(name, m, "[::b]y[::-] yes  [::b]n[::-]/[::b]Esc[::-] no")
	u.show(name)
}

// shell suspends the UI and runs a shell on the terminal.
func (u *UI) shell() {
	u.app.Suspend(func() {
		fmt.Println("Lifeboat: type exit to return to the menu.")
		cmd := exec.Command(u.cfg.Shell)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			u.logf("shell: %v", err)
		}
	})
}

// power reboots or powers off the machine (boot environment only).
func (u *UI) power(reboot bool) {
	what, cmd := "Power off", unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		what, cmd = "Reboot", unix.LINUX_REBOOT_CMD_RESTART
	}
	if u.jobBusy {
		u.message(what, "A job is running. Cancel it first.", nil)
		return
	}
	u.ask(what+" now?", func() {
		if u.cfg.JobLock != "" {
			f, err := lockFile(u.cfg.JobLock, unix.LOCK_EX)
			if errors.Is(err, unix.EWOULDBLOCK) {
				u.message(what, "A job is running on another console. Wait for it to finish, or cancel it there.", nil)
				return
			}
			if err != nil {
				u.logf("%s: %v", strings.ToLower(what), err)
			} else {
				defer f.Close()
			}
		}
		// The repositories' file systems are unmounted first: sync does
		// not reach into ntfs-3g, an unmount has it write out and close.
		// Off the UI goroutine: a disk scan stuck on a failing drive must
		// not freeze the screen.
		u.message(what, "Unmounting the repositories' drives and writing out what is cached...", nil)
		go func() {
			if u.cfg.Find != nil {
				if u.lockFind(30 * time.Second) {
					ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
					if err := u.cfg.Find.UnmountAll(ctx); err != nil {
						u.logf("%s: %v", strings.ToLower(what), err)
					}
					cancel()
					u.findMu.Unlock()
				} else {
					u.logf("%s: the search for repositories did not finish in 30 s; the drives it mounted are not unmounted first", strings.ToLower(what))
				}
			}
			unix.Sync()
			if err := unix.Reboot(cmd); err != nil {
				u.app.QueueUpdateDraw(func() {
					u.message(what, fmt.Sprintf("%s failed: %v", what, err), nil)
				})
			}
		}()
	})
}

// lockFind takes findMu, waiting at most wait: a look at a failing drive
// can hang, and what waits for it must be able to give up.
func (u *UI) lockFind(wait time.Duration) bool {
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		if u.findMu.TryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// lockFile takes a flock of the given kind (unix.LOCK_SH, unix.LOCK_EX)
// on path without waiting; closing the file releases it.
func lockFile(path string, how int) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// watchDisks rescans the disks when the set of block devices changes and
// looks for repositories on them, off the UI goroutine.
func (u *UI) watchDisks(ctx context.Context) {
	u.rescan(ctx, true)
	poll := u.cfg.Poll
	if u.loading() {
		poll /= 4
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.rescan(ctx, false)
			if poll != u.cfg.Poll && !u.loading() {
				poll = u.cfg.Poll
				t.Reset(poll)
			}
		}
	}
}

// loading reports whether disk drivers are still being loaded.
func (u *UI) loading() bool {
	return u.cfg.Loading != nil && u.cfg.Loading()
}

// signature is a cheap fingerprint of the block devices: names, sizes,
// read-only flags, mounts. It changes when a disk comes or goes.
func (u *UI) signature(list []inventory.Disk, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	// File systems a repository finder mounts to look at them, this UI's
	// or another console's, are not changes of the disks: counting them
	// would make each UI's look set off the other's, without end.
	findRoot := ""
	if u.cfg.Find != nil {
		findRoot = u.cfg.Find.MountRoot
		if findRoot == "" {
			findRoot = repofind.DefaultMountRoot
		}
	}
	var b strings.Builder
	if u.loading() {
		// The end of loading is a change: the list's empty text changes.
		b.WriteString("loading;")
	}
	for _, d := range list {
		// A device a finder holds a repository on stays read-only while it
		// is mounted: that is no change either.
		held := map[string]bool{}
		for _, m := range d.Mounts {
			if findRoot != "" && strings.HasPrefix(m.Point, findRoot+"/") {
				held[m.Device] = true
			}
		}
		fmt.Fprintf(&b, "%s %d %d %t", d.Name, d.Size, len(d.Partitions), d.ReadOnly && !held[d.Name])
		for _, p := range d.Partitions {
			if p.ReadOnly && !held[p.Name] {
				b.WriteString(" " + p.Name + " ro")
			}
		}
		for _, m := range d.MountPoints {
			if findRoot == "" || !strings.HasPrefix(m, findRoot+"/") {
				b.WriteString(" " + m)
			}
		}
		b.WriteString(";")
	}
	for _, f := range u.cfg.Files {
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d;", f, st.Size())
		}
	}
	return b.String()
}

func (u *UI) rescan(ctx context.Context, force bool) {
	// The disks are listed while no repository finder (this UI's or
	// another console's) is in the middle of a look, which sets a device
	// read-only for a moment; only the listing, from sysfs, is done under
	// that hold, so a slow disk never keeps a finder waiting.
	release := func() {}
	if u.cfg.Find != nil {
		if unlock, err := u.cfg.Find.Hold(ctx); err == nil {
			release = unlock
		}
	}
	list, err := ops.ScanDisks(u.cfg.Env)
	release()
	sig := u.signature(list, err)
	u.mu.Lock()
	same := sig == u.sig
	u.sig = sig
	u.mu.Unlock()
	if same && !force {
		return
	}
	if err != nil {
		u.logf("disk scan: %v", err)
	}
	disks := ops.Describe(list, u.cfg.Files)
	var found []repofind.Found
	var spaces []repofind.Space
	if u.cfg.Find != nil && ctx.Err() == nil {
		u.findMu.Lock()
		res, err := u.cfg.Find.Scan(ctx)
		u.findMu.Unlock()
		if err != nil {
			u.logf("looking for repositories: %v", err)
		}
		found, spaces = res.Found, res.Spaces
		for _, f := range found {
			u.logf("repository found on %s: %s (%d images)", f.Device, f.Dir, f.Images)
		}
		logSpaces(u, spaces)
		for _, sk := range res.Skipped {
			if sk.Err != nil {
				u.logf("%s: %s: %v", sk.Device, sk.Reason, sk.Err)
			}
		}
	}
	u.mu.Lock()
	u.disks = disks
	u.found = found
	u.spaces = spaces
	u.mu.Unlock()
	if !force {
		u.logf("disks changed: %d disks", len(disks))
	}
	u.app.QueueUpdateDraw(func() {
		u.mergeFound(found)
		u.home.refresh()
		u.images.refreshRepos()
	})
}

func (u *UI) mergeFound(found []repofind.Found) {
	kept := u.repos[:0]
	for _, r := range u.repos {
		if r.Found == nil {
			kept = append(kept, r)
		}
	}
	u.repos = kept
	for i := range found {
		f := &found[i]
		dup := false
		for _, r := range u.repos {
			if sameDir(r.Dir, f.Dir) {
				dup = true
			}
		}
		if !dup {
			u.repos = append(u.repos, repoEntry{Dir: f.Dir, Origin: f.Device, Found: f})
		}
	}
	sort.SliceStable(u.repos, func(i, j int) bool { return u.repos[i].Found == nil && u.repos[j].Found != nil })
}

func sameDir(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return os.SameFile(sa, sb)
}

func (u *UI) diskList() []ops.DiskInfo {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]ops.DiskInfo(nil), u.disks...)
}

// clean makes a string from a disk or a file safe to show: control
// characters become '?', and tview's style tags are escaped.
func clean(s string) string {
	return tview.Escape(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' {
			return '?'
		}
		return r
	}, s))
}

// cleanLine is clean for single-line fields: newlines become '?' too.
func cleanLine(s string) string {
	return clean(strings.ReplaceAll(s, "\n", "?"))
}
