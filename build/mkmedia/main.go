package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const (
	sector = 512
	mib    = 1 << 20
)

// inputs are the files the media are made of.
type inputs struct {
	kernel, initrd string // Debian's signed kernel, the initramfs
	shim, grubEFI  string // Debian's signed shim and GRUB for x86-64 UEFI
	biosBoot       string // GRUB's boot.img (the MBR code)
	biosCore       string // GRUB's core.img for i386-pc, made by grub-mkimage
	grubCfg        string // the menu, shared by UEFI and BIOS GRUB
	extra          string // a directory of extra files for the ESP's /lifeboat
	diskGUID       string // the stick's GPT disk GUID, named on the kernel command line
}

func main() {
	var in inputs
	var usb, isoOut string
	var iso isoInputs
	flag.StringVar(&isoOut, "iso", "", "write the hybrid ISO image here")
	flag.StringVar(&iso.grubCD, "grub-cd", "", "gcdx64.efi.signed, for the ISO")
	flag.StringVar(&iso.eltorito, "bios-eltorito", "", "GRUB for BIOS in i386-pc-eltorito form, for the ISO")
	flag.StringVar(&iso.hybridMBR, "bios-hybrid", "", "GRUB's boot_hybrid.img, for the ISO")
	var diskID uint
	flag.UintVar(&diskID, "disk-id", 0, "the ISO's MBR disk signature")
	var usbSize, espSize int64
	flag.StringVar(&in.kernel, "kernel", "", "kernel (vmlinuz)")
	flag.StringVar(&in.initrd, "initrd", "", "initramfs")
	flag.StringVar(&in.shim, "shim", "", "shimx64.efi.signed")
	flag.StringVar(&in.grubEFI, "grub-efi", "", "grubx64.efi.signed")
	flag.StringVar(&in.biosBoot, "bios-boot", "", "GRUB boot.img for i386-pc")
	flag.StringVar(&in.biosCore, "bios-core", "", "GRUB core.img for i386-pc")
	flag.StringVar(&in.grubCfg, "grub-cfg", "", "grub.cfg")
	flag.StringVar(&in.diskGUID, "disk-guid", "", "GPT disk GUID of the USB stick image")
	flag.StringVar(&in.extra, "extra", "", "directory of extra files for /lifeboat on the ESP")
	flag.StringVar(&usb, "usb", "", "write the USB stick image here")
	flag.Int64Var(&usbSize, "usb-size", 128, "size of the USB stick image in MiB")
	flag.Int64Var(&espSize, "esp-size", 48, "size of the EFI system partition in MiB")
	var biosDisk string
	var coreLBA uint64
	flag.StringVar(&biosDisk, "bios-install", "", "install GRUB for BIOS (-bios-boot, -bios-core) on this disk image and exit")
	flag.Uint64Var(&coreLBA, "core-lba", 1, "with -bios-install: the sector core.img goes to (1: the gap after an MBR)")
	flag.Parse()
	if biosDisk != "" {
		if err := installBIOSFile(biosDisk, in.biosBoot, in.biosCore, coreLBA); err != nil {
			fmt.Fprintln(os.Stderr, "mkmedia:", err)
			os.Exit(1)
		}
		return
	}
	iso.diskID = uint32(diskID)
	if isoOut != "" {
		if err := writeISO(isoOut, in, iso); err != nil {
			fmt.Fprintln(os.Stderr, "mkmedia:", err)
			os.Exit(1)
		}
	}
	if usb == "" && isoOut != "" {
		return
	}
	if usb == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkmedia -usb OUT -kernel F -initrd F -shim F -grub-efi F -bios-boot F -bios-core F -grub-cfg F -disk-guid GUID [-extra DIR]")
		os.Exit(2)
	}
	if err := writeUSB(usb, usbSize*mib, espSize*mib, in); err != nil {
		fmt.Fprintln(os.Stderr, "mkmedia:", err)
		os.Exit(1)
	}
}

// espFiles maps each file of the EFI system partition to its source. The
// removable-media path \EFI\BOOT\BOOTX64.EFI is the shim; the shim loads
// grubx64.efi from its own directory; Debian's signed GRUB reads its menu
// from \EFI\debian\grub.cfg (its built-in prefix), and so does GRUB for
// BIOS (its prefix is set by grub-mkimage).
func espFiles(in inputs) (map[string]string, error) {
	files := map[string]string{
		"/EFI/BOOT/BOOTX64.EFI":   in.shim,
		"/EFI/BOOT/grubx64.efi":   in.grubEFI,
		"/EFI/debian/grub.cfg":    in.grubCfg,
		"/lifeboat/vmlinuz":       in.kernel,
		"/lifeboat/initramfs.lz4": in.initrd,
	}
	for name, src := range files {
		if src == "" {
			return nil, fmt.Errorf("no input for %s", name)
		}
	}
	if in.extra != "" {
		ents, err := os.ReadDir(in.extra)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files["/lifeboat/"+e.Name()] = filepath.Join(in.extra, e.Name())
			}
		}
	}
	return files, nil
}

