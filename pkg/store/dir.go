package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is a store in a directory of a file system.
type Dir struct {
	Path string
}

var _ Store = Dir{}

// file is the path of object key, which must be a clean relative key.
func (d Dir) file(key string) (string, error) {
	if key == "" || !fs.ValidPath(strings.TrimSuffix(key, "/")) {
		return "", fmt.Errorf("object key %q: %w", key, fs.ErrInvalid)
	}
	return filepath.Join(d.Path, filepath.FromSlash(key)), nil
}

// Location is the directory.
func (d Dir) Location() string { return d.Path }

// Get reads object key.
func (d Dir) Get(ctx context.Context, key string, buf []byte, max int64) ([]byte, error) {
	p, err := d.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	n := st.Size()
	if n > max {
		return nil, fmt.Errorf("read %s: %d bytes: %w (%d)", p, n, ErrTooLarge, max)
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return buf, nil
}

// Stat returns the size of object key.
func (d Dir) Stat(ctx context.Context, key string) (int64, error) {
	p, err := d.file(key)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("look up %s: %w", p, err)
	}
	return st.Size(), nil
}

// List lists the names under prefix; temporary files are left out.
func (d Dir) List(ctx context.Context, prefix string) ([]string, error) {
	p := d.Path
	if prefix != "" {
		var err error
		if p, err = d.file(prefix); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, tmpPrefix) {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// tmpPrefix starts the names of objects being written.
const tmpPrefix = ".tmp-"

// Put writes object key through a temporary file renamed into place
// without replacing anything (renameat2 RENAME_NOREPLACE, or a hard link
// where the file system lacks it). Durability is the caller's: sync the
// file system when the objects must survive a power cut.
func (d Dir) Put(ctx context.Context, key string, data []byte) (bool, error) {
	p, err := d.file(key)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("store %s: %w", key, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("store %s: %w", key, err)
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, p, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = os.Link(tmp, p) // no RENAME_NOREPLACE here: a link does not replace either
		os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		return false, nil
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("store %s: %w", key, err)
	}
	return true, nil
}
