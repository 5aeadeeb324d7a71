package tui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/imagemount"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

const browseHints = "[::b]Enter[::-] open  [::b]Space[::-] mark  [::b]c[::-] copy  [::b]Backspace[::-] up  [::b]Esc[::-] back"

// closers are functions that release something, each run once: by its
// owner when done, or by closeAll when the UI stops.
type closers struct {
	mu   sync.Mutex
	next int
	m    map[int]func()
}

// add registers release and returns a function that runs it once and
// forgets it; closeAll runs it (once) if it has not run by then. A second
// caller waits for the first to finish.
func (c *closers) add(release func()) func() {
	var once sync.Once
	run := func() { once.Do(release) }
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]func(){}
	}
	id := c.next
	c.next++
	c.m[id] = run
	return func() {
		run()
		c.mu.Lock()
		delete(c.m, id)
		c.mu.Unlock()
	}
}

// closeAll runs every function still registered.
func (c *closers) closeAll() {
	c.mu.Lock()
	fns := make([]func(), 0, len(c.m))
	for _, f := range c.m {
		fns = append(fns, f)
	}
	c.m = nil
	c.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// openImage opens an image of the repository at repoDir for browsing, off
// the UI goroutine, and shows its partitions.
func (u *UI) openImage(repoDir, name string) {
	page := fmt.Sprintf("~opening%d", time.Now().UnixNano())
	view := tview.NewTextView().SetDynamicColors(true).
		SetText(fmt.Sprintf("\n  Opening %s...", cleanLine(name)))
	view.SetBorder(true).SetTitle(" Browse " + cleanLine(name) + " ")
	left := false
	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Key() == tcell.KeyEscape || ev.Key() == tcell.KeyEnter {
			left = true
			u.back()
			return nil
		}
		return ev
	})
	u.addPage(page, view, "[::b]Esc[::-] back")
	u.show(page)
	u.logf("browse %s of %s: opening", name, repoDir)
	go func() {
		var br *imagemount.Browser
		img, err := ops.OpenImage(u.cfg.Env, repoDir, name)
		if err == nil {
			br, err = imagemount.Browse(u.ctx, img, imagemount.Options{
				Repo:    repoDir,
				OnError: func(err error) { u.logf("browse %s: %v", name, err) },
			})
			if err != nil {
				img.Close()
			}
		}
		if err != nil {
			err = fmt.Errorf("open image %s of %s: %w", name, repoDir, err)
			u.logf("browse %s: %v", name, err)
			u.app.QueueUpdateDraw(func() {
				if left {
					return
				}
				view.SetText(fmt.Sprintf("\n  [::b]The image cannot be opened.[::-]\n\n  %s\n\n  [::b]What to do:[::-] %s\n\n  Esc goes back.", clean(err.Error()), clean(advice(err))))
			})
			return
		}
		closeImage := u.openImages.add(func() {
			if err := br.Close(); err != nil {
				u.logf("browse %s: close: %v", name, err)
			}
			if err := img.Close(); err != nil {
				u.logf("browse %s: release: %v", name, err)
			}
			u.logf("browse %s: closed", name)
		})
		for _, p := range br.Parts {
			how := p.How
			if p.Err != nil {
				how = "not readable: " + p.Err.Error()
			}
			u.logf("browse %s: partition %d (%s): %s", name, p.Number, p.Folder, dash(how))
		}
		u.app.QueueUpdateDraw(func() {
			if left {
				go closeImage()
				return
			}
			u.back()
			s := newBrowseScreen(u, repoDir, name, br, closeImage)
			u.addPage(s.page, s.root, browseHints)
			u.show(s.page)
			u.app.SetFocus(s.parts)
		})
	}()
}

// browseScreen shows an opened image's partitions and the folders of one
// of them, and copies what is marked.
type browseScreen struct {
	u          *UI
	repo, name string
	br         *imagemount.Browser
	close      func()

	page   string
	root   *tview.Flex
	parts  *tview.List
	table  *tview.Table
	status *tview.TextView

	// What the table shows; set by the UI goroutine only.
	part    *imagemount.Part
	fsys    fs.FS
	dir     string // slash path in fsys; "." is the root
	entries []browseEntry
	marked  map[string]bool // names in dir
	gen     int             // counts listings asked for: only the last one is shown
	closed  bool
}

// browseEntry is one entry of a folder.
type browseEntry struct {
	name string
	dir  bool
	link bool
	size int64
	mod  time.Time
}

