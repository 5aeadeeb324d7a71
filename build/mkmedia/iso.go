package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// isoInputs are the files of the ISO image besides the common ones.
type isoInputs struct {
	grubCD    string // Debian's signed GRUB for CDs (gcdx64.efi.signed)
	eltorito  string // GRUB for BIOS in i386-pc-eltorito form (cdboot.img, diskboot.img, core)
	hybridMBR string // GRUB's boot_hybrid.img
	diskID    uint32 // the MBR disk signature, named on the kernel command line
}

const (
	isoBlock     = 2048
	efiImageSize = 8 * mib
	// boot_hybrid.img reads the first sector of the El Torito image's core
	// (diskboot.img, after the 2048-byte cdboot.img) from this MBR field;
	// the core's block list starts at 2048+0x1f4 in the El Torito image.
	hybridKernelSector = 0x1b0
	diskSignature      = 0x1b8
)

// writeISO writes a hybrid ISO image: ISO 9660 (Rock Ridge) with the
// kernel, initramfs and GRUB's menu; an El Torito catalog with a BIOS entry
// (GRUB's eltorito.img) and a UEFI entry (a FAT image holding shim and
// GRUB); and an MBR in the system area, so that the same file written to a
// USB stick boots on BIOS (GRUB's boot_hybrid.img) and on UEFI (an EFI
// system partition entry pointing at the FAT image).
func writeISO(out string, in inputs, iso isoInputs) error {
	files, err := espFiles(in)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "lifeboat-iso")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The FAT image for UEFI: the shim at the removable-media path and
	// GRUB for CDs beside it, which finds the ISO by /.disk/info.
	efiImg := filepath.Join(work, "efiboot.img")
	ed, err := diskfs.Create(efiImg, efiImageSize, diskfs.SectorSizeDefault)
	if err != nil {
		return err
	}
	efs, err := ed.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeFat16, VolumeLabel: "LIFEBOATEFI"})
	if err != nil {
		return fmt.Errorf("make the UEFI boot image: %w", err)
	}
	if err := copyFiles(efs, map[string]string{"/EFI/BOOT/BOOTX64.EFI": in.shim, "/EFI/BOOT/grubx64.efi": iso.grubCD}); err != nil {
		return fmt.Errorf("UEFI boot image: %w", err)
	}
	if err := ed.Close(); err != nil {
		return err
	}
	if err := mendImage(efiImg); err != nil {
		return fmt.Errorf("UEFI boot image: %w", err)
	}
	info := filepath.Join(work, "info")
	if err := os.WriteFile(info, []byte("Lifeboat rescue environment\n"), 0o644); err != nil {
		return err
	}
	isoFiles := map[string]string{
		"/.disk/info":             info,
		"/boot/grub/grub.cfg":     in.grubCfg,
		"/boot/grub/eltorito.img": iso.eltorito,
		"/boot/efiboot.img":       efiImg,
	}
	for name, src := range files {
		if filepath.Dir(name) == "/lifeboat" {
			isoFiles[name] = src
		}
	}
	var size int64 = 4 * mib
	for _, src := range isoFiles {
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		size += (st.Size() + isoBlock - 1) / isoBlock * isoBlock
	}
	tmp := out + ".tmp"
	os.Remove(tmp)
	defer os.Remove(tmp)
	if err := os.Mkdir(filepath.Join(work, "tree"), 0o755); err != nil {
		return err
	}
	d, err := diskfs.Create(tmp, size, diskfs.SectorSize(isoBlock))
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	fsys, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660, VolumeLabel: "LIFEBOAT", WorkDir: filepath.Join(work, "tree")})
	if err != nil {
		return fmt.Errorf("make the ISO 9660 file system: %w", err)
	}
	if err := copyFiles(fsys, isoFiles); err != nil {
		return fmt.Errorf("ISO image: %w", err)
	}
	isofs, ok := fsys.(*iso9660.FileSystem)
	if !ok {
		return errors.New("go-diskfs made no ISO 9660 file system")
	}
	bios := &iso9660.ElToritoEntry{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation, BootFile: "/boot/grub/eltorito.img", BootTable: true}
	bios.SetLoadSize(4)
	uefi := &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: "/boot/efiboot.img"}
	if err := isofs.Finalize(iso9660.FinalizeOptions{
		RockRidge: true, VolumeIdentifier: "LIFEBOAT",
		ElTorito: &iso9660.ElTorito{BootCatalog: "/boot/boot.cat", Entries: []*iso9660.ElToritoEntry{bios, uefi}},
	}); err != nil {
		return fmt.Errorf("finish the ISO image: %w", err)
	}
	return finish(d, tmp, out, func(f *os.File) error { return makeHybrid(f, iso) })
}

