package imagemount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// CopyOptions say how Copy copies.
type CopyOptions struct {
	// Recursive copies directories with everything in them; without it a
	// directory is refused.
	Recursive bool
	// Progress counts the bytes copied, of the total (nil: none).
	Progress *progress.Tracker
}

// CopySummary is what Copy did.
type CopySummary struct {
	Files int   `json:"files"`
	Dirs  int   `json:"dirs"`
	Links int   `json:"links"`
	Bytes int64 `json:"bytes"`
	// Failed lists the files that could not be copied (an unreadable
	// chunk under them, say), each with its error; nothing of them is
	// left at the destination.
	Failed []CopyFailure `json:"failed,omitempty"`
}

// CopyFailure is a file Copy could not copy.
type CopyFailure struct {
	Path string `json:"path"`
	Err  string `json:"error"`
}

// ErrNoSpace is wrapped by Copy when the destination has too little room.
var ErrNoSpace = errors.New("not enough free space")

// ErrExists is wrapped by Copy when something is in the way at the
// destination: Copy never overwrites.
var ErrExists = errors.New("already exists at the destination")

// Copy copies the entries srcs (slash-separated paths in fsys) into dest:
// into the directory dest when it is one, or as dest when there is one
// source and dest does not exist. Contents, permissions and times are
// kept, symbolic links are made as links, owners are kept where the
// destination allows it (root, a file system with owners). Before anything
// is written it checks that dest has room for all of it and that nothing
// is in the way. A file that cannot be read is left out (its partial copy
// removed), listed in CopySummary.Failed, and the copy goes on; the error
// returned then says how many failed. When ctx ends Copy stops, removing
// the file under way.
func Copy(ctx context.Context, fsys fs.FS, srcs []string, dest string, opt CopyOptions) (CopySummary, error) {
	var sum CopySummary
	if len(srcs) == 0 {
		return sum, errors.New("copy: nothing to copy")
	}
	destIsDir := false
	if st, err := os.Stat(dest); err == nil {
		destIsDir = st.IsDir()
		if !destIsDir {
			return sum, fmt.Errorf("copy to %s: %w", dest, ErrExists)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return sum, fmt.Errorf("copy to %s: %w", dest, err)
	} else if len(srcs) > 1 {
		return sum, fmt.Errorf("copy %d entries to %s: it must be an existing directory", len(srcs), dest)
	}
	type job struct{ src, dst string }
	var jobs []job
	var total int64
	for _, s := range srcs {
		s = strings.Trim(path.Clean("/"+s), "/")
		if s == "" {
			s = "."
		}
		fi, err := fs.Stat(fsys, s)
		if err != nil {
			return sum, fmt.Errorf("copy %s: %w", s, err)
		}
		if fi.IsDir() && !opt.Recursive {
			return sum, fmt.Errorf("copy %s: it is a directory (copy it with everything in it with -r)", s)
		}
		dst := dest
		if destIsDir {
			base := path.Base(s)
			if s == "." {
				base = "root"
			}
			dst = filepath.Join(dest, base)
		}
		if _, err := os.Lstat(dst); err == nil {
			return sum, fmt.Errorf("copy %s to %s: %w", s, dst, ErrExists)
		}
		n, err := sizeOf(fsys, s)
		if err != nil {
			return sum, fmt.Errorf("copy %s: %w", s, err)
		}
		total += n
		jobs = append(jobs, job{s, dst})
	}
	room := filepath.Dir(dest)
	if destIsDir {
		room = dest
	}
	var st unix.Statfs_t
	if err := unix.Statfs(room, &st); err != nil {
		return sum, fmt.Errorf("copy to %s: %w", dest, err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < total {
		return sum, fmt.Errorf("copy %s to %s: %w: it needs %d bytes, %d are free", strings.Join(srcs, ", "), room, ErrNoSpace, total, free)
	}
	opt.Progress.Start("copy", total)
	c := copier{ctx: ctx, fsys: fsys, opt: opt, sum: &sum}
	for _, j := range jobs {
		if err := c.entry(j.src, j.dst); err != nil {
			return sum, err
		}
	}
	if len(sum.Failed) > 0 {
		return sum, fmt.Errorf("copy: %d of %d files could not be read, and were left out; the first: %s: %s",
			len(sum.Failed), sum.Files+len(sum.Failed), sum.Failed[0].Path, sum.Failed[0].Err)
	}
	return sum, nil
}

// sizeOf is the bytes of the regular files at or under p.
func sizeOf(fsys fs.FS, p string) (int64, error) {
	var n int64
	err := fs.WalkDir(fsys, p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

type copier struct {
	ctx  context.Context
	fsys fs.FS
	opt  CopyOptions
	sum  *CopySummary
}

// entry copies src (a file, link or directory) to dst; only errors that
// stop the whole copy are returned.
func (c *copier) entry(src, dst string) error {
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("copy stopped before %s: %w", src, err)
	}
	fi, err := lstat(c.fsys, src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(c.fsys, src)
		if err != nil {
			c.failed(src, err)
			return nil
		}
		if err := os.Symlink(target, dst); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		keepOwner(dst, fi, true)
		ts := []unix.Timespec{unix.NsecToTimespec(fi.ModTime().UnixNano()), unix.NsecToTimespec(fi.ModTime().UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy %s: times of the link %s: %w", src, dst, err)
		}
		c.sum.Links++
		return nil
	case fi.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		es, err := fs.ReadDir(c.fsys, src)
		if err != nil {
			c.failed(src, err)
		}
		for _, e := range es {
			if err := c.entry(path.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		c.sum.Dirs++
		return keep(dst, fi)
	case fi.Mode().IsRegular():
		return c.file(src, dst, fi)
	}
	c.failed(src, fmt.Errorf("a %s, not copied", fi.Mode().Type()))
	return nil
}

// lstat is fs.Lstat where fsys has it (os.DirFS), fs.Stat otherwise.
func lstat(fsys fs.FS, name string) (fs.FileInfo, error) {
	if l, ok := fsys.(fs.ReadLinkFS); ok {
		return l.Lstat(name)
	}
	return fs.Stat(fsys, name)
}

func (c *copier) failed(src string, err error) {
	c.sum.Failed = append(c.sum.Failed, CopyFailure{Path: src, Err: err.Error()})
}

// file copies one regular file through a temporary name in dst's
// directory, renamed when whole.
func (c *copier) file(src, dst string, fi fs.FileInfo) error {
	in, err := c.fsys.Open(src)
	if err != nil {
		c.failed(src, err)
		return nil
	}
	defer in.Close()
	tmp := filepath.Join(filepath.Dir(dst), ".lifeboat-partial-"+filepath.Base(dst))
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	n, err := c.copyData(out, in)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		var werr *writeError
		if errors.As(err, &werr) || c.ctx.Err() != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		c.opt.Progress.Add(fi.Size() - n) // what was not copied still counts as done
		c.failed(src, err)
		return nil
	}
	if err := keep(tmp, fi); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	c.sum.Files++
	c.sum.Bytes += n
	return nil
}

// writeError is a failure to write the destination, which stops the
// copy (a full disk), unlike a failure to read the source.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copyData copies in to out in 1 MiB pieces, counting progress and
// stopping when ctx ends.
func (c *copier) copyData(out *os.File, in io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := c.opt.Progress.Begin(c.ctx); err != nil {
			return n, err
		}
		k, rerr := in.Read(buf)
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				c.opt.Progress.End()
				return n, &writeError{err}
			}
			n += int64(k)
			c.opt.Progress.Add(int64(k))
		}
		c.opt.Progress.End()
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// keep sets dst's permissions, times and (where it can) owner from fi.
func keep(dst string, fi fs.FileInfo) error {
	keepOwner(dst, fi, false)
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	t := fi.ModTime()
	if t.IsZero() {
		t = time.Now()
	}
	if err := os.Chtimes(dst, t, t); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// keepOwner gives dst fi's owner when fi has one and this process may;
// a destination without owners (FAT) refusing is no error.
func keepOwner(dst string, fi fs.FileInfo, link bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	if link {
		os.Lchown(dst, int(st.Uid), int(st.Gid))
		return
	}
	os.Chown(dst, int(st.Uid), int(st.Gid))
}
