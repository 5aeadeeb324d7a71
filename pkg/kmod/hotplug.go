package kmod

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Uevents is a socket on which the kernel announces devices as they come
// and go (what udev listens to).
type Uevents struct{ fd int }

// ListenUevents opens the kernel's uevent socket. Open it before loading
// the modules for the devices already there, so that no device appearing
// in between is missed.
func ListenUevents() (*Uevents, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("open the uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind the uevent socket: %w", err)
	}
	// A burst of events (a USB hub with many devices) must not overflow it.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	tv := unix.Timeval{Usec: 250000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent socket timeout: %w", err)
	}
	return &Uevents{fd: fd}, nil
}

// Close closes the socket.
func (u *Uevents) Close() error { return unix.Close(u.fd) }

// Hotplug loads, until ctx ends, the modules for every device the kernel
// announces on u, as udev does: a USB disk plugged in after boot, the SCSI
// disk that appears a moment after its USB bridge. report, when not nil,
// is told of each module loaded (err nil) or that would not load. Hotplug
// closes u when it returns.
func (ix *Index) Hotplug(ctx context.Context, u *Uevents, report func(module string, err error)) error {
	defer u.Close()
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(u.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue // a timeout to look at ctx, or events lost to a burst
			}
			return fmt.Errorf("read uevents: %w", err)
		}
		alias := UeventModalias(buf[:n])
		if alias == "" {
			continue
		}
		for _, m := range ix.Resolve(alias) {
			ix.mu.Lock()
			done := ix.loaded[m] || ix.builtin[m]
			ix.mu.Unlock()
			if done {
				continue
			}
			err := ix.Load(m, "")
			if report != nil {
				report(m, err)
			}
		}
	}
	return ctx.Err()
}

// UeventModalias returns the MODALIAS of a kernel uevent announcing a new
// device ("add@/devices/...\x00ACTION=add\x00...\x00MODALIAS=usb:v...\x00"),
// or "" for any other message (removals, changes, udev's own messages,
// garbage).
func UeventModalias(msg []byte) string {
	head, rest, ok := bytes.Cut(msg, []byte{0})
	if !ok || !bytes.HasPrefix(head, []byte("add@")) {
		return ""
	}
	for len(rest) > 0 {
		var kv []byte
		kv, rest, _ = bytes.Cut(rest, []byte{0})
		if v, ok := bytes.CutPrefix(kv, []byte("MODALIAS=")); ok {
			if len(v) == 0 || len(v) > 512 {
				return ""
			}
			return string(v)
		}
	}
	return ""
}