// readBootCatalog finds the El Torito catalog through the boot record
// volume descriptor (block 17) and returns where each entry's image
// starts, in 2048-byte blocks, in the catalog's order.
func readBootCatalog(r io.ReaderAt) ([]uint32, error) {
	brvd := make([]byte, isoBlock)
	if _, err := r.ReadAt(brvd, 17*isoBlock); err != nil {
		return nil, err
	}
	if brvd[0] != 0 || string(brvd[1:6]) != "CD001" || string(brvd[7:30]) != "EL TORITO SPECIFICATION" {
		return nil, errors.New("no El Torito boot record at block 17")
	}
	cat := make([]byte, isoBlock)
	if _, err := r.ReadAt(cat, int64(binary.LittleEndian.Uint32(brvd[0x47:]))*isoBlock); err != nil {
		return nil, err
	}
	if cat[0] != 1 || cat[0x1e] != 0x55 || cat[0x1f] != 0xaa {
		return nil, errors.New("the El Torito catalog has no validation entry")
	}
	var out []uint32
	for off := 32; off+32 <= len(cat); off += 32 {
		if e := cat[off : off+32]; e[0] == 0x88 { // a bootable entry; 0x90 and 0x91 head sections
			out = append(out, binary.LittleEndian.Uint32(e[8:]))
		}
	}
	return out, nil
}

// makeHybrid writes the MBR into the ISO's system area: GRUB's
// boot_hybrid.img pointed at the BIOS El Torito image's core, partition 1
// covering the whole image (type 0, bootable, as Debian's hybrid images
// have it) and partition 2 the UEFI FAT image (type 0xEF).
func makeHybrid(f *os.File, iso isoInputs) error {
	code, err := os.ReadFile(iso.hybridMBR)
	if err != nil {
		return err
	}
	if len(code) != sector {
		return fmt.Errorf("%s: %d bytes, want %d", iso.hybridMBR, len(code), sector)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	efiBlocks := uint32(efiImageSize / isoBlock)
	entries, err := readBootCatalog(f)
	if err != nil {
		return err
	}
	if len(entries) != 2 {
		return fmt.Errorf("the El Torito catalog has %d boot entries, want 2", len(entries))
	}
	biosLBA, efiLBA := entries[0], entries[1]
	// The BIOS image's core: diskboot.img is the 512-byte sector after
	// cdboot.img; its block list (whose length grub-mkimage wrote) must
	// start at the sector after it.
	core := uint64(biosLBA)*4 + 4
	start := make([]byte, 8)
	binary.LittleEndian.PutUint64(start, core+1)
	if _, err := f.WriteAt(start, int64(biosLBA)*isoBlock+isoBlock+blocklist); err != nil {
		return err
	}
	mbr := make([]byte, sector)
	copy(mbr, code[:hybridKernelSector])
	binary.LittleEndian.PutUint64(mbr[hybridKernelSector:], core)
	binary.LittleEndian.PutUint32(mbr[diskSignature:], iso.diskID)
	total := uint32(st.Size() / sector)
	part := func(i int, boot, typ byte, start, count uint32) {
		e := mbr[0x1be+16*i : 0x1be+16*(i+1)]
		e[0] = boot
		copy(e[1:4], []byte{0xfe, 0xff, 0xff}) // CHS: beyond 8 GiB, use the LBA
		e[4] = typ
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], count)
	}
	part(0, 0x80, 0x00, 0, total)
	part(1, 0x00, 0xef, efiLBA*4, efiBlocks*4)
	mbr[510], mbr[511] = 0x55, 0xaa
	_, err = f.WriteAt(mbr, 0)
	return err
}

// mendImage mends the FAT volume that fills the file img (see mendFAT).
func mendImage(img string) error {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := mendFAT(f, 0, st.Size()); err != nil {
		return err
	}
	return f.Sync()
}
