package fatfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
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

func (f volFS) path(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "", nil
	}
	return name, nil
}

func (f volFS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.path("stat", name)
	if err != nil {
		return nil, err
	}
	e, err := f.v.Stat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: unwrapNotExist(err)}
	}
	return info{e, path.Base(name)}, nil
}

func (f volFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.path("readdir", name)
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
	p, err := f.path("open", name)
	if err != nil {
		return nil, err
	}
	e, err := f.v.Stat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapNotExist(err)}
	}
	fi := info{e, path.Base(name)}
	if e.Dir {
		es, err := f.v.ReadDir(p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dir{fi: fi, entries: dirEntries(es)}, nil
	}
	cs, err := f.v.fileClusters(e, p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{v: f.v, fi: fi, clusters: cs, name: p}, nil
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

func dirEntries(es []Entry) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(es))
	for _, e := range es {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(info{e, e.Name}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// info is an Entry as an fs.FileInfo.
type info struct {
	e    Entry
	name string
}

func (i info) Name() string { return i.name }
func (i info) Size() int64 {
	if i.e.Dir {
		return 0
	}
	return i.e.Size
}
func (i info) Mode() fs.FileMode {
	if i.e.Dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i info) ModTime() time.Time { return i.e.ModTime }
func (i info) IsDir() bool        { return i.e.Dir }
func (i info) Sys() any           { return nil }

// dir is an open directory.
type dir struct {
	fi      info
	entries []fs.DirEntry
	at      int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.name, Err: errors.New("is a directory")}
}
func (d *dir) Close() error { return nil }
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.at:]
	if n <= 0 {
		d.at = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.at += len(rest)
	return rest, nil
}

// file is an open file: its clusters, read as asked.
type file struct {
	v        *Volume
	fi       info
	name     string
	clusters []int64
	off      int64
}

func (f *file) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f *file) Close() error               { return nil }

func (f *file) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.fi.e.Size
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek %s to %d: %w", f.name, offset, fs.ErrInvalid)
	}
	f.off = offset
	return offset, nil
}

// ReadAt reads the file's bytes at off, a cluster at a time.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	size := f.fi.e.Size
	cb := f.v.G.ClusterBytes()
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= size {
			return done, io.EOF
		}
		k := pos / cb
		in := pos - k*cb
		want := min(int64(len(p)-done), size-pos)
		// Clusters that follow each other on the volume are read at once.
		end := k
		for (end+1-k)*cb-in < want && f.clusters[end+1] == f.clusters[end]+1 {
			end++
		}
		n := min(want, (end+1-k)*cb-in)
		c := f.clusters[k]
		if _, err := f.v.r.ReadAt(p[done:done+int(n)], f.v.clusterOff(c)+in); err != nil {
			return done, fmt.Errorf("read %s at cluster %d: %w", f.name, c, err)
		}
		done += int(n)
	}
	return done, nil
}
