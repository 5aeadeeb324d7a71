package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/lifeboat-dev/lifeboat/pkg/clusterfs"
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

func (f volFS) Stat(name string) (fs.FileInfo, error) {
	p, err := clusterfs.Path("stat", name)
	if err != nil {
		return nil, err
	}
	e, _, _, err := f.v.lookup(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info(e, path.Base(name)), nil
}

func (f volFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := clusterfs.Path("readdir", name)
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
	p, err := clusterfs.Path("open", name)
	if err != nil {
		return nil, err
	}
	e, cl, _, err := f.v.lookup(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	fi := info(e, path.Base(name))
	if e.dir {
		es, err := f.v.readDir(cl, "/"+p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &clusterfs.Dir{Info: fi, Entries: dirEntries(es)}, nil
	}
	file := &clusterfs.File{R: f.v.R, Info: fi, Path: "/" + p, Clusters: cl, ClusterBytes: f.v.ClusterBytes(),
		Offset: f.v.ClusterOff, Valid: e.valid}
	if err := file.Check(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return file, nil
}

func info(e entry, name string) clusterfs.Info {
	return clusterfs.Info{Base: name, Bytes: e.size, IsFolder: e.dir, Modified: e.modified}
}

func dirEntries(es []entry) []fs.DirEntry {
	infos := make([]clusterfs.Info, 0, len(es))
	for _, e := range es {
		infos = append(infos, info(e, e.name))
	}
	return clusterfs.Entries(infos)
}
