// Package fsresize grows the file system in a partition that a restore
// made larger, with each file system's own tool where one exists:
// resize2fs for ext2/3/4 (after `e2fsck -f -p`, as resize2fs asks, and
// checked with `e2fsck -f -n` after), ntfsresize for NTFS (which also
// schedules Windows' chkdsk, as it always does), and Lifeboat's own
// header rewrite for Linux swap (the size is one field; the UUID and label
// stay). XFS grows only while mounted, so it is mounted on a temporary
// directory when the kernel can, and grown there with xfs_growfs (XFS
// refuses to mount a second file system with a mounted one's UUID). btrfs
// grows mounted too (btrfs filesystem resize max, mounted with device= the
// copy), and only when no other block device holds a btrfs with its UUID:
// the kernel finds btrfs devices by UUID, and mounting a copy while its
// source is attached could reach the source.
//
// Shrink shrinks ext2/3/4 (resize2fs, once resize2fs -P agrees the size
// is possible) and NTFS (ntfsresize, once its --info agrees) on a device
// that holds the whole old file system. For the fit layout that device
// is a device-mapper join (Concat) of the new, smaller partition and a
// scratch file holding what lay past its end, so the tools move every
// block into the partition. Concat speaks the device-mapper ioctls itself
// and loads dm_mod when the kernel has it as a module.
//
// ExtMinimum answers how small an ext file system in an image can be
// made, by giving resize2fs -P a sparse file with only its superblock and
// group descriptors (all resize2fs reads for that), so plans use the
// same number the shrink will.
//
// Growable says ahead, without touching a disk, whether and how a file
// system type can grow; plans show its answer. Grow works on a block
// device that holds exactly the partition (a loop device over the
// target's range, see Loop) and returns what it did in a sentence. It
// fails with the tool's own message; a file system whose grow failed is
// left as the tool left it, and the caller reports it.
package fsresize
