// Package fsprobe recognizes what a partition (or a whole disk without a
// partition table) holds: the file system or container type, its label,
// UUID and size, from the signatures in its first sectors.
//
// Probe reads a handful of fixed locations (the superblock or boot sector
// of each known format) through an io.ReaderAt and never writes. Types are
// named as blkid names them (ext4, xfs, btrfs, vfat, exfat, ntfs, swap,
// crypto_LUKS, BitLocker, LVM2_member, iso9660), so that what Lifeboat
// shows matches what a technician sees elsewhere, and UUIDs are formatted
// the same way. Formats are tried from the most specific signature to the
// least (FAT, whose boot sector has no real magic, comes last), and every
// candidate's geometry is checked before it is accepted, so a random
// sector is not mistaken for a file system.
//
// Every length and offset taken from the bytes is bounded before use: the
// input is untrusted. Probe returns an error only when reading fails; bytes
// that match no known format give an empty Info and no error.
package fsprobe