func newBrowseScreen(u *UI, repoDir, name string, br *imagemount.Browser, closeImage func()) *browseScreen {
	s := &browseScreen{u: u, repo: repoDir, name: name, br: br, close: closeImage, marked: map[string]bool{}}
	s.page = fmt.Sprintf("~browse%d", time.Now().UnixNano())
	// One highlight on the screen at a time: the partition's shows only
	// while the list has the focus (the file table's title names it).
	s.parts = tview.NewList().ShowSecondaryText(false).SetHighlightFullLine(true).SetSelectedFocusOnly(true)
	s.parts.SetBorder(true).SetTitle(" Partitions ")
	for _, p := range br.Parts {
		s.parts.AddItem(partLine(p, s.unreadable(p)), "", 0, nil)
	}
	s.table = tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	s.table.SetBorder(true).SetTitle(" Files ")
	s.table.SetCell(0, 0, tview.NewTableCell("Enter on a partition lists its files.").SetSelectable(false))
	s.status = tview.NewTextView().SetDynamicColors(true)
	// On a screen under 110 columns the partitions are listed above the
	// files, full width, so that a partition's reason shows; on a wider
	// one, left of them.
	h := min(len(br.Parts), 6) + 2
	body := tview.NewGrid().SetRows(h, 0).SetColumns(44, 0).
		AddItem(s.parts, 0, 0, 1, 2, 0, 0, true).
		AddItem(s.table, 1, 0, 1, 2, 0, 0, false).
		AddItem(s.parts, 0, 0, 2, 1, 0, 110, true).
		AddItem(s.table, 0, 1, 2, 1, 0, 110, false)
	s.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(body, 0, 1, true).
		AddItem(s.status, 1, 0, false)
	s.root.SetBorder(true).SetTitle(" Browse " + cleanLine(name) + " ")
	s.parts.SetChangedFunc(func(i int, _, _ string, _ rune) { s.describePart(i) })
	s.parts.SetSelectedFunc(func(i int, _, _ string, _ rune) { s.openPart(i) })
	s.describePart(0)
	s.root.SetInputCapture(s.key)
	return s
}

// partLine is a partition's line in the list.
func partLine(p imagemount.Part, why error) string {
	line := fmt.Sprintf("%d  %s %s  %s", p.Number, dash(p.FSType), p.Label, units.Bytes(p.Size))
	line = strings.Join(strings.Fields(line), " ")
	if why != nil {
		line += " (cannot be read: " + why.Error() + ")"
	}
	return cleanLine(line)
}

// unreadable says why partition p cannot be listed, or nil.
func (s *browseScreen) unreadable(p imagemount.Part) error {
	switch {
	case p.Err != nil:
		return p.Err
	case p.How != "":
		return nil
	case s.br.Mounted == nil && (p.FSType == "vfat" || p.FSType == "exfat"):
		return nil // Lifeboat's own reader reads it without a mount
	case s.br.Mounted == nil:
		return imagemount.ErrNoMount
	}
	return errors.New("it is not mounted")
}

// describePart shows what the highlighted partition is on the status line.
func (s *browseScreen) describePart(i int) {
	if i < 0 || i >= len(s.br.Parts) {
		return
	}
	p := s.br.Parts[i]
	if why := s.unreadable(p); why != nil {
		s.status.SetText(fmt.Sprintf(" Partition %d cannot be read: %s", p.Number, cleanLine(why.Error())))
		return
	}
	how := p.How
	if how == "" {
		how = "Lifeboat's FAT reader"
	}
	s.status.SetText(fmt.Sprintf(" Partition %d: %s %s, %s, read by %s", p.Number, cleanLine(dash(p.FSType)), cleanLine(p.Label), units.Bytes(p.Size), cleanLine(how)))
}

// key handles the browse screen's keys.
func (s *browseScreen) key(ev *tcell.EventKey) *tcell.EventKey {
	u := s.u
	if !s.table.HasFocus() {
		if ev.Key() == tcell.KeyEscape {
			s.closed = true
			u.back()
			go s.close()
			return nil
		}
		return ev
	}
	switch ev.Key() {
	case tcell.KeyEscape:
		u.app.SetFocus(s.parts)
		return nil
	case tcell.KeyEnter:
		s.enter()
		return nil
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		s.up()
		return nil
	case tcell.KeyRune:
		switch ev.Rune() {
		case ' ':
			s.toggle()
			return nil
		case 'c':
			s.copy()
			return nil
		}
	}
	return ev
}

