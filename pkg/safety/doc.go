// Package safety decides whether Lifeboat may read or write a disk, so
// that it never destroys the wrong thing.
//
// A restore target is refused when it is the disk the running system booted
// from, when it or any of its partitions is mounted, used as swap or held by
// device-mapper or RAID, when it is read-only, when it is a partition rather
// than a whole disk, and when the repository the image comes from lives on
// it. A capture is refused when its repository lives on the disk being
// captured, and (unless allowed) when the disk is mounted, because the
// image of a file system that is being written is not consistent. Disk
// images in regular files get the checks that apply to files: a target
// inside the repository is refused. A clone (CheckClone) gets the
// capture's checks on its source and the restore's on its target, and its
// target must not be its source: the same file or device by any name, a
// partition of the same disk, a loop device over the source's file (or
// the other way round), the disk the source's file lives on, or a file on
// the source disk.
//
// Every refusal wraps ErrRefused and says why in words a technician can act
// on. The checks read the running system through an inventory.Source; the
// kernel's exclusive open (see package disk) and a lock on the device node
// (see disk.Lock) guard what happens between the check and the write.
package safety