// writeUSB writes the USB stick image: a GPT with
//
//  1. the EFI system partition (FAT32, label LIFEBOATEFI): shim, GRUB, the
//     kernel and the initramfs;
//  2. a BIOS boot partition holding GRUB's core.img, loaded by GRUB's
//     boot.img in the protective MBR;
//  3. a data partition (FAT32, label LIFEBOAT) with an empty repository in
//     /lifeboat, which the text UI finds on its own.
func writeUSB(out string, size, espSize int64, in inputs) error {
	files, err := espFiles(in)
	if err != nil {
		return err
	}
	bootImg, err := os.ReadFile(in.biosBoot)
	if err != nil {
		return err
	}
	coreImg, err := os.ReadFile(in.biosCore)
	if err != nil {
		return err
	}
	const biosSize = 1 * mib
	if len(coreImg) > biosSize || len(coreImg) < 2*sector || len(bootImg) != sector {
		return fmt.Errorf("GRUB images of unexpected size: boot.img %d bytes, core.img %d bytes", len(bootImg), len(coreImg))
	}
	tmp := out + ".tmp"
	os.Remove(tmp)
	d, err := diskfs.Create(tmp, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	total := uint64(size / sector)
	espStart := uint64(mib / sector)
	espEnd := espStart + uint64(espSize/sector) - 1
	biosStart := espEnd + 1
	biosEnd := biosStart + biosSize/sector - 1
	dataStart := biosEnd + 1
	dataEnd := total - 34 // the backup GPT array and header take the last 33 sectors
	if dataEnd <= dataStart+uint64(34*mib/sector) {
		return fmt.Errorf("a %d MiB image leaves too little room for the data partition", size/mib)
	}
	part := func(i int, start, end uint64, t gpt.Type, name string) *gpt.Partition {
		return &gpt.Partition{Index: i, Start: start, End: end, Size: (end - start + 1) * sector, Type: t, Name: name}
	}
	table := &gpt.Table{
		GUID:              in.diskGUID,
		LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{
			part(1, espStart, espEnd, gpt.EFISystemPartition, "EFI system partition"),
			part(2, biosStart, biosEnd, gpt.BIOSBoot, "BIOS boot partition"),
			part(3, dataStart, dataEnd, gpt.MicrosoftBasicData, "Lifeboat data"),
		},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("partition %s: %w", tmp, err)
	}
	esp, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: "LIFEBOATEFI"})
	if err != nil {
		return fmt.Errorf("make the EFI system partition: %w", err)
	}
	if err := copyFiles(esp, files); err != nil {
		return fmt.Errorf("EFI system partition: %w", err)
	}
	data, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 3, FSType: filesystem.TypeFat32, VolumeLabel: "LIFEBOAT"})
	if err != nil {
		return fmt.Errorf("make the data partition: %w", err)
	}
	repoDir, err := os.MkdirTemp("", "lifeboat-repo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(repoDir)
	if _, err := repo.Create(filepath.Join(repoDir, "lifeboat")); err != nil {
		return err
	}
	repoFiles, err := treeFiles(repoDir, "/")
	if err != nil {
		return err
	}
	if err := copyFiles(data, repoFiles); err != nil {
		return fmt.Errorf("data partition: %w", err)
	}
	return finish(d, tmp, out, func(f *os.File) error {
		for _, p := range table.Partitions {
			if p.Index == 2 {
				continue
			}
			if err := mendFAT(f, int64(p.Start)*sector, int64(p.Size)); err != nil {
				return fmt.Errorf("partition %d: %w", p.Index, err)
			}
		}
		return installBIOS(f, bootImg, coreImg, biosStart)
	})
}

// mendFAT corrects in the FAT volume at off what go-diskfs writes wrong and
// fsck.fat reports: a cluster taken but held by nothing, and on FAT32 the
// ".." entries of directories in the root and FSInfo's free count.
func mendFAT(f *os.File, off, size int64) error {
	v, err := fatfs.Open(io.NewSectionReader(f, off, size), size)
	if err != nil {
		return err
	}
	_, err = v.Mend(io.NewOffsetWriter(f, off))
	return err
}