// openPart lists the root of partition i, or says why it cannot.
func (s *browseScreen) openPart(i int) {
	if i < 0 || i >= len(s.br.Parts) {
		return
	}
	p := s.br.Parts[i]
	if why := s.unreadable(p); why != nil {
		s.u.message("Partition "+fmt.Sprint(p.Number), fmt.Sprintf("Partition %d cannot be read: %s", p.Number, why), nil)
		return
	}
	s.list(&p, nil, ".", "")
}

// list reads folder dir of partition p off the UI goroutine and shows it,
// highlighting the entry named sel. fsys is p's file system, nil when it
// is still to be opened.
func (s *browseScreen) list(p *imagemount.Part, fsys fs.FS, dir, sel string) {
	u := s.u
	s.gen++
	gen := s.gen
	s.status.SetText(fmt.Sprintf(" Reading %s:/%s ...", cleanLine(p.Folder), cleanLine(strings.TrimPrefix(dir, "."))))
	go func() {
		var err error
		if fsys == nil {
			fsys, err = s.br.FS(p.Number)
		}
		var ents []browseEntry
		if err == nil {
			ents, err = readFolder(fsys, dir)
		}
		u.app.QueueUpdateDraw(func() {
			if gen != s.gen || s.closed {
				return
			}
			if err != nil {
				u.logf("browse %s: %v", s.name, err)
				s.status.SetText(" [::b]" + cleanLine(err.Error()) + "[::-]")
				return
			}
			s.part, s.fsys, s.dir, s.entries = p, fsys, dir, ents
			s.marked = map[string]bool{}
			s.draw()
			row := 1
			for r := 1; r < s.table.GetRowCount(); r++ {
				if e := s.entryAt(r); e != nil && e.name == sel {
					row = r
				}
			}
			s.table.Select(row, 0)
			s.table.ScrollToBeginning()
			if row > 1 {
				s.table.Select(row, 0)
			}
			u.app.SetFocus(s.table)
			s.status.SetText(fmt.Sprintf(" %s, %s", entries(len(ents)), units.Bytes(totalSize(ents))))
		})
	}()
}

// entries is "1 entry", "2 entries".
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// readFolder lists dir of fsys: folders first, then the rest, each by
// name.
func readFolder(fsys fs.FS, dir string) ([]browseEntry, error) {
	des, err := fs.ReadDir(fsys, dir)
	if err != nil && len(des) == 0 {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	ents := make([]browseEntry, 0, len(des))
	for _, d := range des {
		e := browseEntry{name: d.Name(), dir: d.IsDir(), link: d.Type()&fs.ModeSymlink != 0}
		if fi, err := d.Info(); err == nil {
			e.mod = fi.ModTime()
			if fi.Mode().IsRegular() {
				e.size = fi.Size()
			}
		}
		ents = append(ents, e)
	}
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].dir != ents[j].dir {
			return ents[i].dir
		}
		return ents[i].name < ents[j].name
	})
	return ents, nil
}

func totalSize(ents []browseEntry) int64 {
	var n int64
	for _, e := range ents {
		n += e.size
	}
	return n
}

// draw fills the table with the folder shown.
func (s *browseScreen) draw() {
	t := s.table
	t.Clear()
	for c, h := range []string{" ", "Name", "Size", "Modified"} {
		t.SetCell(0, c, tview.NewTableCell("[::b]"+h).SetSelectable(false))
	}
	row := 1
	if s.dir != "." {
		t.SetCell(row, 0, tview.NewTableCell(" "))
		t.SetCell(row, 1, tview.NewTableCell(".."))
		t.SetCell(row, 2, tview.NewTableCell(""))
		t.SetCell(row, 3, tview.NewTableCell(""))
		row++
	}
	for _, e := range s.entries {
		mark := " "
		if s.marked[e.name] {
			mark = "*"
		}
		name, size := cleanLine(e.name), units.Bytes(e.size)
		switch {
		case e.dir:
			name, size = name+"/", ""
		case e.link:
			size = "link"
		}
		mod := ""
		if !e.mod.IsZero() {
			mod = e.mod.Local().Format("2006-01-02 15:04")
		}
		t.SetCell(row, 0, tview.NewTableCell(mark))
		t.SetCell(row, 1, tview.NewTableCell(name).SetMaxWidth(24).SetExpansion(1))
		t.SetCell(row, 2, tview.NewTableCell(size).SetAlign(tview.AlignRight))
		t.SetCell(row, 3, tview.NewTableCell(mod))
		row++
	}
	if row == 1 {
		// A table must keep a selectable cell: tview loops forever
		// looking for one on a cursor key.
		t.SetCell(row, 1, tview.NewTableCell("(empty folder)"))
	}
	t.SetTitle(" " + cleanLine(s.part.Folder+":"+s.path()) + " ")
}

