package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits that bound everything read from sysfs and /proc.
const (
	maxAttrSize    = 4096      // a sysfs attribute (size, dev, model, ...)
	maxVPDSize     = 4 + 65535 // a VPD page: 4-byte header and a 16-bit length
	maxDirEntries  = 4096      // entries read from one directory
	maxLinkHops    = 40        // symbolic links followed while resolving a path
	maxTableSize   = 64 << 20  // /proc/self/mountinfo or /proc/swaps
	maxTableLine   = 1 << 20   // one line of those tables
	maxStackDepth  = 16        // dm/md/loop levels followed through holders and slaves
	maxAncestorHop = 64        // directories walked up looking for a USB device
)

// sysfs reads a sysfs tree through an os.Root, so no path and no symbolic
// link can lead outside the tree. Every path given to its methods is relative
// to the root and slash-separated ("block/sda/size").
type sysfs struct {
	dir  string // the root as given, used in error messages
	root *os.Root
}

func openSysfs(dir string) (*sysfs, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, pathError("open", dir, err)
	}
	return &sysfs{dir: dir, root: r}, nil
}

func (s *sysfs) close() { s.root.Close() }

// display is the path as shown in errors: the root joined with rel.
func (s *sysfs) display(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

// pathError returns an *fs.PathError for op on p, unwrapping an *fs.PathError
// in err first so the message names the path once.
func pathError(op, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// resolve returns rel with every symbolic link replaced by its target, as a
// clean slash-separated path relative to the root with no leading slash ("" is
// the root itself). ".." never climbs above the root and an absolute link is
// an error, so the result always names something inside the tree.
func (s *sysfs) resolve(rel string) (string, error) {
	var done []string
	todo := splitPath(rel)
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := path.Join(append(append([]string(nil), done...), c)...)
		fi, err := s.root.Lstat(cand)
		if err != nil {
			return "", pathError("resolve", s.display(rel), err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", pathError("resolve", s.display(rel), errors.New("too many levels of symbolic links"))
		}
		target, err := s.root.Readlink(cand)
		if err != nil {
			return "", pathError("resolve", s.display(rel), err)
		}
		if strings.HasPrefix(target, "/") {
			return "", pathError("resolve", s.display(rel), fmt.Errorf("%s is an absolute symbolic link (%s)", cand, target))
		}
		todo = append(splitPath(target), todo...)
	}
	return strings.Join(done, "/"), nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// readLimited reads at most max bytes of rel; a longer file is an error.
func (s *sysfs) readLimited(rel string, max int) ([]byte, error) {
	f, err := s.root.Open(rel)
	if err != nil {
		return nil, pathError("read", s.display(rel), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, pathError("read", s.display(rel), err)
	}
	if len(b) > max {
		return nil, pathError("read", s.display(rel), fmt.Errorf("longer than %d bytes", max))
	}
	return b, nil
}

// readOptional reads rel like readLimited; a file that does not exist, or
// whose read the kernel refuses because the device does not provide the
// value, gives ok=false and no error.
func (s *sysfs) readOptional(rel string, max int) (b []byte, ok bool, err error) {
	b, err = s.readLimited(rel, max)
	if errors.Is(err, fs.ErrNotExist) || notProvided(err) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// notProvided reports whether err is how a sysfs attribute says the device
// has no such value: a CD drive's wwid reads ENXIO, a USB bridge's VPD
// page EINVAL or EIO, a failing disk's anything EIO. One disk's missing
// detail must not hide every disk.
func notProvided(err error) bool {
	return errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EIO)
}

// str reads an optional text attribute, trimmed of white space and NULs.
func (s *sysfs) str(rel string) (string, error) {
	b, _, err := s.readOptional(rel, maxAttrSize)
	if err != nil {
		return "", err
	}
	return cleanString(b), nil
}

func cleanString(b []byte) string {
	return strings.Trim(string(b), " \t\r\n\x00")
}

// int64Attr reads a decimal attribute. A missing file gives ok=false unless
// required, when it is an error like any malformed value.
func (s *sysfs) int64Attr(rel string, required bool) (v int64, ok bool, err error) {
	var b []byte
	if required {
		b, err = s.readLimited(rel, maxAttrSize)
	} else {
		b, ok, err = s.readOptional(rel, maxAttrSize)
		if err != nil || !ok {
			return 0, false, err
		}
	}
	if err != nil {
		return 0, false, err
	}
	v, err = strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, false, pathError("parse", s.display(rel), err)
	}
	return v, true, nil
}

// boolAttr reads an optional "0"/"1" attribute; missing is false.
func (s *sysfs) boolAttr(rel string) (bool, error) {
	v, ok, err := s.int64Attr(rel, false)
	return ok && v != 0, err
}

// sectors reads a required attribute counted in 512-byte sectors and returns
// bytes.
func (s *sysfs) sectors(rel string) (int64, error) {
	v, _, err := s.int64Attr(rel, true)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > (1<<63-1)/512 {
		return 0, pathError("parse", s.display(rel), fmt.Errorf("%d sectors out of range", v))
	}
	return v * 512, nil
}

// devNumber reads a "MAJ:MIN" attribute such as block/sda/dev.
func (s *sysfs) devNumber(rel string) (devNum, error) {
	b, err := s.readLimited(rel, maxAttrSize)
	if err != nil {
		return devNum{}, err
	}
	n, err := parseDevNum(string(bytes.TrimSpace(b)))
	if err != nil {
		return devNum{}, pathError("parse", s.display(rel), err)
	}
	return n, nil
}

func (s *sysfs) exists(rel string) (bool, error) {
	_, err := s.root.Stat(rel)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, pathError("stat", s.display(rel), err)
}

// lexists is like exists but does not follow a final symbolic link.
func (s *sysfs) lexists(rel string) (bool, error) {
	_, err := s.root.Lstat(rel)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, pathError("stat", s.display(rel), err)
}

// entry is one directory entry: its name and whether it is a directory (not
// following symbolic links).
type entry struct {
	name string
	dir  bool
}

// list reads the entries of directory rel, sorted by name. A directory that
// does not exist has no entries: git does not keep the empty holders/ and
// slaves/ directories of the fixture trees.
func (s *sysfs) list(rel string) ([]entry, error) {
	f, err := s.root.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathError("read", s.display(rel), err)
	}
	defer f.Close()
	des, err := f.ReadDir(maxDirEntries + 1)
	if err != nil && err != io.EOF {
		return nil, pathError("read", s.display(rel), err)
	}
	if len(des) > maxDirEntries {
		return nil, pathError("read", s.display(rel), fmt.Errorf("more than %d entries", maxDirEntries))
	}
	out := make([]entry, 0, len(des))
	for _, de := range des {
		out = append(out, entry{name: de.Name(), dir: de.IsDir()})
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// names returns the names of the entries of directory rel.
func (s *sysfs) names(rel string) ([]string, error) {
	es, err := s.list(rel)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.name)
	}
	return out, nil
}

// devNum is a device number.
type devNum struct{ major, minor uint32 }

func (n devNum) String() string { return fmt.Sprintf("%d:%d", n.major, n.minor) }

func parseDevNum(s string) (devNum, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return devNum{}, fmt.Errorf("device number %q is not MAJ:MIN", s)
	}
	maj, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return devNum{}, fmt.Errorf("device number %q: %w", s, err)
	}
	min, err := strconv.ParseUint(b, 10, 32)
	if err != nil {
		return devNum{}, fmt.Errorf("device number %q: %w", s, err)
	}
	return devNum{uint32(maj), uint32(min)}, nil
}
