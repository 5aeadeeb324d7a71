package clusterfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// Path checks an io/fs name for op and returns it as the readers' path:
// "" for the root (".").
func Path(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "", nil
	}
	return name, nil
}

// Info describes a file or directory, as an fs.FileInfo: directories are
// 0555 and files 0444 (FAT and exFAT have no permissions).
type Info struct {
	Base     string
	Bytes    int64 // a file's size; 0 for a directory
	IsFolder bool
	Modified time.Time
}

func (i Info) Name() string { return i.Base }
func (i Info) Size() int64 {
	if i.IsFolder {
		return 0
	}
	return i.Bytes
}
func (i Info) Mode() fs.FileMode {
	if i.IsFolder {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i Info) ModTime() time.Time { return i.Modified }
func (i Info) IsDir() bool        { return i.IsFolder }
func (i Info) Sys() any           { return nil }

// Entries makes directory entries of infos, sorted by name.
func Entries(infos []Info) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(infos))
	for _, i := range infos {
		out = append(out, fs.FileInfoToDirEntry(i))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// Dir is an open directory.
type Dir struct {
	Info    Info
	Entries []fs.DirEntry
	at      int
}

func (d *Dir) Stat() (fs.FileInfo, error) { return d.Info, nil }
func (d *Dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.Info.Base, Err: errors.New("is a directory")}
}
func (d *Dir) Close() error { return nil }

// ReadDir returns the next n entries (all that are left when n <= 0).
func (d *Dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.Entries[d.at:]
	if n <= 0 {
		d.at = len(d.Entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.at += len(rest)
	return rest, nil
}

// File is an open file read from its clusters on R.
type File struct {
	R            io.ReaderAt
	Info         Info
	Path         string // for errors
	Clusters     []int64
	ClusterBytes int64
	// Offset is the byte offset of a cluster in R.
	Offset func(cluster int64) int64
	// Valid is how many bytes from the start hold data; the rest up to
	// the size reads as zeros. Open checks that Clusters hold them.
	Valid int64
	off   int64
}

// Check says whether the clusters hold the file's valid bytes.
func (f *File) Check() error {
	if int64(len(f.Clusters))*f.ClusterBytes < f.Valid {
		return fmt.Errorf("%s: %d bytes of data in %d clusters", f.Path, f.Valid, len(f.Clusters))
	}
	return nil
}

func (f *File) Stat() (fs.FileInfo, error) { return f.Info, nil }
func (f *File) Close() error               { return nil }

func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.Info.Bytes
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek %s to %d: %w", f.Path, offset, fs.ErrInvalid)
	}
	f.off = offset
	return offset, nil
}

// ReadAt reads the file's bytes at off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	size, cb := f.Info.Bytes, f.ClusterBytes
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= size {
			return done, io.EOF
		}
		want := min(int64(len(p)-done), size-pos)
		if pos >= f.Valid {
			clear(p[done : done+int(want)])
			done += int(want)
			continue
		}
		want = min(want, f.Valid-pos)
		k := pos / cb
		in := pos - k*cb
		// Clusters that follow each other on the volume are read at once.
		end := k
		for (end+1-k)*cb-in < want && f.Clusters[end+1] == f.Clusters[end]+1 {
			end++
		}
		n := min(want, (end+1-k)*cb-in)
		c := f.Clusters[k]
		if _, err := f.R.ReadAt(p[done:done+int(n)], f.Offset(c)+in); err != nil {
			return done, fmt.Errorf("read %s at cluster %d: %w", f.Path, c, err)
		}
		done += int(n)
	}
	return done, nil
}