// path is the folder shown, as an absolute path in its partition.
func (s *browseScreen) path() string {
	if s.dir == "." {
		return "/"
	}
	return "/" + s.dir
}

// entryAt is the entry on table row r; nil for "..", the header and an
// empty folder's line.
func (s *browseScreen) entryAt(r int) *browseEntry {
	i := r - 1
	if s.dir != "." {
		i--
	}
	if i < 0 || i >= len(s.entries) {
		return nil
	}
	return &s.entries[i]
}

// onUp says whether table row r is "..".
func (s *browseScreen) onUp(r int) bool { return s.dir != "." && r == 1 }

func (s *browseScreen) enter() {
	if s.part == nil {
		return
	}
	r, _ := s.table.GetSelection()
	if s.onUp(r) {
		s.up()
		return
	}
	if e := s.entryAt(r); e != nil && e.dir {
		s.list(s.part, s.fsys, path.Join(s.dir, e.name), "")
	}
}

func (s *browseScreen) up() {
	if s.part == nil || s.dir == "." {
		return
	}
	s.list(s.part, s.fsys, path.Dir(s.dir), path.Base(s.dir))
}

// toggle marks or unmarks the highlighted entry and moves down a row.
func (s *browseScreen) toggle() {
	r, _ := s.table.GetSelection()
	e := s.entryAt(r)
	if e == nil {
		return
	}
	s.marked[e.name] = !s.marked[e.name]
	if !s.marked[e.name] {
		delete(s.marked, e.name)
	}
	mark := " "
	if s.marked[e.name] {
		mark = "*"
	}
	s.table.GetCell(r, 0).SetText(mark)
	if r+1 < s.table.GetRowCount() {
		s.table.Select(r+1, 0)
	}
	var n int64
	for _, e := range s.entries {
		if s.marked[e.name] {
			n += e.size
		}
	}
	s.status.SetText(fmt.Sprintf(" %d marked (%s in files; folders are counted when copied)", len(s.marked), units.Bytes(n)))
}

// copy asks where to copy the marked entries of the folder shown, or the
// highlighted one when none is marked.
func (s *browseScreen) copy() {
	if s.part == nil {
		return
	}
	var srcs []string
	for _, e := range s.entries {
		if s.marked[e.name] {
			srcs = append(srcs, path.Join(s.dir, e.name))
		}
	}
	if len(srcs) == 0 {
		r, _ := s.table.GetSelection()
		if e := s.entryAt(r); e != nil {
			srcs = []string{path.Join(s.dir, e.name)}
		}
	}
	if len(srcs) == 0 {
		s.status.SetText(" Nothing to copy: mark files and folders with Space.")
		return
	}
	s.chooseDest(copyWhat{part: *s.part, fsys: s.fsys, srcs: srcs})
}

// copyWhat is a copy's source: entries of one partition's file system.
type copyWhat struct {
	part imagemount.Part
	fsys fs.FS
	srcs []string
}

// copyDest is a drive files can be copied onto.
type copyDest struct {
	label string
	drive string          // said in the confirmation
	found *repofind.Found // a found repository's file system
	space *repofind.Space // a file system without a repository
	dir   string          // a typed repository: its parent is written to
}

