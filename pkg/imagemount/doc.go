// Package imagemount opens an image for browsing: its file systems appear
// read-only in a directory, and files are listed and copied out, without
// restoring the disk and paying only for the bytes read.
//
// Reader is the image as an io.ReaderAt. Extents (4 MiB by default) are
// decoded and checked one at a time, on demand, into a cache of decoded
// extents (DefaultCacheBytes, 256 MiB) evicted least recently used first;
// a reader that asks for the extent after the one it read last has the
// next four decoded ahead, by at most two goroutines. Concurrent readers of
// one extent share its decoding. A chunk that is missing or fails its hash
// fails only the reads that touch it, each time (failures are not
// cached), with an error naming the chunk and its disk offset; OnError
// sees it. Memory: the cache, plus one extent per concurrent reader and
// per read-ahead goroutine (MaxMemory).
//
// Mount serves the image through FUSE (go-fuse, mounted with mount(2)
// directly, so no fusermount is needed) at a directory that holds the
// whole disk as disk.img (root only: it holds every byte of the disk) and
// an empty directory per partition, named by number, label and type
// ("2-Windows-ntfs"). Each partition is then mounted on its directory
// through a read-only loop device at its offset in disk.img: by the
// kernel for ext2/3/4 (noload: the journal is not replayed), XFS
// (norecovery), btrfs (rescue=nologreplay), FAT and exFAT; by ntfs-3g
// (read-only) for NTFS. Where the kernel has no FAT driver, Lifeboat's
// own FAT reader (package fatfs) is served through a second FUSE mount;
// where it has no exFAT driver, exfat-fuse mounts the loop device, or,
// without exfat-fuse, Lifeboat's exFAT reader (package exfat) is served. So
// nothing is ever written, file systems captured in an unclean state
// mount all the same, and images that hold only the used blocks mount
// like any other (the unused blocks read as zeros, and no file system
// reads them). The loop devices clear themselves when their file system
// is unmounted. A partition that cannot be mounted is left empty with
// the reason in Part.Err.
//
// Each mount writes a note (JSON) in DefaultStateDir with its directory,
// process and start time. Mounted.Unmount unmounts the partitions, then
// the disk; UnmountDir, from another process, asks a live mount process
// to unmount (SIGTERM) and then removes whatever is left of a mount whose
// process is gone: every mount under the directory (detached lazily when
// busy), loop devices over its disk.img, the note.
//
// Browse gives each partition as an io/fs file system, through a private
// Mount when the process may mount (root with /dev/fuse), otherwise FAT
// and exFAT through Lifeboat's readers alone (ErrNoMount for the rest). Copy copies
// files and trees out of one: contents through a temporary name renamed
// when whole, permissions, times, symbolic links, owners where the
// destination allows; it checks free space and that nothing is in the way
// before writing anything, never overwrites, and leaves out (and lists)
// files that cannot be read, removing their partial copies.
package imagemount
