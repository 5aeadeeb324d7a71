// Package inventory discovers the machine's disks from sysfs, as lsblk does,
// so that Lifeboat can show what it may image or restore and refuse to write
// a disk that is in use. It never prints, never exits and never reads the
// environment: everything comes from a Source, whose paths default to the
// running system (/sys, /proc/self/mountinfo, /proc/swaps, /dev) and can
// point at a fixture tree instead.
//
// # What is read
//
// Scan lists SysRoot/block. Each entry is a symbolic link into
// SysRoot/devices; it is resolved without leaving SysRoot (an absolute link
// is an error and ".." stops at SysRoot), and every file is opened through
// an os.Root on SysRoot, so a fixture tree or a hostile link can never make
// the package read outside it. Every read is bounded: 4 KiB for an
// attribute, 64 KiB for a VPD page, 64 MiB for a /proc table, 4096 entries
// for a directory, 40 links for one path, 16 levels of stacked devices.
//
// For a disk X, with D = SysRoot/block/X and D/device the device it is on:
//
//   - Major, Minor: D/dev. Size: D/size times 512, whatever the sector size
//     (the kernel always counts 512-byte units there).
//   - LogicalSectorSize, PhysicalSectorSize, Rotational: D/queue/
//     logical_block_size, physical_block_size, rotational. Removable: D/
//     removable. ReadOnly: D/ro.
//   - Model: D/device/model (the controller's for NVMe), or D/device/name for
//     an MMC/SD card. Vendor: D/device/vendor ("ATA" for ATA disks). A
//     vendor number there (virtio-blk gives its PCI vendor, "0x1af4") is
//     kept in VendorID and Vendor becomes its name from a small table of
//     storage and virtual-machine vendors ("Red Hat"), or "PCI vendor
//     0x1234" for a number the table does not know.
//   - Serial: D/device/serial (NVMe controller, MMC card), D/serial
//     (virtio-blk), the SCSI VPD page 0x80 in D/device/vpd_pg80 (ATA and SCSI
//     disks), and for USB disks the serial of the USB device, the first
//     ancestor of the resolved device directory that has idVendor.
//   - WWN: D/wwid or D/device/wwid ("eui."/"nvme." for NVMe, "naa."/"t10."
//     for SCSI), else an NAA designator of the logical unit in the SCSI VPD
//     page 0x83 (D/device/vpd_pg83).
//   - Transport: from the resolved path of D, tested in this order:
//     "/nvme" is nvme, "/usb" is usb, "/virtio" is virtio unless the path
//     also has "/host" and "/target" (virtio-scsi, which is scsi), an
//     "/mmc_host/" path or an mmcblk name is mmc, "/ata" is sata, "/host" is
//     scsi, "/virtual/block/loop" is loop, anything else under "/virtual/"
//     (dm, md, zram) is virtual, and the rest is "".
//   - BackingFile: D/loop/backing_file.
//   - Partitions: the subdirectories of D that have a partition file, with
//     their partition, start, size (512-byte units), ro and dev.
//   - Holders: the names in holders/ of D and of its partitions, followed
//     through the holders of those (and their partitions), so LVM on LUKS on
//     sda2 gives both dm devices.
//
// A CD or DVD drive (an sr device, or D/device/type 5) is the one device
// Scan opens: its node under DevRoot, with O_NONBLOCK, which the CD-ROM
// driver allows without a disc and without reading one, to ask the
// drive's status (CDROM_DRIVE_STATUS). No disc, an open tray or a drive not
// ready set NoMedium and a Size of 0 (the kernel's size for an empty drive
// is a guess). Reading such a drive, or opening it without O_NONBLOCK,
// makes the kernel log errors, so nothing in Lifeboat reads a NoMedium
// disk; a drive whose status cannot be asked counts as holding a disc.
//
// Scan leaves out RAM disks (ram*), loop devices with no backing file and
// devices whose size is zero (unless NoMedium). Stacked devices (dm-0, md127) are disks in
// their own right, with transport "virtual".
//
// # What is in use
//
// Mounts come from mountinfo and are matched to devices by the device
// number in its third field, never by the source name, which may be a stale
// or symbolic path. Only for a file system on an anonymous device number
// (major 0: btrfs, some FUSE file systems) is the source read instead, when
// it names devices under DevRoot, and for btrfs every device of the same
// file system is taken from SysRoot/fs/btrfs/FSID/devices. A mount counts
// for the disk when it is of the disk, one of its partitions or anything
// stacked on them. Swap comes from the swaps table: a "partition" entry is
// matched by its kernel name under DevRoot, or through dm/name for
// DevRoot/mapper/NAME; a swap file is left out, as the file system holding
// it is mounted and reported already.
//
// Boot is set for the disks under the last mountinfo line whose mount point
// is "/" (the device, its whole disk, and through slaves/ every disk beneath
// a dm or md device), unless "/" is a rootfs, tmpfs or ramfs as in an
// initramfs; for the disks of Source.BootDevices; and for those
// Source.BootMedia names when asked at each Scan (the rescue environment's
// boot medium, recognised by its disk GUID or MBR signature).
//
// InUse turns all of this into reasons a disk must not be written.
//
// # Lookup and DisksUnder
//
// Lookup and DisksUnder stat a path on the running system and find its
// device number in SysRoot/dev/block: Lookup takes st_rdev of a device node
// and returns its whole disk, DisksUnder takes st_dev of any file and
// returns every disk its file system lives on, through partitions, dm and
// md slaves, loop backing files and overlay upper directories. DisksUnder is
// what lets Lifeboat refuse to write an image onto the disk being captured.
//
// # Errors
//
// Errors name the file, as the source shows it: "read /sys/block/sda/size:
// no such file or directory", "parse /sys/block/sda/ro: ...", "read
// /proc/self/mountinfo: line 3: ...". They wrap the underlying error, so
// errors.Is(err, fs.ErrNotExist) and the like work. An optional file that
// is missing (serial, model, wwid, VPD pages, queue attributes, holders/,
// slaves/), or that the device refuses to read (ENXIO, ENODEV, EINVAL,
// EOPNOTSUPP, EIO: a CD drive's wwid, a failing disk's VPD page), is not
// an error; a required one (dev, size, a partition's start)
// is, and so is an unreadable or malformed value. A malformed VPD page is
// passed over as if missing, as USB bridges often return junk there.
package inventory