// copyDests lists the drives to copy onto: the found repositories' file
// systems, the typed repositories' folders, the file systems without a
// repository.
func (u *UI) copyDests() []copyDest {
	var out []copyDest
	seen := map[string]bool{}
	for _, r := range u.repos {
		if r.Found != nil {
			f := r.Found
			if seen[f.MountPoint] {
				continue
			}
			seen[f.MountPoint] = true
			out = append(out, copyDest{
				label: fmt.Sprintf("%s %s (the repository's drive)", f.Device, f.FSType),
				drive: fmt.Sprintf("%s (%s), the drive of repository %s", f.Device, f.FSType, f.Dir),
				found: f,
			})
			continue
		}
		parent := filepath.Dir(r.Dir)
		if seen[parent] {
			continue
		}
		seen[parent] = true
		out = append(out, copyDest{
			label: fmt.Sprintf("%s (the drive of repository %s)", parent, r.Dir),
			drive: fmt.Sprintf("the drive of repository %s", r.Dir),
			dir:   r.Dir,
		})
	}
	u.mu.Lock()
	spaces := append([]repofind.Space(nil), u.spaces...)
	u.mu.Unlock()
	for i := range spaces {
		sp := &spaces[i]
		what := strings.TrimPrefix(sp.String(), "new repository on ")
		label := sp.Device + " " + what
		if sp.Unfit != nil && !errors.Is(sp.Unfit, repofind.ErrLowSpace) {
			label += " (cannot be written: " + sp.Unfit.Error() + ")"
		}
		out = append(out, copyDest{label: label, drive: sp.Device + ", " + what, space: sp})
	}
	return out
}

// chooseDest shows the drives to copy onto.
func (s *browseScreen) chooseDest(w copyWhat) {
	u := s.u
	page := fmt.Sprintf("~copyto%d", time.Now().UnixNano())
	dests := u.copyDests()
	goBack := func() {
		u.back()
		u.app.SetFocus(s.table)
	}
	if len(dests) == 0 {
		view := tview.NewTextView().SetText("\n  No drive to copy to: attach a USB drive; it appears here within seconds.\n\n  Esc goes back.")
		view.SetBorder(true).SetTitle(" Copy to ")
		view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
			if ev.Key() == tcell.KeyEscape || ev.Key() == tcell.KeyEnter {
				goBack()
				return nil
			}
			return ev
		})
		u.addPage(page, view, "[::b]Esc[::-] back")
		u.show(page)
		return
	}
	list := tview.NewList().ShowSecondaryText(false).SetHighlightFullLine(true)
	for _, d := range dests {
		list.AddItem(cleanLine(d.label), "", 0, nil)
	}
	status := tview.NewTextView().SetDynamicColors(true)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(tview.NewTextView().SetText(fmt.Sprintf(" Copy %s from partition %d of %s onto:", entries(len(w.srcs)), w.part.Number, cleanLine(s.name))), 1, 0, false).
		AddItem(list, 0, 1, true).
		AddItem(status, 3, 0, false)
	root.SetBorder(true).SetTitle(" Copy to ")
	busy := false
	left := false
	list.SetDoneFunc(func() {
		left = true
		goBack()
	})
	list.SetSelectedFunc(func(i int, _, _ string, _ rune) {
		if busy || i < 0 || i >= len(dests) {
			return
		}
		busy = true
		d := dests[i]
		status.SetText(" Getting " + cleanLine(d.drive) + " ready...")
		go func() {
			p, err := s.prepareCopy(w, d)
			u.app.QueueUpdateDraw(func() {
				busy = false
				if left {
					if p != nil {
						go os.Remove(p.dest)
					}
					return
				}
				if err != nil {
					u.logf("copy from %s: %v", s.name, err)
					status.SetText(" [::b]" + cleanLine(err.Error()) + "[::-]\n " + cleanLine(advice(err)))
					return
				}
				status.SetText("")
				s.confirmCopy(p)
			})
		}()
	})
	u.addPage(page, root, "[::b]Enter[::-] choose  [::b]Esc[::-] back")
	u.show(page)
}

// preparedCopy is a copy ready to be confirmed.
type preparedCopy struct {
	copyWhat
	to          copyDest
	dest        string // the folder made for it
	free        int64
	bytes       int64
	files, dirs int
}

