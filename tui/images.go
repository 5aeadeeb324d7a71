package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// imagesHints fit an 80-column console; the keys for the repository as a
// whole (note, prune, add) are on the status line below the table.
const imagesHints = "[::b]Enter[::-] info  [::b]o[::-] open files  [::b]r[::-] restore  [::b]v[::-] verify  [::b]d[::-] delete  [::b]Esc[::-] back"

// repoKeys is the second line of the status: the other keys.
const repoKeys = "\n [::b]n[::-] note  [::b]p[::-] prune unused chunks  [::b]a[::-] add a repository"

// imagesScreen lists repositories and the images of the selected one.
type imagesScreen struct {
	u      *UI
	root   *tview.Flex
	repos  *tview.List
	table  *tview.Table
	shown  []ops.ImageInfo
	repo   string
	status *tview.TextView
}

func newImagesScreen(u *UI) *imagesScreen {
	s := &imagesScreen{u: u}
	s.repos = tview.NewList().ShowSecondaryText(true)
	s.repos.SetBorder(true).SetTitle(" Repositories ")
	s.table = tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	s.table.SetBorder(true).SetTitle(" Images ")
	s.status = tview.NewTextView().SetDynamicColors(true)
	s.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(s.repos, 7, 0, false).
		AddItem(s.table, 0, 1, true).
		AddItem(s.status, 2, 0, false)
	s.repos.SetChangedFunc(func(i int, _, _ string, _ rune) { s.selectRepo(i) })
	s.repos.SetSelectedFunc(func(int, string, string, rune) { u.app.SetFocus(s.table) })
	s.table.SetSelectedFunc(func(row, _ int) { s.details() })
	s.root.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch ev.Key() {
		case tcell.KeyEscape:
			u.back()
			return nil
		case tcell.KeyTab, tcell.KeyBacktab:
			if s.repos.HasFocus() {
				u.app.SetFocus(s.table)
			} else {
				u.app.SetFocus(s.repos)
			}
			return nil
		case tcell.KeyRune:
		default:
			return ev
		}
		switch ev.Rune() {
		case 'o':
			if im := s.selected(); im != nil {
				u.openImage(s.repo, im.Name)
			}
		case 'r':
			if im := s.selected(); im != nil {
				u.startRestore(im.Manifest, s.repo)
			}
		case 'v':
			if im := s.selected(); im != nil {
				u.verify(s.repo, im.Name)
			}
		case 'd':
			if im := s.selectedAny(); im != nil {
				s.confirmDelete(*im)
			}
		case 'n':
			if im := s.selected(); im != nil {
				s.editNote(*im)
			}
		case 'p':
			if s.repo != "" {
				s.prune()
			}
		case 'a':
			u.askRepoPath(func(dir string) {
				s.refreshRepos()
				for i, r := range u.repos {
					if r.Dir == dir {
						s.repos.SetCurrentItem(i)
						s.selectRepo(i)
					}
				}
			})
		default:
			return ev
		}
		return nil
	})
	return s
}

func (s *imagesScreen) refreshRepos() {
	cur := s.repos.GetCurrentItem()
	s.repos.Clear()
	for _, r := range s.u.repos {
		origin := "typed path"
		if r.Found != nil {
			origin = fmt.Sprintf("found on %s (%s)", r.Found.Device, r.Found.FSType)
		}
		s.repos.AddItem(cleanLine(r.Dir), cleanLine(origin), 0, nil)
	}
	if len(s.u.repos) == 0 {
		s.status.SetText(" No repository yet: press a to type a path.")
		s.table.Clear()
		s.table.SetCell(0, 0, tview.NewTableCell("no repository"))
		s.shown = nil
		s.repo = ""
		return
	}
	if cur >= len(s.u.repos) || cur < 0 {
		cur = 0
	}
	s.repos.SetCurrentItem(cur)
	s.selectRepo(cur)
}

