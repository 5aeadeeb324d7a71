package fsresize

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// LoopDev is a loop device over a byte range of a disk or file.
type LoopDev struct {
	Path string
	f    *os.File
}

// Loop attaches a loop device over size bytes of path from off. The device
// goes away when it is closed (and nothing else holds it).
func Loop(path string, off, size int64) (*LoopDev, error) {
	return attachLoop(path, off, size, false)
}

// LoopReadOnly is Loop for reading: the device is read-only and path is
// opened only for reading.
func LoopReadOnly(path string, off, size int64) (*LoopDev, error) {
	return attachLoop(path, off, size, true)
}

func attachLoop(path string, off, size int64, readOnly bool) (*LoopDev, error) {
	mode := os.O_RDWR
	if readOnly {
		mode = os.O_RDONLY
	}
	back, err := os.OpenFile(path, mode, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s for a loop device: %w", path, err)
	}
	defer back.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices: %w", err)
	}
	defer ctl.Close()
	var lastErr error
	for try := 0; try < 10; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		f, err := openWait(dev, mode)
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
		cfg.Info.Offset = uint64(off)
		cfg.Info.Sizelimit = uint64(size)
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		if readOnly {
			// Direct I/O: reads go to the file in the sizes the file
			// system asks for, not through the file's page cache in
			// small pieces (a file served through FUSE reads several
			// times faster so); the kernel falls back to buffered
			// reads where the file cannot do direct I/O.
			cfg.Info.Flags |= unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_DIRECT_IO
		}
		if err := unix.IoctlLoopConfigure(int(f.Fd()), &cfg); err != nil {
			f.Close()
			lastErr = err
			if err == unix.EBUSY {
				continue // taken by someone else meanwhile
			}
			return nil, fmt.Errorf("attach %s to %s at byte %d: %w", dev, path, off, err)
		}
		return &LoopDev{Path: dev, f: f}, nil
	}
	return nil, fmt.Errorf("attach a loop device to %s: %w", path, lastErr)
}

// openWait opens a loop device node, which udev (or devtmpfs) may create
// a moment after the control device hands out its number.
func openWait(dev string, mode int) (*os.File, error) {
	var err error
	for i := 0; i < 50; i++ {
		var f *os.File
		if f, err = os.OpenFile(dev, mode, 0); err == nil {
			return f, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("open %s: %w", dev, err)
}

// Close detaches the loop device.
func (l *LoopDev) Close() error {
	if l.f == nil {
		return nil
	}
	unix.IoctlSetInt(int(l.f.Fd()), unix.LOOP_CLR_FD, 0)
	err := l.f.Close()
	l.f = nil
	return err
}

// Release lets go of the device without detaching it: it goes away by
// itself once nothing holds it any more (a mount of it, a program).
func (l *LoopDev) Release() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