// prepareCopy gets d written to (remounted or mounted read-write), makes
// the folder to copy into and counts what is to be copied; off the UI
// goroutine.
func (s *browseScreen) prepareCopy(w copyWhat, d copyDest) (*preparedCopy, error) {
	u := s.u
	var mp string
	switch {
	case d.found != nil:
		if err := u.makeWritable(d.found); err != nil {
			return nil, fmt.Errorf("make %s writable: %w", d.found.Device, err)
		}
		mp = d.found.MountPoint
	case d.space != nil:
		var err error
		if mp, err = u.mountForCopy(*d.space); err != nil {
			return nil, err
		}
	default:
		mp = filepath.Dir(d.dir)
	}
	// A folder of its own for each copy: a second copy in the same
	// minute gets " (2)", and so on.
	folder := strings.ReplaceAll(s.name, "/", "_") + " " + time.Now().Format("2006-01-02 1504")
	parent := filepath.Join(mp, "lifeboat-files")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("make the folder to copy into on %s: %w", d.drive, err)
	}
	dest := filepath.Join(parent, folder)
	for n := 2; ; n++ {
		err := os.Mkdir(dest, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || n > 1000 {
			return nil, fmt.Errorf("make the folder to copy into on %s: %w", d.drive, err)
		}
		dest = filepath.Join(parent, fmt.Sprintf("%s (%d)", folder, n))
	}
	p := &preparedCopy{copyWhat: w, to: d, dest: dest}
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err != nil {
		return p, fmt.Errorf("free space of %s: %w", dest, err)
	}
	p.free = int64(st.Bavail) * st.Bsize
	for _, src := range w.srcs {
		err := fs.WalkDir(w.fsys, src, func(_ string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // Copy says what it cannot read
			}
			switch {
			case e.IsDir():
				p.dirs++
			case e.Type().IsRegular():
				p.files++
				if fi, err := e.Info(); err == nil {
					p.bytes += fi.Size()
				}
			default:
				p.files++
			}
			return nil
		})
		if err != nil {
			return p, fmt.Errorf("count what is in %s: %w", src, err)
		}
	}
	return p, nil
}

// mountForCopy mounts a file system without a repository read-write, once
// for all the copies onto it, and returns where.
func (u *UI) mountForCopy(sp repofind.Space) (string, error) {
	if u.cfg.Find == nil {
		return "", fmt.Errorf("mount %s: no search for drives is running", sp.Device)
	}
	if !u.lockFind(time.Minute) {
		return "", errors.New("the search for repositories on the attached disks has not finished in a minute (a failing drive?); try again")
	}
	defer u.findMu.Unlock()
	dir, err := u.cfg.Find.MountSpace(sp)
	if err != nil {
		return "", err
	}
	u.logf("%s mounted read-write at %s to copy files onto", sp.Device, dir)
	return dir, nil
}

// confirmCopy shows what is copied where, and copies on Enter.
func (s *browseScreen) confirmCopy(p *preparedCopy) {
	u := s.u
	page := fmt.Sprintf("~copyconfirm%d", time.Now().UnixNano())
	var b strings.Builder
	names := make([]string, len(p.srcs))
	for i, src := range p.srcs {
		names[i] = path.Base(src)
	}
	list := strings.Join(names, ", ")
	if len(list) > 200 {
		list = list[:200] + "..."
	}
	fmt.Fprintf(&b, "\n  [::b]Copy[::-]   %s: %s\n", entries(len(p.srcs)), cleanLine(list))
	fmt.Fprintf(&b, "         %s in %s and %s\n", units.Bytes(p.bytes), plural(p.files, "file"), plural(p.dirs, "folder"))
	fmt.Fprintf(&b, "  [::b]From[::-]   image %s, partition %d (%s), %s\n", cleanLine(s.name), p.part.Number, cleanLine(p.part.Folder), cleanLine(s.folderOf(p.srcs[0])))
	fmt.Fprintf(&b, "  [::b]To[::-]     %s\n         folder %s\n", cleanLine(p.to.drive), cleanLine(p.dest))
	fmt.Fprintf(&b, "  [::b]Free[::-]   %s\n", units.Bytes(p.free))
	if p.bytes > p.free {
		fmt.Fprintf(&b, "\n  [::b]Not enough free space:[::-] %s more are needed. Choose another drive, or mark fewer files.\n", units.Bytes(p.bytes-p.free))
	}
	b.WriteString("\n  Nothing is overwritten. Enter copies, Esc goes back.")
	view := tview.NewTextView().SetDynamicColors(true).SetText(b.String())
	view.SetBorder(true).SetTitle(" Copy files ")
	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyEscape:
			u.back()
			go os.Remove(p.dest) // only when still empty
			return nil
		case tcell.KeyEnter:
			u.back() // the confirmation
			u.back() // the list of drives
			s.runCopy(p)
			return nil
		}
		return ev
	})
	u.addPage(page, view, "[::b]Enter[::-] copy  [::b]Esc[::-] back")
	u.show(page)
}

// folderOf is the folder src is in, as a path in its partition.
func (s *browseScreen) folderOf(src string) string {
	d := path.Dir(src)
	if d == "." {
		return "/"
	}
	return "/" + d
}

