// Package exfat reads the layout of exFAT volumes and changes their size
// in user space, for restores onto partitions of another size (no tool
// resizes exFAT, and the test machines' kernel has no exFAT driver).
//
// Parse reads the main boot region (boot sector, extended boot sectors,
// parameters and the checksum sector) and checks every field used; Chain,
// FATEntry and Bitmap follow cluster chains and find the allocation
// bitmap. Growing is planned by package layout while an image is restored
// (the new space is only FAT entries and bitmap bits). Shrink moves the
// clusters past the new end into free ones before it: FAT-chained files
// and directories have their moved clusters relinked; a contiguous
// (NoFatChain) file moves whole when a free run fits it, else becomes
// FAT-chained; the allocation bitmap and the up-case table, which drivers
// read as one run, move whole. Directory entry sets get their first
// clusters, flags and set checksums rewritten; the bitmap is cut to the
// new cluster count; the boot regions count the new size.
//
// Every field, cluster number and chain read from a volume is checked
// against the volume before it is used; a chain that loops or leaves the
// heap is an error.
package exfat
