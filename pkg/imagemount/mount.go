package imagemount

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/fsprobe"
	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
)

// DefaultStateDir is where each mount leaves a note of itself for Unmount
// run by another process.
const DefaultStateDir = "/run/lifeboat/mounts"

// Image is an image to mount: its extents and its manifest.
// *repo.Image is one.
type Image interface {
	Extents
	Manifest() *image.Manifest
}

// Options say how to mount.
type Options struct {
	// CacheBytes bounds the decoded-extent cache (DefaultCacheBytes when 0).
	CacheBytes int64
	// OnError sees every read of the image that failed (a missing chunk, a
	// chunk whose hash does not check), with the chunk and the offset.
	OnError func(error)
	// NTFS3G and ExFATFuse are the user-space drivers for NTFS and, where
	// the kernel has no exFAT driver, exFAT; looked for in the PATH when
	// empty ("ntfs-3g", "mount.exfat-fuse").
	NTFS3G, ExFATFuse string
	// StateDir is DefaultStateDir when empty.
	StateDir string
	// Repo is recorded in the mount's note, for Unmount's messages.
	Repo string
}

// Part is a partition of the mounted image (Number 0: a disk with no
// partition table, holding one file system).
type Part struct {
	Number int    `json:"number"`
	Folder string `json:"folder"` // its directory's name in the mount directory
	FSType string `json:"fs,omitempty"`
	Label  string `json:"label,omitempty"`
	Start  int64  `json:"start"`
	Size   int64  `json:"size"`
	// How says what serves it: "kernel ext4", "ntfs-3g", "Lifeboat's FAT
	// reader", ...; empty when it is not mounted.
	How string `json:"how,omitempty"`
	// Err says why it is not mounted.
	Err error `json:"-"`
}

// Dir is the partition's directory under the mount directory.
func (p Part) Dir(mountDir string) string { return filepath.Join(mountDir, p.Folder) }

// quiet takes go-fuse's messages: the one it gives, "failed to read from
// fuse conn" when the kernel ends the connection at an unmount, is no news.
var quiet = log.New(io.Discard, "", 0)

// Mounted is a mounted image.
type Mounted struct {
	Dir    string
	Parts  []Part
	Reader *Reader

	server *fuse.Server
	subs   []sub // what is mounted on the partitions' directories, in order
	state  string
	done   chan struct{}
}

// sub is one partition's mount.
type sub struct {
	dir    string
	server *fuse.Server // a user-space reader we serve; nil for the kernel's and other programs' mounts
}

// note is what a mount leaves in StateDir.
type note struct {
	Dir     string    `json:"dir"`
	PID     int       `json:"pid"`
	Image   string    `json:"image"`
	Repo    string    `json:"repo,omitempty"`
	Started time.Time `json:"started"`
	// StartTicks is when the process started (/proc/PID/stat), so that a
	// later process with the same number is not taken for it.
	StartTicks uint64 `json:"start_ticks"`
	Parts      []Part `json:"parts"`
}

// notePath is where the note of a mount at dir is kept.
func notePath(stateDir, dir string) string {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(stateDir, hex.EncodeToString(sum[:8])+".json")
}

