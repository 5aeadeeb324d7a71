// Package layout plans how an image lands on a target disk that is not
// the one it was captured from: larger, smaller, or laid out anew. A plan
// is computed and shown before anything is written (`lifeboat restore
// --plan`), and a restore carries it out exactly.
//
// The layouts, tried in this order when none is named:
//
//   - keep: every partition at its offset, the partition table copied
//     byte for byte (a GPT's backup moved to the target's end,
//     ptable.RelocateGPT). Works on any target the partitions fit on,
//     smaller ones included; image data after the last partition that
//     does not fit is left behind, and the plan says so.
//   - grow: the last partition (or a chosen one) grows to the end of the
//     disk; partitions after a chosen one move to the end, keeping their
//     sizes and gaps.
//   - scale: every partition's start and end scale in proportion to the
//     larger disk, the first partition's start kept, starts aligned to
//     1 MiB, neighbours kept touching, no partition smaller than it was.
//   - fit: onto a disk the partitions do not fit on (or keep's plan when
//     they fit). Partitions are packed from the first one's start, 1 MiB
//     aligned; those whose file systems can shrink (ext2/3/4, NTFS, FAT,
//     exFAT, swap) give up the same share of the room between their size and
//     their minimum (for ext, resize2fs -P asked of the image's
//     superblock and descriptors; NTFS's used clusters and a margin;
//     fatfs.MinSize, exfat.MinSize), the others keep their size. When even the minimums
//     do not fit, a TooSmallError (Shrunk) says how many bytes are
//     missing. A shrunk file system is restored at its old size: the part
//     that fits goes to its partition, the rest to a spill store (Spill,
//     a scratch file the restore makes), and it is shrunk after the data
//     is written (engine.ShrinkFileSystems).
//
// Grow, scale and fit write a new partition table (ptable.Write: GPT through
// go-diskfs with the disk GUID, partition numbers, GUIDs, type GUIDs,
// names and attributes kept; MBR with its boot flags, and a new chain of
// extended boot records, each logical partition keeping its distance to
// its record). A plan is a list of segments (image byte range → target
// offset), patches written after the data (the table, boot-sector fields),
// and ranges to zero before it.
//
// File systems in larger partitions: FAT12/16/32 grows while it is
// restored (its FATs get longer and the data area follows them unchanged,
// so no cluster number or directory changes; the boot sector, its FAT32
// backup and FSInfo are patched), up to its type's cluster limit. ext2/3/4,
// NTFS, swap, XFS and btrfs are grown after the restore with their own
// tools (package fsresize; btrfs where it can be mounted safely). exFAT grows while it is
// restored (exfat.go): its FAT lengthened (the cluster heap moves after it
// when the FAT outgrows the room before the heap, every cluster keeping
// its number), its allocation bitmap lengthened in place or moved whole to
// the first new clusters (drivers read it as one run), its boot regions
// and their checksums rewritten. A FAT or NTFS volume that moves gets its
// boot sector's hidden-sectors field (its partition's start, which
// Windows' boot code reads) set to the new start; an exFAT volume its
// PartitionOffset.
//
// Every boot-sector field read from the image is bounded against its
// partition before use; a boot sector that does not check out leaves that
// partition copied as it is, with the reason in the plan.
package layout
