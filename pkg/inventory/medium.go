package inventory

import (
	"strings"

	"golang.org/x/sys/unix"
)

// The CD-ROM driver's drive status request (linux/cdrom.h).
const (
	cdromDriveStatus = 0x5326     // CDROM_DRIVE_STATUS
	cdslCurrent      = 0x7fffffff // CDSL_CURRENT: the slot in use

	cdsNoInfo        = 0 // CDS_NO_INFO: the driver cannot tell
	cdsNoDisc        = 1
	cdsTrayOpen      = 2
	cdsDriveNotReady = 3
	cdsDiscOK        = 4
)

// scsiTypeROM is the SCSI peripheral device type of a CD or DVD drive, as
// D/device/type gives it.
const scsiTypeROM = "5"

// optical reports whether the disk at sysfs directory dir (block/NAME) is
// a CD or DVD drive: an sr device, or a SCSI device of type 5.
func (s *snapshot) optical(name, dir string) bool {
	if strings.HasPrefix(name, "sr") {
		return true
	}
	t, err := s.sys.str(dir + "/device/type")
	return err == nil && t == scsiTypeROM
}

// noMedium reports whether the optical drive at path holds no disc. It
// asks the drive's status (CDROM_DRIVE_STATUS) on a descriptor opened with
// O_NONBLOCK, which the CD-ROM driver opens without checking for a disc or
// reading one: a drive with nothing in it is never read, so the kernel logs
// no I/O errors for it however often the disks are listed. A drive whose
// status cannot be asked (no node, a driver without the request) counts as
// holding a medium; whoever reads it then gets ENOMEDIUM if it has none.
func noMedium(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), cdromDriveStatus, cdslCurrent)
	if errno != 0 {
		return false
	}
	return driveEmpty(int(r))
}

// driveEmpty interprets a CDROM_DRIVE_STATUS answer: no disc, the tray
// open and the drive not ready (still reading the table of contents of a
// disc just put in) mean nothing can be read now.
func driveEmpty(status int) bool {
	switch status {
	case cdsNoDisc, cdsTrayOpen, cdsDriveNotReady:
		return true
	}
	return false
}
