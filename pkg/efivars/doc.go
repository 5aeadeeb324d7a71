// Package efivars reads and writes the UEFI firmware's boot entries
// through efivarfs: the Boot#### load options and BootOrder.
//
// A load option (EFI_LOAD_OPTION, UEFI 2.10 §3.1.3) holds attributes, a
// description and a device path list; Lifeboat reads and writes the
// short form firmware and efibootmgr use for disks: a hard-drive media
// node (partition number, start and size in sectors, and the partition's
// GPT GUID or the MBR disk signature) followed by a file path node (the
// loader, \EFI\debian\shimx64.efi) and the end node. Other nodes before
// them (a full path through PCI and NVMe nodes) are skipped when reading.
// ParseLoadOption and ParsePath take bytes from the firmware or an image
// and are fuzzed; every length is checked before it is used.
//
// Store works on an efivarfs mount (/sys/firmware/efi/efivars, mounted
// when the rescue environment has not yet). A variable's file is its
// 4-byte attributes and its data, written in one write; existing
// variables are immutable files (chattr +i) that Store makes writable for
// the write. Nothing here runs unless a caller asks: writing the NVRAM of
// the machine Lifeboat runs on is the restore's choice (package ops).
package efivars
