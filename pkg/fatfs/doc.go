// Package fatfs reads FAT12, FAT16 and FAT32 volumes in user space, from
// any io.ReaderAt: the boot sector's geometry (Parse), directories with
// their long names, files, and rewriting a file's bytes in place when its
// size stays the same, and creating files (and the directories on their
// way) with 8.3 names. Its Parse is the one reader of FAT boot sectors
// for capture's allocation maps (package fsmap) and restore's layouts.
// Lifeboat uses the rest where the kernel may have no FAT
// driver (a host without vfat) or where mounting would be too much: to
// look for boot loaders on an EFI system partition after a restore, to
// install the fallback loader \EFI\BOOT\BOOTX64.EFI, and to rewrite
// identifiers in the configuration files a new identity changes.
//
// Create reads the first FAT whole, takes the first free clusters, adds
// the entry in the directory's first free slot (growing a directory by a
// cluster when it is full; a FAT12/16 root cannot grow), then writes the
// FAT to every copy, then the new entries in directories that existed,
// then lowers FAT32's FSInfo free count. Data and new directories are
// written before the FATs and the entries naming them after, so an
// interrupted Create leaves at worst clusters that fsck reports as lost,
// never an entry pointing at clusters the FAT calls free.
//
// Shrink makes a volume smaller for the fit layout of a restore: the
// clusters past the new end move into free clusters before it (the data
// copied first), every FAT link and directory entry naming one of them
// ("." and ".." included, and FAT32's root cluster) follows, then the
// FATs, entries, boot sector, its backup and FSInfo are written. The
// FATs keep their size, so the data area stays put, and a volume that
// would drop under its type's cluster minimum is refused. MinSize says
// how small that can be.
//
// The type is decided as Linux decides it: a boot sector without a 16-bit
// FAT size is FAT32, otherwise fewer than 4085 clusters is FAT12. Every
// field, cluster number and chain is checked against the volume before it
// is used; a chain that loops, leaves the volume or is shorter than its
// file's size is an error naming the file, and a directory is read to at
// most 64 Ki entries. Nothing is cached: a volume is read as it is.
package fatfs
