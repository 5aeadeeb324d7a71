package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// configFiles are the files, relative to a file system's root, that name
// file systems and partitions by their identifiers: where they are
// mounted, unlocked and booted from.
var configFiles = []string{
	"etc/fstab", "etc/crypttab", "etc/default/grub", "etc/kernel/cmdline",
	"etc/initramfs-tools/conf.d/resume", "etc/default/grub.d/*.cfg",
	"boot/grub/grub.cfg", "grub/grub.cfg", "boot/grub2/grub.cfg", "grub2/grub.cfg",
	"EFI/*/grub.cfg", "efi/*/grub.cfg", "boot/efi/EFI/*/grub.cfg",
	"loader/entries/*.conf", "boot/loader/entries/*.conf", "efi/loader/entries/*.conf",
	"boot/grub/custom.cfg", "boot/refind_linux.conf",
}

// ApplyIdentity finishes a restore with new identities, after the data is
// written and synced on the target at path: it sets the file-system UUIDs
// that need a tool (tune2fs for ext2/3/4, after e2fsck -f -p), then
// rewrites every old identifier to the new one in the files of
// configFiles: on ext2/3/4 and XFS mounted through a loop device, on FAT
// in place through package fatfs; btrfs is left alone, with a warning. It
// returns what it changed, file by file, and warnings for what it could
// not check; the error is for cancellation only.
func ApplyIdentity(ctx context.Context, path string, p *layout.Plan, tr *progress.Tracker) (changes, warnings []string, err error) {
	if len(p.IDs) == 0 {
		return nil, nil, nil
	}
	tr.Start("new identities", int64(len(p.Parts)))
	part := func(n int) *layout.Part {
		for i := range p.Parts {
			if p.Parts[i].Number == n {
				return &p.Parts[i]
			}
		}
		return nil
	}
	for _, id := range p.IDs {
		if id.Tool == "" {
			changes = append(changes, describeID(id))
			continue
		}
		pt := part(id.Partition)
		if pt == nil {
			continue
		}
		if err := setUUID(ctx, path, pt, id); err != nil {
			warnings = append(warnings, fmt.Sprintf("partition %d: %s not changed: %v", pt.Number, id.What, err))
			continue
		}
		changes = append(changes, describeID(id)+" (with "+id.Tool+")")
	}
	forms := map[string]string{}
	for _, id := range p.IDs {
		for o, n := range id.Forms {
			forms[o] = n
		}
	}
	for _, pt := range p.Parts {
		if err := ctx.Err(); err != nil {
			return changes, warnings, err
		}
		tr.Add(1)
		switch pt.Src.FileSystem {
		case "ext2", "ext3", "ext4", "vfat", "xfs":
		case "btrfs":
			// Its UUID stays, and the kernel may take a btrfs with a
			// known UUID for the source disk's: not mounted.
			warnings = append(warnings, fmt.Sprintf("partition %d (btrfs): references not checked (Lifeboat does not mount a btrfs copy while its source may be attached); check /etc/fstab on it", pt.Number))
			continue
		default:
			continue
		}
		done, err := rewriteRefs(path, pt, forms)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("partition %d (%s): references not checked: %v", pt.Number, pt.Src.FileSystem, err))
			continue
		}
		changes = append(changes, done...)
	}
	warnings = append(warnings, "initrd images are not rewritten: a system whose initrd names a device by UUID (resume=, an encrypted root) needs update-initramfs -u (or dracut -f) after its first start")
	return changes, warnings, ctx.Err()
}

func describeID(id layout.IDChange) string {
	where := "disk"
	if id.Partition > 0 {
		where = fmt.Sprintf("partition %d", id.Partition)
	}
	return fmt.Sprintf("%s: new %s %s (was %s)", where, id.What, id.New, id.Old)
}

// setUUID sets a file system's new UUID with its tool.
func setUUID(ctx context.Context, path string, pt *layout.Part, id layout.IDChange) error {
	l, err := fsresize.Loop(path, pt.Start, pt.Size)
	if err != nil {
		return err
	}
	defer l.Close()
	switch id.Tool {
	case "tune2fs":
		return fsresize.SetExtUUID(ctx, l.Path, id.New)
	}
	return fmt.Errorf("no tool %q", id.Tool)
}