// Mount mounts img read-only at dir (made when missing; it must be empty):
// the whole disk as dir/disk.img, served by this process through FUSE,
// and each partition's file system in a directory of its own, named by
// number, label and type ("2-Windows-ntfs"). A partition is mounted
// through a read-only loop device over disk.img by the kernel (ext2/3/4
// without replaying the journal, XFS without recovery, btrfs without
// replaying its log, FAT, exFAT), or by ntfs-3g read-only; where the kernel
// has no driver for FAT it is served by Lifeboat's own reader, for exFAT
// by exfat-fuse. A partition that cannot be mounted is left empty with
// Part.Err saying why; only the whole mount failing is an error. The
// mount lasts until Unmount, or until this process ends (the loop devices
// and mounts then go when Unmount runs from another process).
func Mount(ctx context.Context, img Image, dir string, opt Options) (_ *Mounted, err error) {
	m := img.Manifest()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	dir = abs
	if err := emptyDir(dir); err != nil {
		return nil, fmt.Errorf("mount image %s at %s: %w", m.Name, dir, err)
	}
	r := NewReader(img, m.ExtentSize, opt.CacheBytes)
	r.OnError = opt.OnError
	parts := partsOf(m, r)
	var folders []string
	for _, p := range parts {
		folders = append(folders, p.Folder)
	}
	root := &imageRoot{r: r, dirs: folders, created: m.Created}
	to := attrTimeout
	server, err := gofs.Mount(dir, root, &gofs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, AllowOther: true, FsName: "lifeboat:" + m.Name, Name: "lifeboat",
			Options: []string{"ro", "default_permissions"}, MaxReadAhead: 1 << 20, MaxWrite: 1 << 20,
			Logger: quiet,
		},
		EntryTimeout: &to, AttrTimeout: &to,
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("mount image %s at %s through FUSE: %w", m.Name, dir, err)
	}
	mt := &Mounted{Dir: dir, Reader: r, server: server, state: notePath(opt.StateDir, dir), done: make(chan struct{})}
	go func() {
		server.Wait()
		close(mt.done)
	}()
	defer func() {
		if err != nil {
			mt.Unmount(true)
		}
	}()
	disk := filepath.Join(dir, DiskFile)
	for i := range parts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("mount image %s at %s: %w", m.Name, dir, err)
		}
		p := &parts[i]
		s, how, perr := mountPart(img, r, disk, *p, p.Dir(dir), opt)
		if perr != nil {
			p.Err = perr
			continue
		}
		p.How = how
		mt.subs = append(mt.subs, s)
	}
	mt.Parts = parts
	if err := mt.writeNote(img, opt); err != nil {
		return nil, err
	}
	return mt, nil
}

// emptyDir makes dir when it is missing and checks that it is an empty
// directory that nothing is mounted on.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

// partsOf lists the partitions of the image, or the disk itself when it
// has no partition table, with the names of their directories.
func partsOf(m *image.Manifest, r *Reader) []Part {
	var parts []Part
	if m.Table != nil {
		for _, p := range m.Table.Partitions {
			if p.Extended {
				continue
			}
			parts = append(parts, Part{Number: p.Number, FSType: p.FileSystem, Label: p.FSLabel, Start: p.Start, Size: p.Size})
		}
	}
	if len(parts) == 0 {
		parts = []Part{{Number: 0, Start: 0, Size: r.Size()}}
	}
	for i := range parts {
		p := &parts[i]
		if p.FSType == "" {
			// Not recorded (an older image, or a table read without file
			// systems): look at the partition's own bytes.
			if info, err := fsprobe.Probe(io.NewSectionReader(r, p.Start, p.Size), p.Size); err == nil {
				p.FSType, p.Label = info.Type, info.Label
			}
		}
		p.Folder = folderName(*p)
	}
	return parts
}

// folderName is "2-Windows-ntfs": number, label (made safe for a file
// name), type; "disk-ext4" for a disk without partitions.
func folderName(p Part) string {
	name := fmt.Sprint(p.Number)
	if p.Number == 0 {
		name = "disk"
	}
	label := strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || !unicode.IsPrint(r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(p.Label))
	if len([]rune(label)) > 40 {
		label = string([]rune(label)[:40])
	}
	if label != "" {
		name += "-" + label
	}
	if p.FSType != "" {
		name += "-" + p.FSType
	}
	return name
}

// mountOpts are the kernel's types and read-only options for each file
// system: nothing is replayed or written.
var kernelFS = map[string]struct{ typ, data string }{
	"ext2":  {"ext4", "noload"},
	"ext3":  {"ext4", "noload"},
	"ext4":  {"ext4", "noload"},
	"xfs":   {"xfs", "norecovery"},
	"btrfs": {"btrfs", "rescue=nologreplay"},
	"vfat":  {"vfat", "utf8,shortname=mixed"},
	"exfat": {"exfat", "iocharset=utf8"},
}

const roFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mountPart mounts one partition at dir and says how.
func mountPart(img Image, r *Reader, disk string, p Part, dir string, opt Options) (sub, string, error) {
	switch p.FSType {
	case "":
		return sub{}, "", errors.New("no file system recognised")
	case "swap":
		return sub{}, "", errors.New("swap space holds no files")
	}
	k, kernel := kernelFS[p.FSType]
	if !kernel && p.FSType != "ntfs" {
		return sub{}, "", fmt.Errorf("%s file systems cannot be browsed", p.FSType)
	}
	loop, err := fsresize.LoopReadOnly(disk, p.Start, p.Size)
	if err != nil {
		return sub{}, "", err
	}
	// The loop device goes away by itself once unmounted.
	defer loop.Release()
	if kernel {
		err := unix.Mount(loop.Path, dir, k.typ, roFlags, k.data)
		if err == nil {
			return sub{dir: dir}, "kernel " + k.typ, nil
		}
		if !errors.Is(err, unix.ENODEV) {
			return sub{}, "", fmt.Errorf("mount %s (%s) of partition %d: %w", loop.Path, p.FSType, p.Number, err)
		}
	}
	switch p.FSType {
	case "ntfs":
		if err := runDriver(program(opt.NTFS3G, "ntfs-3g"), loop.Path, dir); err != nil {
			return sub{}, "", err
		}
		return sub{dir: dir}, "ntfs-3g", nil
	case "exfat":
		ferr := runDriver(program(opt.ExFATFuse, "mount.exfat-fuse"), loop.Path, dir)
		if ferr == nil {
			return sub{dir: dir}, "exfat-fuse", nil
		}
		s, how, err := serveReader(img, r, p, dir, opt)
		if err != nil {
			return sub{}, "", fmt.Errorf("the kernel has no exFAT driver, exfat-fuse: %v, and Lifeboat's reader: %w", ferr, err)
		}
		return s, how, nil
	case "vfat":
		return serveReader(img, r, p, dir, opt)
	}
	return sub{}, "", fmt.Errorf("the kernel has no %s driver", p.FSType)
}

// userReader returns Lifeboat's own reader of partition p's file system
// (FAT, exFAT) and its name, or an error when there is none.
func userReader(r *Reader, p Part) (fs.FS, string, error) {
	sec := io.NewSectionReader(r, p.Start, p.Size)
	switch p.FSType {
	case "vfat":
		v, err := fatfs.Open(sec, p.Size)
		if err != nil {
			return nil, "", fmt.Errorf("partition %d: %w", p.Number, err)
		}
		return v.FS(), "Lifeboat's FAT reader", nil
	case "exfat":
		v, err := exfat.Parse(sec, p.Size)
		if err != nil {
			return nil, "", fmt.Errorf("partition %d: %w", p.Number, err)
		}
		return v.FS(), "Lifeboat's exFAT reader", nil
	}
	return nil, "", fmt.Errorf("partition %d: Lifeboat has no reader of its own for %s", p.Number, p.FSType)
}

// serveReader serves partition p at dir through FUSE with Lifeboat's own
// reader of its file system.
func serveReader(img Image, r *Reader, p Part, dir string, opt Options) (sub, string, error) {
	fsys, how, err := userReader(r, p)
	if err != nil {
		return sub{}, "", err
	}
	to := attrTimeout
	srv, err := gofs.Mount(dir, &fsNode{fsys: fsys, name: ".", onError: opt.OnError}, &gofs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, AllowOther: true, FsName: fmt.Sprintf("lifeboat:%s:%d", img.Manifest().Name, p.Number), Name: "lifeboat-" + p.FSType,
			Options: []string{"ro", "default_permissions"}, MaxReadAhead: 1 << 20, MaxWrite: 1 << 20,
			Logger: quiet,
		},
		EntryTimeout: &to, AttrTimeout: &to,
	})
	if err != nil {
		return sub{}, "", fmt.Errorf("serve the %s file system of partition %d at %s: %w", p.FSType, p.Number, dir, err)
	}
	return sub{dir: dir, server: srv}, how, nil
}

func program(set, name string) string {
	if set != "" {
		return set
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// runDriver mounts dev at dir read-only with a FUSE driver program
// (ntfs-3g, exfat-fuse), which stays behind as a daemon serving it.
func runDriver(prog, dev, dir string) error {
	if prog == "" {
		return fmt.Errorf("mount %s at %s: no driver program: %w", dev, dir, exec.ErrNotFound)
	}
	var out bytes.Buffer
	cmd := exec.Command(prog, "-o", "ro,nosuid,nodev,noexec", dev, dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	// The daemon lets go of the output once it has started; should it
	// not, Wait does not wait for it.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return fmt.Errorf("mount %s at %s with %s: %w (%s)", dev, dir, filepath.Base(prog), err, msg)
	}
	return nil
}

func (m *Mounted) writeNote(img Image, opt Options) error {
	n := note{Dir: m.Dir, PID: os.Getpid(), Image: img.Manifest().Name, Repo: opt.Repo, Started: time.Now().UTC(), Parts: m.Parts}
	n.StartTicks, _ = startTicks(n.PID)
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.state), 0o700); err != nil {
		return fmt.Errorf("mount note: %w", err)
	}
	tmp := m.state + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("mount note: %w", err)
	}
	if err := os.Rename(tmp, m.state); err != nil {
		return fmt.Errorf("mount note: %w", err)
	}
	return nil
}