func (s *imagesScreen) selectRepo(i int) {
	if i < 0 || i >= len(s.u.repos) {
		return
	}
	s.repo = s.u.repos[i].Dir
	s.table.Clear()
	for c, h := range []string{"NAME", "CAPTURED", "SOURCE", "SIZE", "ON DISK", "UNIQUE", "NOTE"} {
		s.table.SetCell(0, c, tview.NewTableCell("[::b]"+h).SetSelectable(false))
	}
	list, err := ops.ListImages(s.repo)
	s.shown = list
	if len(list) == 0 {
		// A table must keep a selectable cell: tview loops forever
		// looking for one on a cursor key.
		s.table.SetCell(1, 0, tview.NewTableCell("no images"))
	}
	if err != nil {
		s.status.SetText(" " + clean(err.Error()))
		return
	}
	for row, im := range list {
		if im.Err != nil {
			s.table.SetCell(row+1, 0, tview.NewTableCell(cleanLine(im.Name)))
			s.table.SetCell(row+1, 1, tview.NewTableCell("unreadable: "+cleanLine(im.Err.Error())))
			continue
		}
		m := im.Manifest
		cells := []string{m.Name, m.Created.Local().Format("2006-01-02 15:04"), source(m.Disk), units.Bytes(m.Disk.Size), units.Bytes(im.Usage.Stored), units.Bytes(im.Usage.Unique), im.Note}
		for c, v := range cells {
			cell := tview.NewTableCell(cleanLine(v))
			switch c {
			case 2:
				cell.SetMaxWidth(16).SetExpansion(1)
			case 6:
				cell.SetMaxWidth(20).SetExpansion(1)
			}
			s.table.SetCell(row+1, c, cell)
		}
	}
	s.status.SetText(fmt.Sprintf(" %s in %s", plural(len(list), "image"), cleanLine(s.repo)) + repoKeys)
	if len(list) > 0 {
		s.table.Select(1, 0)
	}
}

func source(d image.Disk) string {
	var parts []string
	if d.Model != "" {
		parts = append(parts, d.Model)
	}
	if d.Serial != "" {
		parts = append(parts, d.Serial)
	}
	if len(parts) == 0 {
		return filepath.Base(d.Path)
	}
	return strings.Join(parts, " ")
}

// selectedAny is the selected image, readable or not.
func (s *imagesScreen) selectedAny() *ops.ImageInfo {
	row, _ := s.table.GetSelection()
	if row < 1 || row > len(s.shown) {
		return nil
	}
	return &s.shown[row-1]
}

func (s *imagesScreen) selected() *ops.ImageInfo {
	row, _ := s.table.GetSelection()
	if row < 1 || row > len(s.shown) || s.shown[row-1].Manifest == nil {
		return nil
	}
	return &s.shown[row-1]
}

