package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// BootReport is what CheckBoot found on a restored disk: each line says
// what was checked and what it showed, or what could not be checked.
type BootReport struct {
	UEFI []string `json:"uefi"`
	BIOS []string `json:"bios"`
	// Problems are findings that would keep the disk from booting.
	Problems []string `json:"problems"`
}

// Lines is the report as lines for people.
func (r BootReport) Lines() []string {
	var out []string
	for _, l := range r.UEFI {
		out = append(out, "UEFI: "+l)
	}
	for _, l := range r.BIOS {
		out = append(out, "BIOS: "+l)
	}
	return out
}

const espType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

// uefiLoaders are the boot loaders looked for on an EFI system partition,
// with who they belong to.
var uefiLoaders = []struct{ glob, what string }{
	{"EFI/BOOT/BOOTX64.EFI", "the fallback loader any x86-64 firmware starts without a boot entry"},
	{"EFI/*/shimx64.efi", "shim (Secure Boot)"},
	{"EFI/*/grubx64.efi", "GRUB"},
	{"EFI/systemd/systemd-bootx64.efi", "systemd-boot"},
	{"EFI/Microsoft/Boot/bootmgfw.efi", "Windows Boot Manager"},
}

// CheckBoot looks at a restored disk (r, of size bytes, with table t as
// written) for what its firmware needs to boot it: on UEFI, an EFI system
// partition with loaders, the fallback \EFI\BOOT\BOOTX64.EFI first (a
// machine that never booted this disk has no boot entry for the others);
// on BIOS, boot code in the MBR and, for GRUB, its core image where the
// boot code says it is. It reads only.
func CheckBoot(r io.ReaderAt, size int64, t *ptable.Table) BootReport {
	var rep BootReport
	if t == nil || t.Type == ptable.TypeNone {
		rep.BIOS = append(rep.BIOS, "no partition table: nothing to check")
		return rep
	}
	lss := int64(t.SectorSize)
	var esps []ptable.Partition
	for _, p := range t.Partitions {
		if t.Type == ptable.TypeGPT && strings.EqualFold(p.Type, espType) || t.Type == ptable.TypeMBR && p.Type == "0xef" {
			esps = append(esps, p)
		}
	}
	if len(esps) == 0 {
		rep.UEFI = append(rep.UEFI, "no EFI system partition: the disk does not boot on UEFI firmware (unless in legacy/CSM mode)")
	}
	for _, p := range esps {
		v, err := fatfs.Open(io.NewSectionReader(r, p.Start, p.Size), p.Size)
		if err != nil {
			rep.UEFI = append(rep.UEFI, fmt.Sprintf("EFI system partition %d: not a FAT file system Lifeboat can read (%v): not checked", p.Number, err))
			continue
		}
		var found []string
		fallback := false
		for _, l := range uefiLoaders {
			for _, f := range v.Glob(l.glob) {
				if e, err := v.Stat(f); err == nil && e.Size > 0 {
					found = append(found, fmt.Sprintf("%s (%s)", winPath(f), l.what))
					fallback = fallback || strings.EqualFold(f, "/EFI/BOOT/BOOTX64.EFI")
				}
			}
		}
		switch {
		case len(found) == 0:
			msg := fmt.Sprintf("EFI system partition %d holds no boot loader", p.Number)
			rep.UEFI = append(rep.UEFI, msg)
			rep.Problems = append(rep.Problems, msg)
		default:
			rep.UEFI = append(rep.UEFI, fmt.Sprintf("EFI system partition %d holds %s", p.Number, strings.Join(found, ", ")))
			if !fallback {
				msg := fmt.Sprintf("EFI system partition %d has no \\EFI\\BOOT\\BOOTX64.EFI: firmware that has no boot entry for this disk (a new machine) will not start it; boot it once through the firmware's boot menu, or restore on the machine it came from", p.Number)
				rep.UEFI = append(rep.UEFI, msg)
				rep.Problems = append(rep.Problems, msg)
			}
		}
	}
	rep.BIOS = append(rep.BIOS, checkBIOS(r, size, lss, t)...)
	return rep
}

