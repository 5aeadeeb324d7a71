package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/exfat"
	"github.com/lifeboat-dev/lifeboat/pkg/fatfs"
	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// Spill holds a plan's spill stores (layout.Spill): sparse files in a
// scratch directory that keep the ends of file systems being shrunk
// between the restore and the shrink. Close removes them.
type Spill struct {
	Dir   string // where the stores are
	files map[int]*os.File
	lens  map[int]int64
}

// spillMargin is scratch space kept free beyond what the spill stores
// hold (their file systems' own blocks).
const spillMargin = 16 << 20

// NewSpill makes the spill stores of plan p in the first of dirs that is
// writable and has room; nil when the plan has none. It fails, saying how
// much is needed and what each directory has, when none does.
func NewSpill(dirs []string, p *layout.Plan) (*Spill, error) {
	if len(p.Spill) == 0 {
		return nil, nil
	}
	need := p.Scratch() + spillMargin
	var tried []string
	dir := ""
	for _, d := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", d, err))
			continue
		}
		free := int64(st.Bavail) * st.Bsize
		switch {
		case st.Flags&unix.ST_RDONLY != 0:
			tried = append(tried, d+" is read-only")
		case free < need:
			tried = append(tried, fmt.Sprintf("%s has %s free", d, units.Bytes(free)))
		default:
			dir = d
		}
		if dir != "" {
			break
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("shrinking file systems needs %s of scratch space for their ends until they are shrunk; %s: choose a scratch directory with room (--scratch)",
			units.Bytes(need), strings.Join(tried, ", "))
	}
	s := &Spill{Dir: dir, files: map[int]*os.File{}, lens: map[int]int64{}}
	for _, sp := range p.Spill {
		f, err := os.CreateTemp(dir, fmt.Sprintf("lifeboat-spill-%d-", sp.Part))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("scratch space: %w", err)
		}
		os.Remove(f.Name()) // it lives while it is open
		if err := f.Truncate(sp.Len); err != nil {
			f.Close()
			s.Close()
			return nil, fmt.Errorf("scratch space: %w", err)
		}
		s.files[sp.Part] = f
		s.lens[sp.Part] = sp.Len
	}
	return s, nil
}

// Close removes the spill stores.
func (s *Spill) Close() error {
	if s == nil {
		return nil
	}
	for n, f := range s.files {
		f.Close()
		delete(s.files, n)
	}
	return nil
}