// details shows everything an image records.
func (s *imagesScreen) details() {
	im := s.selected()
	if im == nil {
		return
	}
	m := im.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "[::b]%s[::-]  (id %s)\n", cleanLine(m.Name), m.ID.String()[:16])
	fmt.Fprintf(&b, "captured  %s by %s\n", m.Created.Local().Format("2006-01-02 15:04:05"), cleanLine(dash(m.Tool)))
	fmt.Fprintf(&b, "source    %s\n", cleanLine(dash(strings.Join(nonEmpty(identity(m.Disk), m.Disk.Path), ", "))))
	fmt.Fprintf(&b, "disk      %s, %d/%d-byte sectors, %s partition table\n", units.Bytes(m.Disk.Size), m.Disk.LogicalSectorSize, m.Disk.PhysicalSectorSize, m.Table.Type)
	st := m.Stats
	fmt.Fprintf(&b, "data      %s in %d chunks, %s of zeros; stored %s\n", units.Bytes(st.DataBytes), st.Chunks, units.Bytes(st.HoleBytes), units.Bytes(st.StoredBytes))
	fmt.Fprintf(&b, "on disk   %s; %s of it no other image uses\n", units.Bytes(im.Usage.Stored), units.Bytes(im.Usage.Unique))
	if im.Note != "" {
		fmt.Fprintf(&b, "note      %s\n", clean(im.Note))
	}
	if st.UnusedBytes > 0 {
		fmt.Fprintf(&b, "read      %s; %s not read: file systems do not use it\n", units.Bytes(st.BytesRead), units.Bytes(st.UnusedBytes))
	}
	if len(m.Table.Partitions) > 0 {
		b.WriteString("\n")
		parts := make([]ops.PartInfo, len(m.Table.Partitions))
		for i, p := range m.Table.Partitions {
			parts[i] = ops.PartInfo{Partition: p}
			parts[i].FS.Type, parts[i].FS.Version, parts[i].FS.Label = p.FileSystem, p.FSVersion, p.FSLabel
			if strings.HasPrefix(p.Capture, "used blocks") {
				parts[i].Used = p.UsedBytes // what the file system's map said it uses
			}
		}
		writeParts(&b, parts)
		b.WriteString("\n")
		for _, p := range m.Table.Partitions {
			if p.Capture != "" {
				fmt.Fprintf(&b, "  %-3d read %s: %s\n", p.Number, units.Bytes(p.UsedBytes), cleanLine(p.Capture))
			}
		}
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(&b, "\n[::b]warning:[::-] %s", clean(w))
	}
	view := tview.NewTextView().SetDynamicColors(true).SetScrollable(true).SetText(b.String())
	view.SetBorder(true).SetTitle(" Image details ")
	name := "~details"
	view.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		switch {
		case ev.Key() == tcell.KeyEscape || ev.Key() == tcell.KeyEnter:
			s.u.back()
		case ev.Rune() == 'o':
			s.u.back()
			s.u.openImage(s.repo, m.Name)
		case ev.Rune() == 'r':
			s.u.back()
			s.u.startRestore(m, s.repo)
		case ev.Rune() == 'v':
			s.u.back()
			s.u.verify(s.repo, m.Name)
		default:
			return ev
		}
		return nil
	})
	s.u.addPage(name, view, "[::b]o[::-] open  [::b]r[::-] restore  [::b]v[::-] verify  [::b]Esc[::-] back")
	s.u.show(name)
}

// sourceLong names the captured disk by its identity, or by its file name
// when it was a disk image file.
func sourceLong(d image.Disk) string {
	if id := identity(d); id != "" || d.Path == "" {
		return id
	}
	return filepath.Base(d.Path)
}

// identity is the disk's vendor, model, serial and WWN.
func identity(d image.Disk) string {
	var parts []string
	for _, s := range []string{d.Vendor, d.Model} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if d.Serial != "" {
		parts = append(parts, "serial "+d.Serial)
	}
	if d.WWN != "" {
		parts = append(parts, "WWN "+d.WWN)
	}
	return strings.Join(parts, ", ")
}

// askRepoPath asks for a repository directory and adds it to the list.
func (u *UI) askRepoPath(added func(dir string)) {
	name := "~repopath"
	in := tview.NewInputField().SetLabel("Repository directory: ").SetFieldWidth(0)
	form := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(tview.NewTextView().SetText("Type the path of a repository (a directory; capture creates it).\n"), 2, 0, false).
		AddItem(in, 1, 0, true)
	form.SetBorder(true).SetTitle(" Add a repository ")
	in.SetDoneFunc(func(key tcell.Key) {
		if key == tcell.KeyEscape {
			u.back()
			return
		}
		if key != tcell.KeyEnter {
			return
		}
		dir := strings.TrimSpace(in.GetText())
		if dir == "" {
			return
		}
		if abs, err := filepath.Abs(dir); err == nil && !repo.IsRemote(dir) {
			dir = abs
		}
		u.back()
		for _, r := range u.repos {
			if r.Dir == dir {
				added(dir)
				return
			}
		}
		u.repos = append([]repoEntry{{Dir: dir, Origin: "typed"}}, u.repos...)
		u.logf("repository added: %s", dir)
		added(dir)
	})
	u.addPage(name, form, "[::b]Enter[::-] add  [::b]Esc[::-] back")
	u.show(name)
}

