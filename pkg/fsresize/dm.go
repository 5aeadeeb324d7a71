package fsresize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/kmod"
)

// Part is a block device (the whole of it, Size bytes) that Concat puts
// after the ones before it.
type Part struct {
	Dev  string
	Size int64
}

// Mapped is a device-mapper device that joins block devices end to end.
type Mapped struct {
	Path string // /dev/dm-N
	name string
	ctl  *os.File
}

// The device-mapper ioctl interface (linux/dm-ioctl.h), version 4.
const (
	dmIoctlSize  = 312
	dmSpecSize   = 40
	dmDevCreate  = 3
	dmDevRemove  = 4
	dmDevSuspend = 6
	dmTableLoad  = 9
)

func dmIoctlNr(cmd uintptr) uintptr {
	return 3<<30 | dmIoctlSize<<16 | 0xfd<<8 | cmd
}

// dmCall runs one device-mapper command on the named device with data
// (target specifications) after the header; it returns the header as the
// kernel filled it in.
func dmCall(ctl *os.File, cmd uintptr, name string, targets int, data []byte) ([]byte, error) {
	size := dmIoctlSize + len(data)
	if size < 16384 {
		size = 16384
	}
	buf := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(buf[0:], 4) // version 4.0.0
	le.PutUint32(buf[12:], uint32(size))
	le.PutUint32(buf[16:], dmIoctlSize) // data_start
	le.PutUint32(buf[20:], uint32(targets))
	copy(buf[48:48+127], name)
	copy(buf[dmIoctlSize:], data)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), dmIoctlNr(cmd), uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return nil, errno
	}
	return buf[:dmIoctlSize], nil
}

// openControl opens /dev/mapper/control, loading the device-mapper module
// first when the kernel has it as a module not loaded yet.
func openControl() (*os.File, error) {
	ctl, err := os.OpenFile("/dev/mapper/control", os.O_RDWR, 0)
	if err == nil {
		return ctl, nil
	}
	if dir, derr := kmod.DefaultDir(); derr == nil {
		if ix, ierr := kmod.Open(dir); ierr == nil && ix.Load("dm_mod", "") == nil {
			for i := 0; i < 50; i++ {
				if ctl, err = os.OpenFile("/dev/mapper/control", os.O_RDWR, 0); err == nil {
					return ctl, nil
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return nil, fmt.Errorf("device mapper (/dev/mapper/control): %w; the kernel needs dm_mod to shrink a file system during a restore", err)
}

// Concat makes a device-mapper device named name that reads and writes
// parts one after another (each a whole number of 512-byte sectors).
func Concat(name string, parts []Part) (*Mapped, error) {
	ctl, err := openControl()
	if err != nil {
		return nil, err
	}
	var table bytes.Buffer
	var at int64
	le := binary.LittleEndian
	for _, p := range parts {
		if p.Size <= 0 || p.Size%512 != 0 {
			ctl.Close()
			return nil, fmt.Errorf("device mapper: %s is %d bytes, not whole 512-byte sectors", p.Dev, p.Size)
		}
		params := fmt.Sprintf("%s 0", p.Dev)
		n := (dmSpecSize + len(params) + 1 + 7) &^ 7
		spec := make([]byte, n)
		le.PutUint64(spec[0:], uint64(at/512))
		le.PutUint64(spec[8:], uint64(p.Size/512))
		le.PutUint32(spec[20:], uint32(n)) // next, from this spec's start
		copy(spec[24:40], "linear")
		copy(spec[dmSpecSize:], params)
		table.Write(spec)
		at += p.Size
	}
	m := &Mapped{name: name, ctl: ctl}
	hdr, err := dmCall(ctl, dmDevCreate, name, 0, nil)
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("device mapper: create %s: %w", name, err)
	}
	dev := le.Uint64(hdr[40:48])
	fail := func(what string, err error) (*Mapped, error) {
		m.Close()
		return nil, fmt.Errorf("device mapper: %s %s: %w", what, name, err)
	}
	if _, err := dmCall(ctl, dmTableLoad, name, len(parts), table.Bytes()); err != nil {
		return fail("load the table of", err)
	}
	if _, err := dmCall(ctl, dmDevSuspend, name, 0, nil); err != nil { // no suspend flag: resume
		return fail("resume", err)
	}
	m.Path, err = nodeOf(unix.Major(dev), unix.Minor(dev))
	if err != nil {
		return fail("find the device node of", err)
	}
	return m, nil
}

// nodeOf finds the /dev node of a block device number, making one when
// devtmpfs has not.
func nodeOf(major, minor uint32) (string, error) {
	link, err := os.Readlink(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor))
	if err != nil {
		return "", err
	}
	name := link[strings.LastIndex(link, "/")+1:]
	p := "/dev/" + name
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("mknod %s: %w", p, err)
	}
	return p, nil
}

// Close removes the device.
func (m *Mapped) Close() error {
	if m.ctl == nil {
		return nil
	}
	unix.Sync()
	var err error
	for i := 0; i < 50; i++ { // udev may hold it a moment
		if _, err = dmCall(m.ctl, dmDevRemove, m.name, 0, nil); err == nil || err != unix.EBUSY {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.ctl.Close()
	m.ctl = nil
	if err != nil {
		return fmt.Errorf("device mapper: remove %s: %w", m.name, err)
	}
	return nil
}
