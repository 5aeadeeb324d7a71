// Package ptable reads partition tables (GPT and MBR) and computes the
// changes a partition table needs when a disk image lands on a disk of
// another size. It is the one place in Lifeboat that talks to go-diskfs, so
// that library's quirks are handled here.
//
// Reading: the GPT is tried first (primary header at LBA 1; when its header
// or entry array fails its CRC, the backup at the last LBA is used and a
// warning says so), then the MBR (primary entries through go-diskfs, and the
// chain of extended boot records for logical partitions, which go-diskfs does
// not read). The result describes every partition (start, size, type, GUID,
// name, attributes) and lists the boot areas: the MBR sector with its boot
// code and disk signature, the GPT headers and entry arrays, and the gap
// between the tables and the first partition where boot loaders live.
//
// Relocating (RelocateGPT) does what `sgdisk -e` does for a disk that grew:
// the backup entry array and header move to the disk's last sectors, the
// primary header's alternate-LBA and last-usable-LBA fields follow, and the
// protective MBR entry is resized; both header CRCs are recomputed. It
// works on the raw bytes rather than through go-diskfs's table writer,
// because that writer re-serialises every entry (and assumes 128-byte
// entries), while a restore must keep the table byte for byte.
//
// Every length and LBA read from disk is bounded before use; a table that
// does not check out is reported as an error naming the structure and its
// LBA, never as a panic.
package ptable
