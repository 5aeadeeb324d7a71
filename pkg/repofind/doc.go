// Package repofind finds Lifeboat repositories on the machine's attached
// disks on its own, so that the text UI can offer them without the user
// typing a path: any file system holding a repository, mounted read-only to
// look and read-write only to capture into.
//
// # What is looked at
//
// Scan takes the disks from inventory.Scan and looks at every partition of
// every disk, and at every whole disk that has no partitions (a file system
// made on the whole device, a dm or md device). It passes over, and lists
// with the reason in Result.Skipped:
//
//   - a device in active swap, or held by another device (an LVM physical
//     volume, a RAID member, a LUKS container: anything in holders/);
//   - a CD or DVD drive with no disc in it (inventory.Disk.NoMedium): it
//     is not opened, as every attempt makes the kernel log errors;
//   - a device smaller than 64 KiB (an MBR extended partition's container);
//   - a device whose node is missing from DevRoot or names another device
//     number;
//   - a device another program holds open exclusively (a restore in
//     progress, mkfs, a mount in another namespace);
//   - a device on which no file system the kernel knows mounts;
//   - a file system that holds no repository.
//
// A device that is already mounted (matched in mountinfo by device number,
// or by source for btrfs) is looked at where it is mounted, preferring a
// mount of the file system's root; it is never mounted a second time.
//
// Any other device is mounted read-only (MS_RDONLY, MS_NOSUID, MS_NODEV,
// MS_NOEXEC) under MountRoot, trying the types of /proc/filesystems that
// are not "nodev" in the kernel's order, as mount(8) does without -t. fuseblk
// is left out (it needs a daemon), and so are ext2 and ext3 when ext4 is
// there, as ext4 mounts them all.
//
// NTFS is mounted with the ntfs-3g program (Finder.NTFS3G, or ntfs-3g in
// the PATH) through FUSE, before any kernel driver: it is the maintained,
// field-proven implementation, and the one the rescue environment ships
// (Debian's 6.1 kernel builds no ntfs3). Found.FSType says "ntfs" for it,
// mountinfo "fuseblk". When the FUSE device is missing, a fuseblk mount
// that fails has the kernel load the fuse module first. Asked to mount
// read-write a volume Windows left hibernated (Fast Startup) or unsafe,
// ntfs-3g mounts it read-only instead; MakeWritable then fails with
// ErrNTFSUnsafe and ntfs-3g's words, and the volume stays mounted
// read-only. XFS and btrfs are tried
// even before their modules are loaded, as ext4, FAT and exFAT are: the
// kernel loads them on the first mount.
//
// # Never writing to a disk that is only looked at
//
// A read-only mount is not enough: ext4 replays its journal on a read-only
// mount, cleans up orphan inodes even when told "noload", and records its
// errors in the superblock; XFS and btrfs replay their logs. So before
// mounting, Scan opens the device exclusively (O_EXCL, which fails while
// anything else holds it) and marks the block device itself read-only with
// BLKROSET, and mounts with the option that skips log replay: "noload" for
// ext3 and ext4, "norecovery" for XFS, "rescue=nologreplay" for btrfs. With
// the device read-only the kernel refuses every write, whatever the file
// system would like to do. The flag is cleared again when the file system
// is unmounted, or by MakeWritable. A device that was read-only before
// (a write-protect switch, losetup -r, blockdev --setro) is left read-only.
//
// # Where repositories are looked for
//
// In each file system: its root, a top-level directory named lifeboat
// (also Lifeboat and LIFEBOAT), and every other top-level directory, one
// level down only: a directory holding lifeboat-repo.json is a repository.
// Symbolic links and directories on another file system (mounts below the
// mount point) are passed over, and when the root holds more than 512
// entries only the root and lifeboat are looked at. A repository whose
// lifeboat-repo.json is unreadable, malformed or larger than 1 MiB is still
// reported, with Found.Err set.
//
// File systems that hold no repository are unmounted right after looking;
// those that hold one stay mounted, read-only, until MakeWritable or Close.
//
// # Jobs' disks
//
// Scan holds the lock of the claims registry (package claim) while it
// looks, and reads the jobs' live claims first. A capture, restore or
// clone claims its disks before it checks them, waiting for a look under
// way to end, so that it never finds its disk mounted for a look, nor set
// read-only under its writes. While any claim is live Scan passes over the
// claimed disks and their partitions, and every loop, device-mapper and
// network block device: jobs make such devices over the disks they work on
// (to shrink a file system in place) and they hold the same data.
//
// # Room for a new repository
//
// A file system that holds no repository, of a kind Lifeboat writes to
// (ext2/3/4, FAT, exFAT, XFS, btrfs, and NTFS through ntfs-3g), is also
// reported in Result.Spaces, with its label (fsprobe), its size and free
// space (statfs while it is mounted read-only for the look) and, in
// Space.Unfit, why no repository may be made on it: the disk the running
// system booted from (ErrBootDisk), a read-only device (ErrReadOnlyDevice),
// a file system someone else mounted read-only, an NTFS volume that holds
// a hibernation file as ntfs-3g judges it (hiberfil.sys shorter than 4 KiB
// or starting with "hibr": ErrNTFSUnsafe), or less free space than
// Finder.MinFree, 1 GiB by default (ErrLowSpace). It is unmounted after
// the look all the same. CreateRepo makes an empty repository in a
// lifeboat directory at the root of a fit one, touching nothing else: it
// checks the device again (same device number, same file system and
// label, writable, held by nothing), mounts it read-write under MountRoot
// (ntfs-3g's refusal of a volume Windows left unsafe is ErrNTFSUnsafe),
// makes the repository with repo.Create, syncs the file system and
// returns the repository as a Found, mounted read-write until Close or
// UnmountAll; should the repository not be made, it is unmounted again.
// A file system someone else mounted read-write is written where it is.
//
// # Failing
//
// Scan fails only when the inventory, mountinfo, /proc/filesystems or the
// claims cannot be read, when MountRoot cannot be made, or when its context ends. A device
// that cannot be opened, made read-only or mounted is a Skipped entry (with
// Err when the cause is worth showing, such as EIO or EPERM), never an error
// of the whole scan. Each device is looked at in a goroutine while Scan
// waits for it or for the context, so a disk that hangs in the kernel
// cannot hold Scan beyond its context; whatever such a goroutine mounts
// after Scan has returned is unmounted by Close, or at once if Close has
// run.
//
// MakeWritable mounts a file system it mounted read-only again read-write
// (unmount, clear the device's read-only flag, mount without the no-replay
// options, so a journal is replayed before anything is written), and
// refuses a read-only device and a file system mounted read-only by someone
// else. Close unmounts what the Finder mounted (lazily when the file system
// is busy), clears the read-only flags it set, and removes its mount
// directories. UnmountAll, for a machine about to power off, unmounts
// everything under MountRoot, whichever Finder mounted it: sync(2) does
// not reach into ntfs-3g, while an unmount of a fuseblk file system waits
// for ntfs-3g to write out what it holds, mark the volume clean and close
// the device.
package repofind