func winPath(p string) string { return strings.ReplaceAll(p, "/", `\`) }

// checkBIOS looks at the MBR's boot code.
func checkBIOS(r io.ReaderAt, size, lss int64, t *ptable.Table) []string {
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return []string{fmt.Sprintf("the MBR cannot be read: %v", err)}
	}
	code := mbr[:440]
	if len(bytes.Trim(code, "\x00")) == 0 {
		if t.Type == ptable.TypeGPT {
			return []string{"no boot code in the protective MBR: the disk boots on UEFI only"}
		}
		return []string{"no boot code in the MBR: the disk does not boot on BIOS"}
	}
	switch {
	case bytes.Contains(code, []byte("GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error")):
		// GRUB's boot.img keeps the LBA of the first sector of its core
		// image at offset 0x5c.
		core := int64(binary.LittleEndian.Uint64(mbr[0x5c:0x64]))
		where := "in the gap before the first partition"
		inPart := false
		for _, p := range t.Partitions {
			if core*512 >= p.Start && core*512 < p.Start+p.Size {
				where = fmt.Sprintf("in partition %d", p.Number)
				inPart = true
			}
		}
		sec := make([]byte, 512)
		if core <= 0 || core*512 >= size {
			return []string{fmt.Sprintf("GRUB's boot code in the MBR points at sector %d for its core image, which is not on the disk", core)}
		}
		if _, err := r.ReadAt(sec, core*512); err != nil || len(bytes.Trim(sec, "\x00")) == 0 {
			return []string{fmt.Sprintf("GRUB's boot code in the MBR loads its core image from sector %d (%s), which is empty: the disk will not boot on BIOS", core, where)}
		}
		ok := fmt.Sprintf("GRUB's boot code in the MBR, and its core image where it points (sector %d, %s)", core, where)
		if inPart && t.Type == ptable.TypeGPT {
			ok += ", a BIOS boot partition"
		}
		return []string{ok}
	case bytes.Contains(code, []byte("Invalid partition table")):
		for _, p := range t.Partitions {
			if p.Bootable {
				return []string{fmt.Sprintf("Windows' MBR boot code, and partition %d is active", p.Number)}
			}
		}
		return []string{"Windows' MBR boot code, but no partition is active: it will say \"Missing operating system\""}
	}
	return []string{"boot code in the MBR (not GRUB's or Windows'; its loader was not checked)"}
}

// fallbackSources are the loaders, in order of preference, that the
// fallback \EFI\BOOT\BOOTX64.EFI is copied from when an EFI system
// partition lacks it, with the files that must sit next to it.
var fallbackSources = []struct {
	glob      string
	companion []string // in the loader's directory, copied under the same name
}{
	// shim starts grubx64.efi (and MokManager, and fallback, which makes
	// boot entries from the vendor's BOOTX64.CSV) from its own directory.
	{"EFI/*/shimx64.efi", []string{"grubx64.efi", "mmx64.efi", "fbx64.efi"}},
	{"EFI/systemd/systemd-bootx64.efi", nil},
	{"EFI/Microsoft/Boot/bootmgfw.efi", nil},
	{"EFI/*/grubx64.efi", nil},
}

// InstallFallback gives every EFI system partition of the restored disk at
// path (table t) that has a boot loader but no \EFI\BOOT\BOOTX64.EFI a
// copy of its loader there (shim with GRUB, MokManager and fallback next
// to it), so that firmware with no boot entry for the disk, a new
// machine's, starts it. It returns what it installed.
func InstallFallback(path string, t *ptable.Table, now time.Time) ([]string, error) {
	if t == nil {
		return nil, nil
	}
	var out []string
	for _, p := range t.Partitions {
		if !(t.Type == ptable.TypeGPT && strings.EqualFold(p.Type, espType) || t.Type == ptable.TypeMBR && p.Type == "0xef") {
			continue
		}
		done, err := installFallback(path, p, now)
		if err != nil {
			return out, fmt.Errorf("EFI system partition %d: install \\EFI\\BOOT\\BOOTX64.EFI: %w", p.Number, err)
		}
		if done != "" {
			out = append(out, fmt.Sprintf("partition %d (EFI system): %s", p.Number, done))
		}
	}
	return out, nil
}

func installFallback(path string, p ptable.Partition, now time.Time) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := io.NewSectionReader(f, p.Start, p.Size)
	w := io.NewOffsetWriter(f, p.Start)
	v, err := fatfs.Open(r, p.Size)
	if err != nil {
		return "", nil // not a FAT Lifeboat reads: the boot check says so
	}
	v.Sync = f.Sync
	if _, err := v.Stat("/EFI/BOOT/BOOTX64.EFI"); err == nil {
		return "", nil
	}
	for _, src := range fallbackSources {
		for _, loader := range v.Glob(src.glob) {
			if strings.HasPrefix(strings.ToUpper(loader), "/EFI/BOOT/") {
				continue
			}
			data, err := v.ReadFile(loader, 64<<20)
			if err != nil || len(data) == 0 {
				continue
			}
			if err := v.Create(w, "/EFI/BOOT/BOOTX64.EFI", data, now); err != nil {
				return "", err
			}
			var with []string
			dir := loader[:strings.LastIndex(loader, "/")]
			for _, c := range src.companion {
				b, err := v.ReadFile(dir+"/"+c, 64<<20)
				if err != nil {
					continue
				}
				name := strings.ToUpper(c)
				if v, err = fatfs.Open(r, p.Size); err != nil {
					return "", err
				}
				v.Sync = f.Sync
				if err := v.Create(w, "/EFI/BOOT/"+name, b, now); err != nil && !errors.Is(err, fatfs.ErrExists) {
					return "", err
				}
				with = append(with, name)
			}
			if err := f.Sync(); err != nil {
				return "", err
			}
			msg := fmt.Sprintf("installed \\EFI\\BOOT\\BOOTX64.EFI, a copy of %s", winPath(loader))
			if len(with) > 0 {
				msg += fmt.Sprintf(", with %s next to it", strings.Join(with, ", "))
			}
			return msg + " (firmware without a boot entry for this disk starts it)", nil
		}
	}
	return "", nil
}
