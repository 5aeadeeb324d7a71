package disk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlRange issues an ioctl whose argument is a {start, length} pair of
// uint64, as BLKDISCARD and BLKZEROOUT take.
func ioctlRange(fd int, req uint, r *[2]uint64) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(r)))
	if e != 0 {
		return e
	}
	return nil
}
