package fatfs

import (
	"errors"
	"io/fs"
	"path"

	"github.com/lifeboat-dev/lifeboat/pkg/clusterfs"
)

// FS returns the volume as a read-only io/fs file system: directories
// list their entries sorted by name (without "." and ".."), names are
// matched without regard to case, and files are io.ReaderAt and
// io.Seeker too. Permissions are 0555 for directories and 0444 for
// files: FAT has none.
func (v *Volume) FS() fs.FS { return volFS{v} }

type volFS struct{ v *Volume }

var (
	_ fs.ReadDirFS = volFS{}
	_ fs.StatFS    = volFS{}
)

func (f volFS) Stat(name string) (fs.FileInfo, error) {
	p, err := clusterfs.Path("stat", name)
	if err != nil {
		return nil, err
	}
	e, err := f.v.Stat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: unwrapNotExist(err)}
	}
	return info(e, path.Base(name)), nil
}

func (f volFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := clusterfs.Path("readdir", name)
	if err != nil {
		return nil, err
	}
	es, err := f.v.ReadDir(p)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: unwrapNotExist(err)}
	}
	return dirEntries(es), nil
}

func (f volFS) Open(name string) (fs.File, error) {
	p, err := clusterfs.Path("open", name)
	if err != nil {
		return nil, err
	}
	e, err := f.v.Stat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapNotExist(err)}
	}
	fi := info(e, path.Base(name))
	if e.Dir {
		es, err := f.v.ReadDir(p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &clusterfs.Dir{Info: fi, Entries: dirEntries(es)}, nil
	}
	cs, err := f.v.fileClusters(e, p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &clusterfs.File{R: f.v.r, Info: fi, Path: p, Clusters: cs, ClusterBytes: f.v.G.ClusterBytes(),
		Offset: f.v.clusterOff, Valid: e.Size}, nil
}

// unwrapNotExist keeps fs.ErrNotExist recognisable for callers matching
// it with errors.Is (it is, through %w), and leaves other errors as they
// are.
func unwrapNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fs.ErrNotExist
	}
	return err
}

func info(e Entry, name string) clusterfs.Info {
	return clusterfs.Info{Base: name, Bytes: e.Size, IsFolder: e.Dir, Modified: e.ModTime}
}

func dirEntries(es []Entry) []fs.DirEntry {
	infos := make([]clusterfs.Info, 0, len(es))
	for _, e := range es {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		infos = append(infos, info(e, e.Name))
	}
	return clusterfs.Entries(infos)
}
