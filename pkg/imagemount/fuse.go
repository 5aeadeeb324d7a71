package imagemount

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// DiskFile is the name of the whole disk in the mount directory.
const DiskFile = "disk.img"

// attrTimeout is how long the kernel may keep names and attributes: the
// trees served never change.
const attrTimeout = time.Hour

// imageRoot is the mount directory: the whole disk as DiskFile, and an
// empty directory per partition, where the partitions are mounted.
type imageRoot struct {
	gofs.Inode
	r       *Reader
	dirs    []string
	created time.Time
}

var _ = (gofs.NodeOnAdder)((*imageRoot)(nil))
var _ = (gofs.NodeGetattrer)((*imageRoot)(nil))

func (n *imageRoot) OnAdd(ctx context.Context) {
	disk := n.NewPersistentInode(ctx, &diskNode{r: n.r, mtime: n.created}, gofs.StableAttr{Mode: syscall.S_IFREG})
	n.AddChild(DiskFile, disk, false)
	for _, d := range n.dirs {
		ch := n.NewPersistentInode(ctx, &staticDir{mtime: n.created}, gofs.StableAttr{Mode: syscall.S_IFDIR})
		n.AddChild(d, ch, false)
	}
}

func (n *imageRoot) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, n.created)
	return 0
}

// dirAttr is the attributes of the mount's own directories: read-only
// to all.
func dirAttr(a *fuse.Attr, t time.Time) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
	setTime(a, t)
}

// staticDir is a partition's directory, empty until the partition is
// mounted on it.
type staticDir struct {
	gofs.Inode
	mtime time.Time
}

func (n *staticDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, n.mtime)
	return 0
}

// diskNode is the whole disk, read-only, readable by root alone: it holds
// every byte of every file system on the disk, whatever their owners.
type diskNode struct {
	gofs.Inode
	r     *Reader
	mtime time.Time
}

var _ = (gofs.NodeOpener)((*diskNode)(nil))
var _ = (gofs.NodeReader)((*diskNode)(nil))

func (n *diskNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o400
	out.Nlink = 1
	out.Size = uint64(n.r.Size())
	out.Blocks = (out.Size + 511) / 512
	setTime(&out.Attr, n.mtime)
	return 0
}

func (n *diskNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *diskNode) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	k, err := n.r.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, syscall.EIO // Reader.OnError has logged it
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func setTime(a *fuse.Attr, t time.Time) {
	a.SetTimes(&t, &t, &t)
}

// fsNode serves a path of an io/fs file system read-only: a user-space
// driver's tree (FAT, where the kernel has no driver for it).
type fsNode struct {
	gofs.Inode
	fsys    fs.FS
	name    string // "." for the root
	onError func(error)
}

var _ = (gofs.NodeLookuper)((*fsNode)(nil))
var _ = (gofs.NodeReaddirer)((*fsNode)(nil))
var _ = (gofs.NodeOpener)((*fsNode)(nil))
var _ = (gofs.NodeGetattrer)((*fsNode)(nil))

func (n *fsNode) errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	}
	if n.onError != nil {
		n.onError(err)
	}
	return syscall.EIO
}

func (n *fsNode) child(name string) string {
	if n.name == "." {
		return name
	}
	return path.Join(n.name, name)
}

func fillAttr(fi fs.FileInfo, a *fuse.Attr) {
	mode := uint32(fi.Mode().Perm())
	switch {
	case fi.IsDir():
		mode |= syscall.S_IFDIR
	case fi.Mode()&fs.ModeSymlink != 0:
		mode |= syscall.S_IFLNK
	default:
		mode |= syscall.S_IFREG
	}
	a.Mode = mode
	a.Nlink = 1
	if fi.IsDir() {
		a.Nlink = 2
	}
	a.Size = uint64(fi.Size())
	a.Blocks = (a.Size + 511) / 512
	if t := fi.ModTime(); !t.IsZero() {
		setTime(a, t) // a FAT root has no time: left at 0
	}
}

func (n *fsNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fi, err := fs.Stat(n.fsys, n.name)
	if err != nil {
		return n.errno(err)
	}
	fillAttr(fi, &out.Attr)
	return 0
}

func (n *fsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := n.child(name)
	fi, err := fs.Stat(n.fsys, p)
	if err != nil {
		return nil, n.errno(err)
	}
	fillAttr(fi, &out.Attr)
	// The io/fs name as the kernel asked for it, whatever its case.
	ch := n.NewInode(ctx, &fsNode{fsys: n.fsys, name: p, onError: n.onError}, gofs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT})
	return ch, 0
}

func (n *fsNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	es, err := fs.ReadDir(n.fsys, n.name)
	if err != nil {
		return nil, n.errno(err)
	}
	out := make([]fuse.DirEntry, 0, len(es))
	for _, e := range es {
		mode := uint32(syscall.S_IFREG)
		if e.IsDir() {
			mode = syscall.S_IFDIR
		}
		out = append(out, fuse.DirEntry{Name: e.Name(), Mode: mode})
	}
	return gofs.NewListDirStream(out), 0
}

func (n *fsNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	f, err := n.fsys.Open(n.name)
	if err != nil {
		return nil, 0, n.errno(err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		f.Close()
		return nil, 0, syscall.EIO
	}
	return &fsHandle{f: f, ra: ra, node: n}, fuse.FOPEN_KEEP_CACHE, 0
}

// fsHandle is an open file of an io/fs file system.
type fsHandle struct {
	f    fs.File
	ra   io.ReaderAt
	node *fsNode
}

var _ = (gofs.FileReader)((*fsHandle)(nil))
var _ = (gofs.FileReleaser)((*fsHandle)(nil))

func (h *fsHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	k, err := h.ra.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.node.errno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (h *fsHandle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	return 0
}
