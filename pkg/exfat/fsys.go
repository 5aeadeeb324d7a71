package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// FS returns the volume as a read-only io/fs file system: directories
// list their entries sorted by name, names are matched without regard to
// case (ASCII letters and the others Unicode folds, as exFAT's up-case
// table does for them), files are io.ReaderAt and io.Seeker too, and
// bytes past a file's valid data length read as zeros. Permissions are
// 0555 for directories and 0444 for files; times are the last
// modification, in UTC when the entry records its offset.
func (v *Volume) FS() fs.FS { return volFS{v} }

type volFS struct{ v *Volume }

var (
	_ fs.ReadDirFS = volFS{}
	_ fs.StatFS    = volFS{}
)

// entry is a file or directory's entry set.
type entry struct {
	name      string
	dir       bool
	first     int64
	size      int64 // data length
	valid     int64 // valid data length
	noChain   bool
	modified  time.Time
	clusterOK bool // an allocation is present (first != 0)
}

// maxEntries bounds the entries read from one directory.
const maxEntries = 1 << 20

// readDir lists the entry sets of the directory whose clusters are cl.
func (v *Volume) readDir(cl []int64, what string) ([]entry, error) {
	cs := v.ClusterBytes()
	raw := make([]byte, int64(len(cl))*cs)
	for k, c := range cl {
		if _, err := v.R.ReadAt(raw[int64(k)*cs:int64(k+1)*cs], v.ClusterOff(c)); err != nil {
			return nil, fmt.Errorf("read directory %s at cluster %d: %w", what, c, err)
		}
	}
	le := binary.LittleEndian
	var out []entry
	for i := 0; i+32 <= len(raw); i += 32 {
		e := raw[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] != 0x85 {
			continue
		}
		count := int(e[1])
		if count < 2 || i+(count+1)*32 > len(raw) || raw[i+32] != 0xC0 {
			continue // a damaged set: skipped, as drivers do
		}
		st := raw[i+32 : i+64]
		nameLen := int(st[3])
		var name []uint16
		for k := 2; k <= count && len(name) < nameLen; k++ {
			ne := raw[i+k*32 : i+k*32+32]
			if ne[0] != 0xC1 {
				break
			}
			for o := 2; o < 32 && len(name) < nameLen; o += 2 {
				name = append(name, le.Uint16(ne[o:]))
			}
		}
		if len(name) != nameLen || nameLen == 0 {
			i += count * 32
			continue
		}
		en := entry{
			name:      string(utf16.Decode(name)),
			dir:       le.Uint16(e[4:6])&0x10 != 0,
			first:     int64(le.Uint32(st[20:24])),
			size:      int64(le.Uint64(st[24:32])),
			valid:     int64(le.Uint64(st[8:16])),
			noChain:   st[1]&2 != 0,
			modified:  exfatTime(le.Uint32(e[12:16]), e[21], e[23]),
			clusterOK: st[1]&1 != 0,
		}
		if en.size < 0 || en.valid < 0 || en.valid > en.size {
			return nil, fmt.Errorf("directory %s: entry %q has sizes %d and %d", what, en.name, en.size, en.valid)
		}
		if en.dir {
			en.valid = en.size
		}
		out = append(out, en)
		if len(out) > maxEntries {
			return nil, fmt.Errorf("directory %s has more than %d entries", what, maxEntries)
		}
		i += count * 32
	}
	return out, nil
}

// exfatTime decodes a timestamp, its 10 ms increment and UTC offset.
func exfatTime(ts uint32, ms10, utc byte) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	t := time.Date(1980+int(ts>>25), time.Month(ts>>21&0xF), int(ts>>16&0x1F),
		int(ts>>11&0x1F), int(ts>>5&0x3F), int(ts&0x1F)*2, int(ms10)*10*int(time.Millisecond), time.UTC)
	if utc&0x80 != 0 {
		off := int(int8(utc<<1)) / 2 // 7-bit signed, in 15-minute steps
		t = t.Add(-time.Duration(off) * 15 * time.Minute)
	}
	return t
}