// rewriteRefs replaces the old identifiers (forms' keys) in the
// configuration files of pt's file system: FAT in place through package
// fatfs (the identifiers keep their length), others mounted.
func rewriteRefs(path string, pt layout.Part, forms map[string]string) ([]string, error) {
	if pt.Src.FileSystem == "vfat" {
		return rewriteFAT(path, pt, forms)
	}
	l, err := fsresize.Loop(path, pt.Start, pt.Size)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	dir, err := os.MkdirTemp("", "lifeboat-ids-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := unix.Mount(l.Path, dir, pt.Src.FileSystem, unix.MS_NOATIME, ""); err != nil {
		return nil, fmt.Errorf("mount %s (%s): %w", l.Path, pt.Src.FileSystem, err)
	}
	changes, rerr := rewriteTree(dir, forms)
	for i := range changes {
		changes[i] = fmt.Sprintf("partition %d (%s): %s", pt.Number, pt.Src.FileSystem, changes[i])
	}
	if err := unix.Unmount(dir, 0); err != nil && rerr == nil {
		rerr = fmt.Errorf("unmount %s: %w", dir, err)
	}
	return changes, rerr
}

// replacer replaces the old identifiers, longer forms first (so
// "1a2b3c4d-01" is not cut by a shorter one), and counts them.
type replacer struct {
	olds []string
	rep  *strings.Replacer
}

func newReplacer(forms map[string]string) replacer {
	olds := make([]string, 0, len(forms))
	for o := range forms {
		olds = append(olds, o)
	}
	sort.Slice(olds, func(a, b int) bool {
		return len(olds[a]) > len(olds[b]) || len(olds[a]) == len(olds[b]) && olds[a] < olds[b]
	})
	var pairs []string
	for _, o := range olds {
		pairs = append(pairs, o, forms[o])
	}
	return replacer{olds, strings.NewReplacer(pairs...)}
}

func (r replacer) replace(b []byte) ([]byte, int) {
	n := 0
	for _, o := range r.olds {
		n += strings.Count(string(b), o)
	}
	if n == 0 {
		return b, 0
	}
	return []byte(r.rep.Replace(string(b))), n
}

// rewriteTree replaces every old identifier in the configuration files
// under root and says, per file, how many it replaced.
func rewriteTree(root string, forms map[string]string) ([]string, error) {
	r := newReplacer(forms)
	var changes []string
	seen := map[string]bool{}
	for _, pat := range configFiles {
		matches, _ := filepath.Glob(filepath.Join(root, pat))
		for _, f := range matches {
			if seen[f] {
				continue
			}
			seen[f] = true
			fi, err := os.Lstat(f)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxConfig {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return changes, fmt.Errorf("read %s: %w", f, err)
			}
			out, n := r.replace(b)
			if n == 0 {
				continue
			}
			if err := os.WriteFile(f, out, fi.Mode().Perm()); err != nil {
				return changes, fmt.Errorf("write %s: %w", f, err)
			}
			rel, _ := filepath.Rel(root, f)
			changes = append(changes, fmt.Sprintf("/%s: %d references rewritten", rel, n))
		}
	}
	return changes, nil
}

// maxConfig is the largest configuration file looked at.
const maxConfig = 4 << 20

// rewriteFAT rewrites the configuration files of the FAT volume of pt in
// place, without a kernel FAT driver.
func rewriteFAT(path string, pt layout.Part, forms map[string]string) ([]string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := fatfs.Open(io.NewSectionReader(f, pt.Start, pt.Size), pt.Size)
	if err != nil {
		return nil, err
	}
	w := io.NewOffsetWriter(f, pt.Start)
	r := newReplacer(forms)
	var changes []string
	seen := map[string]bool{}
	for _, pat := range configFiles {
		for _, file := range v.Glob(pat) {
			if seen[strings.ToUpper(file)] {
				continue
			}
			seen[strings.ToUpper(file)] = true
			b, err := v.ReadFile(file, maxConfig)
			if err != nil {
				continue // too large, or not a file
			}
			out, n := r.replace(b)
			if n == 0 {
				continue
			}
			if err := v.Rewrite(w, file, out); err != nil {
				return changes, err
			}
			changes = append(changes, fmt.Sprintf("partition %d (vfat): %s: %d references rewritten", pt.Number, file, n))
		}
	}
	if err := f.Sync(); err != nil {
		return changes, fmt.Errorf("sync %s: %w", path, err)
	}
	return changes, nil
}
