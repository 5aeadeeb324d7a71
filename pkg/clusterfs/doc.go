// Package clusterfs is what Lifeboat's user-space readers of FAT (package
// fatfs) and exFAT (package exfat) share for their io/fs views: a file's
// or directory's description (Info), an open directory (Dir) and an open
// file read from its clusters (File): runs of clusters that follow each
// other on the volume are read at once, and bytes past the file's valid
// length (exFAT's valid data length) read as zeros. The readers find the
// entries and clusters; nothing here parses bytes from a volume.
package clusterfs