// verify checks an image as a job.
func (u *UI) verify(repoDir, name string) {
	req := ops.VerifyRequest{Repo: repoDir, Name: name}
	start := func(dirs []string) (*joblog.Log, error) { return ops.StartVerifyLog(dirs, req) }
	u.runJob("Verify "+name, "", u.logged("Verify "+name, repoDir, start, func(ctx context.Context, tr *progress.Tracker, lg *joblog.Log) (string, error) {
		res, err := ops.Verify(ctx, req, tr)
		ops.LogVerified(lg, res)
		var b strings.Builder
		for i, p := range res.Chunks.Problems {
			if i == 20 {
				fmt.Fprintf(&b, "... and %d more (see the log)\n", len(res.Chunks.Problems)-20)
				break
			}
			fmt.Fprintf(&b, "DAMAGED %s\n", p)
		}
		for _, p := range res.Chunks.Problems {
			u.logf("verify %s: DAMAGED %s", name, p)
		}
		if err != nil {
			if b.Len() > 0 {
				return "", fmt.Errorf("%w\n%s", err, strings.TrimSpace(b.String()))
			}
			return "", err
		}
		return fmt.Sprintf("Image %s: all %d chunks present and intact.\n%s checked at %s.",
			cleanLine(name), res.Chunks.Chunks, units.Bytes(res.Chunks.Bytes), units.Rate(res.Chunks.Bytes, res.Chunks.Seconds)), nil
	}), nil)
}

// nonEmpty returns its arguments that are not empty, each once.
func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// plural is "1 image", "2 images".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// reload lists the images of the repository shown again, keeping the
// selection's row where it can.
func (s *imagesScreen) reload() {
	row, _ := s.table.GetSelection()
	s.selectRepo(s.repos.GetCurrentItem())
	if row > 0 && row <= len(s.shown) {
		s.table.Select(row, 0)
	}
}

// confirmDelete shows what deleting an image removes and reclaims, and
// deletes it only when its name is typed.
func (s *imagesScreen) confirmDelete(im ops.ImageInfo) {
	u, repoDir := s.u, s.repo
	name := "~delete"
	var b strings.Builder
	fmt.Fprintf(&b, "\n  Delete image [::b]%s[::-] from %s?\n\n", cleanLine(im.Name), cleanLine(repoDir))
	if m := im.Manifest; m != nil {
		fmt.Fprintf(&b, "  captured  %s from %s, a %s disk\n", m.Created.Local().Format("2006-01-02 15:04"), cleanLine(dash(sourceLong(m.Disk))), units.Bytes(m.Disk.Size))
		if im.Note != "" {
			fmt.Fprintf(&b, "  note      %s\n", cleanLine(im.Note))
		}
		fmt.Fprintf(&b, "  on disk   %s in %s\n", units.Bytes(im.Usage.Stored), plural(int(im.Usage.Chunks), "chunk"))
		fmt.Fprintf(&b, "  reclaims  %s (%d bytes): the %s no other image uses\n", units.Bytes(im.Usage.Unique), im.Usage.Unique, plural(int(im.Usage.UniqueChunks), "chunk"))
	} else {
		fmt.Fprintf(&b, "  The image cannot be read: %s\n", cleanLine(fmt.Sprint(im.Err)))
	}
	b.WriteString("\n  The image cannot be brought back. Chunks no image uses any more\n  are removed with it.\n")
	view := tview.NewTextView().SetDynamicColors(true).SetText(b.String())
	input := tview.NewInputField().SetLabel(" Type the image's name to delete it: ").SetFieldWidth(0)
	status := tview.NewTextView().SetDynamicColors(true)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(view, 0, 1, false).
		AddItem(input, 1, 0, true).
		AddItem(status, 2, 0, false)
	root.SetBorder(true).SetTitle(" Delete an image ")
	input.SetDoneFunc(func(key tcell.Key) {
		switch key {
		case tcell.KeyEscape:
			u.back()
		case tcell.KeyEnter:
			answer := strings.TrimSpace(input.GetText())
			if answer != im.Name {
				msg := fmt.Sprintf("You typed %q, not %q. Nothing was deleted.", answer, im.Name)
				u.logf("delete %s: not confirmed (%s)", im.Name, msg)
				status.SetText(" [::b]" + cleanLine(msg) + "[::-]")
				input.SetText("")
				return
			}
			u.back()
			u.runJob("Delete "+im.Name, "", func(ctx context.Context, tr *progress.Tracker) (string, error) {
				if err := u.writable(repoDir); err != nil {
					return "", err
				}
				res, err := ops.DeleteImage(ctx, repoDir, im.Name, tr)
				if err != nil {
					return "", err
				}
				p := res.Prune
				u.logf("deleted image %s from %s: reclaimed %d bytes in %d chunks", im.Name, repoDir, p.Reclaimed(), p.Chunks)
				text := fmt.Sprintf("Image %s deleted.\nReclaimed %s (%d bytes) in %s.", cleanLine(im.Name), units.Bytes(p.Reclaimed()), p.Reclaimed(), plural(int(p.Chunks), "chunk"))
				if p.Kept > 0 {
					text += fmt.Sprintf("\n%s written while it ran were kept.", plural(int(p.Kept), "unused chunk"))
				}
				return text, nil
			}, s.reload)
		}
	})
	u.addPage(name, root, "[::b]Enter[::-] delete  [::b]Esc[::-] back")
	u.show(name)
}

