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
// Writing (Table.Write) returns the sectors of a new table for a disk of a
// given size, in the table's own sector size: a GPT through go-diskfs's
// writer (128 entries, both headers and arrays, the disk GUID, partition
// numbers, GUIDs, type GUIDs, names and attributes as given; the
// protective MBR entry written as the UEFI specification asks, which
// go-diskfs gets wrong on disks over 2 TiB), or an MBR's four entries
// through go-diskfs plus a chain of extended boot records, written here
// (go-diskfs reads and writes only primary entries), each at its logical
// partition's EBR offset. Partitions outside the usable area, overlapping
// or not on whole sectors are refused, naming the partition.
//
// Every length and LBA read from disk is bounded before use; a table that
// does not check out is reported as an error naming the structure and its
// LBA, never as a panic.
package ptable
