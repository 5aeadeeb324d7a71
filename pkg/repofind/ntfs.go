package repofind

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ntfs3g is the type under which NTFS is mounted with the ntfs-3g program
// through FUSE: it stands in the list of types to try beside the
// kernel's, and Found.FSType says "ntfs" for it. ntfs-3g is preferred
// over the kernel's ntfs3 driver where both are there: it is the
// maintained, field-proven implementation (Debian's 6.1 kernels do not
// even build ntfs3), and it refuses to write to a hibernated Windows
// volume where ntfs3 would not.
const ntfs3g = "ntfs-3g"

// ErrNTFSUnsafe is returned by MakeWritable for an NTFS volume that
// ntfs-3g will mount only read-only: Windows left it hibernated (Fast
// Startup) or with unfinished changes.
var ErrNTFSUnsafe = errors.New("the NTFS volume was left hibernated or unsafe to write by Windows (Fast Startup): start Windows and shut it down fully (Shift with Shut down), or turn Fast Startup off")

// mounter mounts file systems, the kernel's through mount(2) and NTFS
// through the ntfs-3g program.
type mounter struct {
	ntfs3g  string // path of the ntfs-3g program; "" when there is none
	devRoot string // where /dev/fuse is looked for
}

// fsName is the file-system type shown for a type mounted as fstype.
func fsName(fstype string) string {
	if fstype == ntfs3g {
		return "ntfs"
	}
	return fstype
}

// mountType is the type to mount again a file system shown as name.
func mountType(name string) string {
	if name == "ntfs" {
		return ntfs3g
	}
	return name
}

// mountRO mounts dev read-only at dir as fstype, with the options that
// keep it from replaying a journal or log.
func (mt mounter) mountRO(dev, dir, fstype string, extra uintptr) error {
	if fstype == ntfs3g {
		return mt.mountNTFS(dev, dir, true)
	}
	var err error
	for _, data := range readOnlyData(fstype) {
		if err = unix.Mount(dev, dir, fstype, roFlags|extra, data); err == nil || !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return err
}

// mountRW mounts dev read-write at dir as fstype.
func (mt mounter) mountRW(dev, dir, fstype string) error {
	if fstype == ntfs3g {
		return mt.mountNTFS(dev, dir, false)
	}
	return unix.Mount(dev, dir, fstype, rwFlags, "")
}

// mountNTFS mounts the NTFS volume on dev at dir with ntfs-3g, which
// mounts it as fuseblk and stays in the background to serve it until it
// is unmounted. The kernel hands ntfs-3g the unmount of a fuseblk file
// system and waits for it, so that by the time umount(2) returns ntfs-3g
// has written out what it holds, marked the volume clean and closed the
// device. Asked to mount read-write a volume Windows left hibernated
// (Fast Startup) or in an unsafe state, ntfs-3g mounts it read-only and
// says so; that mount is undone, and the error wraps ErrNTFSUnsafe with
// what ntfs-3g said.
func (mt mounter) mountNTFS(dev, dir string, ro bool) error {
	if mt.ntfs3g == "" {
		return fmt.Errorf("mount %s at %s: no ntfs-3g program: %w", dev, dir, unix.ENODEV)
	}
	if err := mt.fuseReady(dev, dir); err != nil {
		return err
	}
	opts := "nosuid,nodev,noexec"
	if ro {
		opts = "ro," + opts
	}
	var out bytes.Buffer
	cmd := exec.Command(mt.ntfs3g, "-o", opts, dev, dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	// The daemon ntfs-3g leaves behind lets go of the output once it
	// has started; should it not, Wait does not wait for it.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	how := "read-write"
	if ro {
		how = "read-only"
	}
	msg := strings.Join(strings.Fields(out.String()), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if msg != "" {
		msg = " (ntfs-3g: " + msg + ")"
	}
	if err != nil {
		return fmt.Errorf("mount %s %s at %s with ntfs-3g: %w%s", dev, how, dir, err, msg)
	}
	if ro {
		return nil
	}
	if rdonly, err := mountedReadOnly(dir); err != nil || rdonly {
		// ntfs-3g fell back to read-only.
		uerr := unix.Unmount(dir, unix.UMOUNT_NOFOLLOW)
		if err == nil {
			err = ErrNTFSUnsafe
		}
		if uerr != nil {
			uerr = fmt.Errorf("unmount %s from %s: %w", dev, dir, uerr)
		}
		return errors.Join(fmt.Errorf("mount %s %s at %s with ntfs-3g: %w%s", dev, how, dir, err, msg), uerr)
	}
	return nil
}

// fuseReady makes sure the FUSE device is there. When the fuse module is
// not loaded yet (the rescue environment loads it at boot, beside the
// UI), a mount(2) of type fuseblk has the kernel load it through
// modprobe, as for the kernel's own file systems; that mount itself fails
// (it names no FUSE connection) and mounts nothing.
func (mt mounter) fuseReady(dev, dir string) error {
	root := mt.devRoot
	if root == "" {
		root = "/dev"
	}
	node := filepath.Join(root, "fuse")
	if _, err := os.Stat(node); err == nil {
		return nil
	}
	unix.Mount(dev, dir, "fuseblk", roFlags|unix.MS_SILENT, "")
	if _, err := os.Stat(node); err != nil {
		return fmt.Errorf("mount %s at %s with ntfs-3g: no FUSE device (the fuse module is not loaded): %w", dev, dir, err)
	}
	return nil
}

// ntfs3gProgram returns the ntfs-3g program to use: prog when set,
// otherwise ntfs-3g found in the PATH, or "" when there is none.
func ntfs3gProgram(prog string) string {
	if prog == "" {
		prog = "ntfs-3g"
	}
	p, err := exec.LookPath(prog)
	if err != nil {
		return ""
	}
	return p
}