// runCopy copies as a job, with progress, and says what was copied and
// what was not.
func (s *browseScreen) runCopy(p *preparedCopy) {
	u := s.u
	what := strings.Join(p.srcs, ", ")
	from := fmt.Sprintf("image %s of %s, partition %d (%s)", s.name, s.repo, p.part.Number, p.part.Folder)
	u.logf("copy %s from %s to %s", what, from, p.dest)
	u.runJob("Copy files", "What is copied already stays; the file under way is removed.", func(ctx context.Context, tr *progress.Tracker) (string, error) {
		sum, err := imagemount.Copy(ctx, p.fsys, p.srcs, p.dest, imagemount.CopyOptions{Recursive: true, Progress: tr})
		var b strings.Builder
		fmt.Fprintf(&b, "Copied %s (%s), %s", plural(sum.Files, "file"), units.Bytes(sum.Bytes), plural(sum.Dirs, "folder"))
		if sum.Links > 0 {
			fmt.Fprintf(&b, ", %s", plural(sum.Links, "link"))
		}
		fmt.Fprintf(&b, " to %s", cleanLine(p.dest))
		result := fmt.Sprintf("%d files (%d bytes), %d folders, %d links", sum.Files, sum.Bytes, sum.Dirs, sum.Links)
		for i, f := range sum.Failed {
			u.logf("copy from %s: NOT COPIED %s: %s", from, f.Path, f.Err)
			if i < 20 {
				fmt.Fprintf(&b, "\nNOT COPIED %s: %s", cleanLine(f.Path), cleanLine(f.Err))
			} else if i == 20 {
				fmt.Fprintf(&b, "\n... and %d more (see the log)", len(sum.Failed)-20)
			}
		}
		if len(sum.Failed) > 0 {
			result += fmt.Sprintf(", %d not copied", len(sum.Failed))
		}
		if err != nil && !onlyUnreadable(err, sum) {
			u.logf("copy %s from %s to %s: %s, then: %v", what, from, p.dest, result, err)
			before := b.String()
			if sum.Files+sum.Dirs+sum.Links+len(sum.Failed) == 0 {
				before = ""
			}
			// The folder made for the copy goes when nothing is in it,
			// as when the copy is not confirmed.
			os.Remove(p.dest)
			if errors.Is(err, context.Canceled) {
				return "", &copyCancelled{before: before}
			}
			return "", &copyError{err: err, before: before}
		}
		u.logf("copy %s from %s to %s: %s", what, from, p.dest, result)
		return b.String(), nil
	}, func() {
		u.app.SetFocus(s.table)
	})
}

// onlyUnreadable says whether Copy's error only says that some files could
// not be read (each in sum.Failed) while the rest was copied.
func onlyUnreadable(err error, sum imagemount.CopySummary) bool {
	return len(sum.Failed) > 0 && strings.HasPrefix(err.Error(), fmt.Sprintf("copy: %d of %d files could not be read", len(sum.Failed), sum.Files+len(sum.Failed)))
}

// copyError is a copy that stopped, with what it copied before.
type copyError struct {
	err    error
	before string
}

func (e *copyError) Error() string {
	if e.before == "" {
		return e.err.Error()
	}
	return e.err.Error() + "\n\nBefore that: " + e.before
}
func (e *copyError) Unwrap() error { return e.err }

// copyCancelled is a copy cancelled from its progress screen, with what
// it copied before.
type copyCancelled struct{ before string }

func (e *copyCancelled) Error() string {
	if e.before == "" {
		return "the copy was cancelled before a file was whole: nothing was copied"
	}
	return "the copy was cancelled; the file under way was removed.\n\nBefore that: " + e.before
}
func (e *copyCancelled) Unwrap() error { return context.Canceled }

// copyAdvice says what to do after a copy stopped.
func copyAdvice(err error) string {
	switch {
	case errors.Is(err, imagemount.ErrNoSpace), errors.Is(err, unix.ENOSPC):
		return "The drive copied onto is too full: choose a drive with more free space, or mark fewer files. What was copied whole stays in its folder."
	case errors.Is(err, imagemount.ErrExists):
		return "Something of that name is in the folder copied into already, and nothing is overwritten: move it away, or copy again (each copy goes into a new folder named by the time)."
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.EIO):
		return "The drive could not be written (read-only, or failing): choose another drive. What was copied whole stays in its folder."
	}
	return "Check the message above and the log (l on the disks screen) for details."
}
