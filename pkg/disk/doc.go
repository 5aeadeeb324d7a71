// Package disk opens the things Lifeboat reads and writes as disks: block
// devices, and regular or sparse files that stand in for them.
//
// A Disk is an io.ReaderAt and io.WriterAt with a size and a logical and
// physical sector size. For a block device the kernel reports all three
// (BLKGETSIZE64, BLKSSZGET, BLKPBSZGET) and a device opened for writing is
// opened exclusively (O_EXCL), so the kernel itself refuses a device that is
// mounted or claimed by device-mapper, md or another writer. For a file the
// size is the file's length and the sector sizes are 512 bytes unless the
// caller says otherwise.
//
// Zeroing a range prefers what the medium does best: BLKZEROOUT on a block
// device (which uses the device's write-zeroes or unmap support and falls back
// to writing zeros in the kernel), hole punching on a file, and plain zero
// writes only where neither works. A Disk created new by Open reads as zeros
// everywhere, which callers use to skip zeroing entirely.
//
// Errors name the device or file and the offset.
package disk