func (s *Spill) store(part int) (*os.File, error) {
	if s != nil {
		if f, ok := s.files[part]; ok {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no scratch store for partition %d: the plan shrinks it, and the restore was given no scratch space", part)
}

// check makes sure every spill store the plan names is here.
func (s *Spill) check(p *layout.Plan) error {
	for _, sp := range p.Spill {
		if _, err := s.store(sp.Part); err != nil {
			return err
		}
	}
	return nil
}

// ShrinkFileSystems shrinks the file systems the plan restored into
// smaller partitions of the target at path, each from its partition and
// its spill store: FAT by moving its clusters (package fatfs), ext2/3/4
// and NTFS by their tools on a device-mapper device joining the two, swap
// with a new header. A file system not shrunk is an error: it does not
// fit its partition.
func ShrinkFileSystems(ctx context.Context, path string, p *layout.Plan, s *Spill, tr *progress.Tracker) (changes []string, err error) {
	shrunk := p.Shrunk()
	if len(shrunk) == 0 {
		return nil, nil
	}
	tr.Start("shrinking file systems", int64(len(shrunk)))
	for _, pt := range shrunk {
		if err := ctx.Err(); err != nil {
			return changes, err
		}
		what := fmt.Sprintf("partition %d (%s)", pt.Number, pt.Src.FileSystem)
		done, err := shrinkOne(ctx, path, pt, s)
		tr.Add(1)
		if err != nil {
			return changes, fmt.Errorf("shrink %s from %s to %s: %w", what, units.Bytes(pt.Src.Size), units.Bytes(pt.Size), err)
		}
		changes = append(changes, fmt.Sprintf("%s shrunk from %s to %s %s", what, units.Bytes(pt.Src.Size), units.Bytes(pt.Size), done))
	}
	return changes, nil
}

func shrinkOne(ctx context.Context, path string, pt layout.Part, s *Spill) (string, error) {
	if pt.Src.FileSystem == "swap" {
		l, err := fsresize.Loop(path, pt.Start, pt.Size)
		if err != nil {
			return "", err
		}
		defer l.Close()
		return fsresize.Grow(ctx, l.Path, "swap")
	}
	f, err := s.store(pt.Number)
	if err != nil {
		return "", err
	}
	switch pt.Src.FileSystem {
	case "vfat":
		return shrinkFAT(path, pt, f, s.lens[pt.Number])
	case "exfat":
		return shrinkExfat(path, pt, f, s.lens[pt.Number])
	}
	part, err := fsresize.Loop(path, pt.Start, pt.Size)
	if err != nil {
		return "", err
	}
	defer part.Close()
	rest, err := fsresize.Loop(filepath.Join("/proc/self/fd", fmt.Sprint(f.Fd())), 0, s.lens[pt.Number])
	if err != nil {
		return "", err
	}
	defer rest.Close()
	dm, err := fsresize.Concat(fmt.Sprintf("lifeboat-shrink-%d-%d", os.Getpid(), pt.Number),
		[]fsresize.Part{{Dev: part.Path, Size: pt.Size}, {Dev: rest.Path, Size: s.lens[pt.Number]}})
	if err != nil {
		return "", err
	}
	done, err := fsresize.Shrink(ctx, dm.Path, pt.Src.FileSystem, pt.Size)
	if cerr := dm.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return done, err
}

// joined is a partition of a file followed by a spill store, as one
// volume.
type joined struct {
	a    *os.File
	off  int64 // the partition's start in a
	size int64 // the partition's size
	b    *os.File
}

func (j *joined) do(p []byte, off int64, op func(*os.File, []byte, int64) (int, error)) (int, error) {
	done := 0
	for len(p) > 0 {
		f, at, n := j.a, j.off+off, int64(len(p))
		if off >= j.size {
			f, at = j.b, off-j.size
		} else {
			n = min(n, j.size-off)
		}
		k, err := op(f, p[:n], at)
		done += k
		if err != nil {
			return done, err
		}
		p, off = p[n:], off+n
	}
	return done, nil
}

func (j *joined) ReadAt(p []byte, off int64) (int, error) {
	return j.do(p, off, func(f *os.File, b []byte, at int64) (int, error) {
		n, err := f.ReadAt(b, at)
		if err == io.EOF && n == len(b) {
			err = nil
		}
		return n, err
	})
}

func (j *joined) WriteAt(p []byte, off int64) (int, error) {
	return j.do(p, off, (*os.File).WriteAt)
}

// shrinkFAT and shrinkExfat move the FAT or exFAT volume's clusters past
// the partition's end into it and make the volume the partition's size,
// working on the partition and its spill store joined.
func shrinkFAT(path string, pt layout.Part, spill *os.File, spillLen int64) (string, error) {
	return shrinkJoined(path, pt, spill, func(j *joined, sync func() error) (int64, error) {
		v, err := fatfs.Open(j, pt.Size+spillLen)
		if err != nil {
			return 0, err
		}
		v.Sync = sync
		err = v.Shrink(j, pt.Size)
		return v.G.Clusters, err
	})
}

func shrinkExfat(path string, pt layout.Part, spill *os.File, spillLen int64) (string, error) {
	return shrinkJoined(path, pt, spill, func(j *joined, _ func() error) (int64, error) {
		v, err := exfat.Parse(j, pt.Size+spillLen)
		if err != nil {
			return 0, err
		}
		err = v.Shrink(j, pt.Size)
		return v.Clusters, err
	})
}

// shrinkJoined opens the target at path, joins partition pt and its spill
// store, runs shrink on them (which returns the cluster count it leaves)
// and syncs.
func shrinkJoined(path string, pt layout.Part, spill *os.File, shrink func(*joined, func() error) (int64, error)) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := shrink(&joined{a: f, off: pt.Start, size: pt.Size, b: spill}, f.Sync)
	if err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", path, err)
	}
	return fmt.Sprintf("by moving the clusters past its new end into it (%d clusters now)", n), nil
}
