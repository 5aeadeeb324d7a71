package ops

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/efivars"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// hdOf is the hard-drive device-path node of partition p of table t.
func hdOf(t *ptable.Table, p ptable.Partition) efivars.HardDrive {
	lss := int64(t.SectorSize)
	hd := efivars.HardDrive{Partition: uint32(p.Number), Start: uint64(p.Start / lss), Size: uint64(p.Size / lss)}
	if t.Type == ptable.TypeGPT {
		hd.GUID = strings.ToUpper(p.GUID)
	} else {
		hd.Signature = strings.ToLower(strings.TrimPrefix(t.DiskID, "0x"))
	}
	return hd
}

// names reports whether a boot entry's disk node is partition p of t.
func names(d *efivars.HardDrive, t *ptable.Table, p ptable.Partition) bool {
	if d == nil {
		return false
	}
	want := hdOf(t, p)
	if t.Type == ptable.TypeGPT {
		return want.GUID != "" && strings.EqualFold(d.GUID, want.GUID)
	}
	return want.Signature != "" && strings.EqualFold(d.Signature, want.Signature) && d.Partition == want.Partition
}

// firmwareBoot reads the firmware's UEFI boot entries that start a loader
// on a partition of table t (the disk being captured). Nil when the system
// did not start through UEFI, or none does.
func firmwareBoot(t *ptable.Table, mount bool) *image.Boot {
	if t == nil || t.Type == ptable.TypeNone {
		return nil
	}
	st, err := efivars.Open(mount)
	if err != nil {
		return nil
	}
	ents, order, err := st.Boot()
	if err != nil {
		return nil
	}
	pos := map[uint16]int{}
	for i, n := range order {
		if _, ok := pos[n]; !ok {
			pos[n] = i
		}
	}
	var out []image.BootEntry
	for _, e := range ents {
		path, err := efivars.ParsePath(e.Option.FilePath)
		if err != nil || path.File == "" {
			continue
		}
		for _, p := range t.Partitions {
			if names(path.Disk, t, p) {
				_, in := pos[e.Number]
				out = append(out, image.BootEntry{Number: e.Number, Description: e.Option.Description,
					Active: e.Option.Attributes&efivars.LoadOptionActive != 0, InOrder: in, Partition: p.Number, Loader: path.File})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.SliceStable(out, func(a, b int) bool {
		pa, ina := pos[out[a].Number]
		pb, inb := pos[out[b].Number]
		if ina != inb {
			return ina
		}
		return pa < pb
	})
	return &image.Boot{Entries: out}
}

// wantedEntry is a boot entry a restored disk should have.
type wantedEntry struct {
	part   ptable.Partition
	loader string
	desc   string
}

// defaultLoaders are the loaders a boot entry is made for when the image
// records none, in order of preference, with the entry's description ("":
// the loader's directory, the distribution's name).
var defaultLoaders = []struct{ glob, desc string }{
	{"EFI/*/shimx64.efi", ""},
	{"EFI/systemd/systemd-bootx64.efi", "Linux Boot Manager"},
	{"EFI/Microsoft/Boot/bootmgfw.efi", "Windows Boot Manager"},
	{"EFI/*/grubx64.efi", ""},
	{"EFI/BOOT/BOOTX64.EFI", "UEFI OS"},
}

// bootEntriesFor lists the entries the restored disk at path (table t)
// should have: those the image's machine had, for loaders that are on the
// restored disk; else, when orDefault is set, one for the best loader on
// its first EFI system partition.
func bootEntriesFor(path string, t *ptable.Table, m *image.Manifest, orDefault bool) ([]wantedEntry, []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	defer f.Close()
	var out []wantedEntry
	var notes []string
	open := func(p ptable.Partition) *fatfs.Volume {
		v, err := fatfs.Open(io.NewSectionReader(f, p.Start, p.Size), p.Size)
		if err != nil {
			return nil
		}
		return v
	}
	if m.Boot != nil {
		for _, e := range m.Boot.Entries {
			if !e.Active {
				continue
			}
			var part *ptable.Partition
			for i := range t.Partitions {
				if t.Partitions[i].Number == e.Partition {
					part = &t.Partitions[i]
				}
			}
			v := (*fatfs.Volume)(nil)
			if part != nil {
				v = open(*part)
			}
			if v == nil {
				notes = append(notes, fmt.Sprintf("the image's boot entry %q names partition %d, which is not a FAT file system on the restored disk: not made", e.Description, e.Partition))
				continue
			}
			if _, err := v.Stat(strings.ReplaceAll(e.Loader, `\`, "/")); err != nil {
				notes = append(notes, fmt.Sprintf("the image's boot entry %q names %s on partition %d, which is not there: not made", e.Description, e.Loader, e.Partition))
				continue
			}
			out = append(out, wantedEntry{*part, e.Loader, e.Description})
		}
		if len(out) > 0 || !orDefault {
			return out, notes
		}
	}
	for _, p := range t.Partitions {
		if !(t.Type == ptable.TypeGPT && strings.EqualFold(p.Type, espType) || t.Type == ptable.TypeMBR && p.Type == "0xef") {
			continue
		}
		v := open(p)
		if v == nil {
			continue
		}
		for _, l := range defaultLoaders {
			for _, file := range v.Glob(l.glob) {
				if e, err := v.Stat(file); err != nil || e.Size == 0 {
					continue
				}
				desc := l.desc
				if desc == "" {
					desc = filepath.Base(filepath.Dir(file))
				}
				return append(out, wantedEntry{p, strings.ReplaceAll(file, "/", `\`), desc}), notes
			}
		}
	}
	return out, notes
}

// espType is the GPT type GUID of an EFI system partition.
const espType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

// makeBootEntries gives the firmware of the machine Lifeboat runs on boot
// entries for the restored disk at path (table t), first in BootOrder; an
// entry that already names the same loader at the same place is reused.
func makeBootEntries(path string, t *ptable.Table, m *image.Manifest, mount bool) (changes, warnings []string) {
	wanted, notes := bootEntriesFor(path, t, m, true)
	warnings = append(warnings, notes...)
	if len(wanted) == 0 {
		return nil, warnings // nothing to start through UEFI: the boot check says so
	}
	st, err := efivars.Open(mount)
	if err != nil {
		return nil, append(warnings, fmt.Sprintf("no UEFI boot entry made for %s (%v); firmware without one starts \\EFI\\BOOT\\BOOTX64.EFI", wanted[0].loader, err))
	}
	// The last wanted first, so that the first ends first in BootOrder.
	for i := len(wanted) - 1; i >= 0; i-- {
		w := wanted[i]
		hd := hdOf(t, w.part)
		ents, order, err := st.Boot()
		if err != nil {
			return changes, append(warnings, fmt.Sprintf("read the UEFI boot entries: %v", err))
		}
		reused := false
		for _, e := range ents {
			p, err := efivars.ParsePath(e.Option.FilePath)
			if err == nil && p.Disk != nil && *p.Disk == hd && strings.EqualFold(p.File, w.loader) {
				if err := st.First(e.Number, order); err != nil {
					return changes, append(warnings, fmt.Sprintf("UEFI BootOrder: %v", err))
				}
				changes = append(changes, fmt.Sprintf("UEFI boot entry %s %q already starts %s on partition %d: first in BootOrder now", e.Name(), e.Option.Description, w.loader, w.part.Number))
				reused = true
				break
			}
		}
		if reused {
			continue
		}
		fp, err := efivars.ShortPath(hd, w.loader)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("UEFI boot entry for %s: %v", w.loader, err))
			continue
		}
		n, err := st.Add(efivars.LoadOption{Attributes: efivars.LoadOptionActive, Description: w.desc, FilePath: fp})
		if err != nil {
			return changes, append(warnings, fmt.Sprintf("UEFI boot entry for %s: %v", w.loader, err))
		}
		changes = append(changes, fmt.Sprintf("UEFI boot entry %s %q made: %s on partition %d, first in BootOrder", efivars.Entry{Number: n}.Name(), w.desc, w.loader, w.part.Number))
	}
	return changes, warnings
}

// checkBootEntries says, for each boot entry the image's machine had,
// whether its loader is on the restored disk.
func checkBootEntries(path string, t *ptable.Table, m *image.Manifest) (lines, problems []string) {
	if m.Boot == nil || len(m.Boot.Entries) == 0 {
		return []string{"the image records no UEFI boot entries for this disk (captured where the firmware had none, or not through UEFI): none checked"}, nil
	}
	wanted, notes := bootEntriesFor(path, t, m, false)
	for _, w := range wanted {
		lines = append(lines, fmt.Sprintf("the image's boot entry %q names %s on partition %d: it is there", w.desc, w.loader, w.part.Number))
	}
	return append(lines, notes...), notes
}