// finish closes the image go-diskfs wrote at tmp, lets patch write what
// go-diskfs does not (boot code), and moves the image to out once it is
// on disk.
func finish(d *disk.Disk, tmp, out string, patch func(*os.File) error) error {
	if err := d.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := patch(f); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// treeFiles lists the regular files under dir as target paths under at.
// Empty directories are listed with an empty source.
func treeFiles(dir, at string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil // at itself
		}
		target := path.Join(at, filepath.ToSlash(rel))
		switch {
		case e.IsDir():
			files[target+"/"] = ""
		case e.Type().IsRegular():
			files[target] = p
		}
		return nil
	})
	return files, err
}

// copyFiles writes files (target path to source path; a target ending in
// "/" is a directory) into fsys, making directories as needed.
func copyFiles(fsys filesystem.FileSystem, files map[string]string) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{"/": true}
	mkdir := func(dir string) error {
		if made[dir] {
			return nil
		}
		made[dir] = true
		if err := fsys.Mkdir(dir); err != nil {
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
		return nil
	}
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			if err := mkdir(strings.TrimSuffix(name, "/")); err != nil {
				return err
			}
			continue
		}
		if err := mkdir(path.Dir(name)); err != nil {
			return err
		}
		if err := copyFile(fsys, name, files[name]); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(fsys filesystem.FileSystem, name, src string) error {
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return w.Close()
}

// installBIOSFile installs GRUB for BIOS on an existing disk image whose
// first partition starts after coreLBA plus core.img's sectors.
func installBIOSFile(diskPath, bootPath, corePath string, coreLBA uint64) error {
	bootImg, err := os.ReadFile(bootPath)
	if err != nil {
		return err
	}
	coreImg, err := os.ReadFile(corePath)
	if err != nil {
		return err
	}
	if len(bootImg) != sector || len(coreImg) < 2*sector {
		return fmt.Errorf("GRUB images of unexpected size: boot.img %d bytes, core.img %d bytes", len(bootImg), len(coreImg))
	}
	f, err := os.OpenFile(diskPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := installBIOS(f, bootImg, coreImg, coreLBA); err != nil {
		return fmt.Errorf("%s: %w", diskPath, err)
	}
	return f.Sync()
}

// GRUB's i386-pc boot sector layout (grub-core/boot/i386/pc/boot.S and
// diskboot.S): boot.img reads one sector, the first of core.img, from the
// LBA at kernelSector; that sector (diskboot.img) reads the rest from the
// block list at its end.
const (
	bpbStart      = 0x03  // the BIOS parameter block, kept from the disk
	bpbEnd        = 0x5a  //
	kernelSector  = 0x5c  // uint64: LBA of core.img's first sector
	mbrCodeEnd    = 0x1b8 // the disk signature and partition table follow
	blocklist     = 0x1f4 // in diskboot.img: uint64 start, uint16 length, uint16 segment
	kernelSegment = 0x820 // where the rest of core.img is loaded (0x8200)
)

// installBIOS does what grub-bios-setup does for a GPT disk with a BIOS boot
// partition: boot.img's code goes into the MBR (keeping the partition table
// and disk signature), pointed at core.img, which is written at coreLBA
// with its block list naming the sectors that follow.
func installBIOS(f *os.File, bootImg, coreImg []byte, coreLBA uint64) error {
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("read the MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return errors.New("the protective MBR has no boot signature")
	}
	code := append([]byte(nil), bootImg[:mbrCodeEnd]...)
	copy(code[bpbStart:bpbEnd], mbr[bpbStart:bpbEnd])
	binary.LittleEndian.PutUint64(code[kernelSector:], coreLBA)
	copy(mbr, code)
	core := make([]byte, (len(coreImg)+sector-1)/sector*sector)
	copy(core, coreImg)
	n := len(core)/sector - 1
	binary.LittleEndian.PutUint64(core[blocklist:], coreLBA+1)
	binary.LittleEndian.PutUint16(core[blocklist+8:], uint16(n))
	binary.LittleEndian.PutUint16(core[blocklist+10:], kernelSegment)
	// The entry before is the list's terminator.
	clear(core[blocklist-12 : blocklist])
	if _, err := f.WriteAt(core, int64(coreLBA)*sector); err != nil {
		return fmt.Errorf("write core.img at sector %d: %w", coreLBA, err)
	}
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("write the MBR: %w", err)
	}
	return nil
}
