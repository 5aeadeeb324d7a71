// Package fsmap reads a file system's own allocation map and returns the
// byte ranges it uses, so that a capture reads and stores only those.
//
// Read takes the partition's bytes (an io.ReaderAt over the partition) and
// the type fsprobe found. It knows:
//
//   - ext2/3/4: the block bitmap of every initialised block group, and for
//     groups whose bitmap is not initialised (BLOCK_UNINIT) the metadata
//     the kernel would mark there; the superblock backups, group
//     descriptors (meta_bg or not), reserved GDT blocks, bitmaps and inode
//     tables of every group are added whatever the bitmaps say, so flex_bg,
//     sparse_super2, bigalloc clusters and 64-bit descriptors all come out
//     right. Bitmap checksums are checked when the file system has them.
//   - FAT12/16/32: the reserved sectors, FATs and FAT12/16 root directory,
//     and every cluster whose first-FAT entry is not free.
//   - exFAT: everything before the cluster heap and every cluster marked in
//     the allocation bitmap (found through the root directory).
//   - NTFS: every cluster marked in $Bitmap, and the backup boot sector at
//     the end of the volume.
//   - swap: its header page.
//
// Every length and position read from the disk is checked against the
// partition's size before it is used; a map that contradicts itself is an
// error (ErrCorrupt), never a short list. The caller falls back to every
// sector for that partition.
//
// Read also reports a file system that is not in a clean state (an ext4
// journal that needs recovery, a dirty or hibernated NTFS, a dirty FAT or
// exFAT, a swap area holding a hibernation image). Its on-disk allocation
// map may not cover what the pending changes use, so callers capture every
// sector of it.
//
// Formats without a map here (XFS, btrfs, LVM, LUKS, BitLocker, unknown)
// return ErrUnsupported.
//
// # Space in use
//
// Used says how many bytes a file system has in use (its size less what
// it counts free) for a listing, cheaply: the free counts in the ext, XFS
// and btrfs superblocks and in FAT32's FSInfo sector, else the free
// entries of a FAT or the bits of an exFAT or NTFS bitmap, read a megabyte
// at a time and only when the map is at most 32 MiB (an NTFS volume of
// 1 TiB in 4 KiB clusters). Larger maps and other formats give
// ErrUnsupported.
package fsmap