// editNote edits an image's note on one line.
func (s *imagesScreen) editNote(im ops.ImageInfo) {
	u, repoDir := s.u, s.repo
	name := "~note"
	input := tview.NewInputField().SetLabel(" Note: ").SetFieldWidth(0).
		SetText(strings.Join(strings.Fields(im.Note), " "))
	status := tview.NewTextView().SetDynamicColors(true)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(tview.NewTextView().SetText(fmt.Sprintf("\n A note for image %s: who, what, why. Empty removes it.\n", im.Name)), 3, 0, false).
		AddItem(input, 1, 0, true).
		AddItem(status, 2, 0, false).
		AddItem(tview.NewBox(), 0, 1, false)
	root.SetBorder(true).SetTitle(" Image note ")
	input.SetDoneFunc(func(key tcell.Key) {
		switch key {
		case tcell.KeyEscape:
			u.back()
		case tcell.KeyEnter:
			text := strings.TrimSpace(input.GetText())
			status.SetText(" saving...")
			go func() {
				err := u.writable(repoDir)
				if err == nil {
					err = ops.SetNote(repoDir, im.Name, text)
				}
				u.app.QueueUpdateDraw(func() {
					if err != nil {
						status.SetText(" [::b]" + cleanLine(err.Error()) + "[::-]")
						return
					}
					u.logf("note of %s set: %q", im.Name, text)
					u.back()
					s.reload()
				})
			}()
		}
	})
	u.addPage(name, root, "[::b]Enter[::-] save  [::b]Esc[::-] back")
	u.show(name)
}

// prune asks, then removes the chunks no image of the repository uses.
func (s *imagesScreen) prune() {
	u, repoDir := s.u, s.repo
	u.ask(fmt.Sprintf("Remove the chunks no image in %s uses (left by deleted images and interrupted captures)?", repoDir), func() {
		u.runJob("Prune", "", func(ctx context.Context, tr *progress.Tracker) (string, error) {
			if err := u.writable(repoDir); err != nil {
				return "", err
			}
			p, err := ops.Prune(ctx, repoDir, false, tr)
			if err != nil {
				return "", err
			}
			u.logf("pruned %s: %d chunks, %d bytes", repoDir, p.Chunks, p.Reclaimed())
			return fmt.Sprintf("Removed %s and %s of interrupted writes.\nReclaimed %s (%d bytes).\n%s in use by %s.",
				plural(int(p.Chunks), "unused chunk"), plural(int(p.Temps), "temporary file"), units.Bytes(p.Reclaimed()), p.Reclaimed(),
				plural(int(p.InUse), "chunk"), plural(p.Images, "image")), nil
		}, s.reload)
	})
}