// Done is closed when the mount has ended: by Unmount, or by an unmount of
// its directory from outside.
func (m *Mounted) Done() <-chan struct{} { return m.done }

// ErrBusy is returned by Unmount for a partition a program still uses (an
// open file, a shell's current directory).
var ErrBusy = errors.New("in use: a program has files open there, or is in that directory")

// Unmount unmounts the partitions, then the disk. With lazy, a partition
// still in use is detached from the directory at once and let go by the
// kernel when its last user is done; otherwise Unmount stops at it with an
// error wrapping ErrBusy and leaves everything mounted as it was.
func (m *Mounted) Unmount(lazy bool) error {
	for i := len(m.subs) - 1; i >= 0; i-- {
		s := m.subs[i]
		if err := unmountDir(s.dir, lazy); err != nil {
			return err
		}
		if s.server != nil {
			s.server.Wait()
		}
		m.subs = m.subs[:i]
	}
	if err := unmountDir(m.Dir, lazy); err != nil {
		return err
	}
	m.server.Wait()
	m.Reader.Close()
	os.Remove(m.state)
	return nil
}

// UnmountDir ends the mount at dir that another process made: a mount in
// the background, or one whose process was killed. A live mount process
// is asked to unmount (SIGTERM) and waited for until ctx ends; whatever is
// left after it (every mount at or under dir, the loop devices over
// dir/disk.img, the note) is then removed, mounts still in use detached
// lazily. It fails when nothing of a Lifeboat mount is at dir.
func UnmountDir(ctx context.Context, dir, stateDir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	dir = abs
	path := notePath(stateDir, dir)
	var n note
	data, err := os.ReadFile(path)
	haveNote := err == nil && json.Unmarshal(data, &n) == nil
	if haveNote && n.PID > 0 && n.PID != os.Getpid() && alive(n.PID, n.StartTicks) {
		unix.Kill(n.PID, unix.SIGTERM)
		for alive(n.PID, n.StartTicks) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("unmount %s: process %d, which serves it, has not ended: %w", dir, n.PID, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	loops := loopsOver(filepath.Join(dir, DiskFile))
	if !haveNote && len(mounts) == 0 && len(loops) == 0 {
		return fmt.Errorf("nothing Lifeboat mounted is at %s", dir)
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- { // deepest last in mountinfo order
		if err := unmountDir(mounts[i], true); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range loops {
		if err := detachLoop(l); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		os.Remove(path)
	}
	return errors.Join(errs...)
}

// alive reports whether process pid runs and is the one that wrote the
// note (same start time), not a later process given the same number.
func alive(pid int, ticks uint64) bool {
	if unix.Kill(pid, 0) != nil {
		return false
	}
	t, err := startTicks(pid)
	return err == nil && (ticks == 0 || t == ticks)
}

// startTicks is when process pid started, in clock ticks since boot
// (field 22 of /proc/PID/stat).
func startTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// MountsUnder lists the mount points at or under dir, in mountinfo order
// (a mount after the one it is mounted on).
func MountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mi, err := inventory.ParseMountInfo(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mi {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out, nil
}

// loopsOver lists the loop devices whose backing file is file.
func loopsOver(file string) []string {
	ents, _ := os.ReadDir("/sys/block")
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "loop", "backing_file"))
		if err != nil {
			continue
		}
		if strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)") == file {
			out = append(out, "/dev/"+e.Name())
		}
	}
	return out
}

// detachLoop detaches a loop device; one still in use is detached when
// its last user lets go.
func detachLoop(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("detach %s: %w", dev, err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("detach %s: %w", dev, err)
	}
	return nil
}

// unmountDir unmounts what is mounted at dir; EINVAL (nothing mounted
// there any more) is no error.
func unmountDir(dir string, lazy bool) error {
	err := unix.Unmount(dir, unix.UMOUNT_NOFOLLOW)
	if errors.Is(err, unix.EBUSY) && lazy {
		err = unix.Unmount(dir, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
	}
	switch {
	case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("unmount %s: %w", dir, ErrBusy)
	}
	return fmt.Errorf("unmount %s: %w", dir, err)
}