// clusters lists the clusters of e's allocation.
func (v *Volume) clustersOf(e entry, what string) ([]int64, error) {
	if !e.clusterOK || e.first == 0 || e.size == 0 {
		return nil, nil
	}
	cs := v.ClusterBytes()
	if e.dir && e.size > maxDir {
		return nil, fmt.Errorf("directory %s of %d bytes (at most %d)", what, e.size, maxDir)
	}
	c, err := v.Chain(e.first, (e.size+cs-1)/cs, e.noChain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// lookup finds the entry at p ("" is the root, which has no entry: ok is
// false) and the clusters of the directory it names, or of its data.
func (v *Volume) lookup(p string) (e entry, cl []int64, root bool, err error) {
	cl, err = v.dirChain(v.Root)
	if err != nil {
		return e, nil, false, fmt.Errorf("root directory: %w", err)
	}
	if p == "" {
		return entry{dir: true}, cl, true, nil
	}
	parts := strings.Split(p, "/")
	for k, part := range parts {
		es, err := v.readDir(cl, "/"+strings.Join(parts[:k], "/"))
		if err != nil {
			return e, nil, false, err
		}
		i := slices.IndexFunc(es, func(x entry) bool { return strings.EqualFold(x.name, part) })
		if i < 0 {
			return e, nil, false, fs.ErrNotExist
		}
		e = es[i]
		if k < len(parts)-1 && !e.dir {
			return e, nil, false, fs.ErrNotExist
		}
		if cl, err = v.clustersOf(e, "/"+strings.Join(parts[:k+1], "/")); err != nil {
			return e, nil, false, err
		}
	}
	return e, cl, false, nil
}

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
	e, _, _, err := f.v.lookup(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info{e, path.Base(name)}, nil
}

func (f volFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.path("readdir", name)
	if err != nil {
		return nil, err
	}
	e, cl, _, err := f.v.lookup(p)
	if err == nil && !e.dir {
		err = errors.New("not a directory")
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	es, err := f.v.readDir(cl, "/"+p)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return dirEntries(es), nil
}

func (f volFS) Open(name string) (fs.File, error) {
	p, err := f.path("open", name)
	if err != nil {
		return nil, err
	}
	e, cl, _, err := f.v.lookup(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	fi := info{e, path.Base(name)}
	if e.dir {
		es, err := f.v.readDir(cl, "/"+p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dirFile{fi: fi, entries: dirEntries(es)}, nil
	}
	if int64(len(cl))*f.v.ClusterBytes() < e.valid {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%d bytes of data in %d clusters", e.valid, len(cl))}
	}
	return &file{v: f.v, fi: fi, clusters: cl, name: "/" + p}, nil
}

func dirEntries(es []entry) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(es))
	for _, e := range es {
		out = append(out, fs.FileInfoToDirEntry(info{e, e.name}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// info is an entry as an fs.FileInfo.
type info struct {
	e    entry
	name string
}

func (i info) Name() string { return i.name }
func (i info) Size() int64 {
	if i.e.dir {
		return 0
	}
	return i.e.size
}
func (i info) Mode() fs.FileMode {
	if i.e.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i info) ModTime() time.Time { return i.e.modified }
func (i info) IsDir() bool        { return i.e.dir }
func (i info) Sys() any           { return nil }

// dirFile is an open directory.
type dirFile struct {
	fi      info
	entries []fs.DirEntry
	at      int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
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

// file is an open file.
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
		offset += f.fi.e.size
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek %s to %d: %w", f.name, offset, fs.ErrInvalid)
	}
	f.off = offset
	return offset, nil
}

// ReadAt reads the file's bytes at off: runs of clusters that follow each
// other at once, zeros past the valid data length.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	size, valid := f.fi.e.size, f.fi.e.valid
	cb := f.v.ClusterBytes()
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= size {
			return done, io.EOF
		}
		want := min(int64(len(p)-done), size-pos)
		if pos >= valid {
			clear(p[done : done+int(want)])
			done += int(want)
			continue
		}
		want = min(want, valid-pos)
		k := pos / cb
		in := pos - k*cb
		end := k
		for (end+1-k)*cb-in < want && f.clusters[end+1] == f.clusters[end]+1 {
			end++
		}
		n := min(want, (end+1-k)*cb-in)
		c := f.clusters[k]
		if _, err := f.v.R.ReadAt(p[done:done+int(n)], f.v.ClusterOff(c)+in); err != nil {
			return done, fmt.Errorf("read %s at cluster %d: %w", f.name, c, err)
		}
		done += int(n)
	}
	return done, nil
}
