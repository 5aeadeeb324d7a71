package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/store"
)

// FormatVersion is the repository layout version.
const FormatVersion = 1

const (
	configName   = "lifeboat-repo.json"
	chunksDir    = "chunks"
	imagesDir    = "images"
	manifestExt  = ".lbi"
	chunkExt     = ".zst"
	maxManifest  = 1 << 30
	prefixDigits = 3
	tmpPrefix    = ".tmp-"
)

// Config is the repository's lifeboat-repo.json.
type Config struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Hash    string    `json:"hash"`
	Layout  string    `json:"chunk_layout"`
}

// Repo is an open repository.
type Repo struct {
	dir    string      // the directory, or the URL of a remote repository
	remote store.Store // nil for a directory

	mu      sync.Mutex
	newDirs map[string]bool // chunk directories made by this process
}

// ErrNotRepository means the directory holds no Lifeboat repository.
var ErrNotRepository = errors.New("not a Lifeboat repository")

// noDirError says that a repository's directory does not exist; it is an
// os.ErrNotExist and an ErrNotRepository.
type noDirError struct{}

func (noDirError) Error() string { return "no such directory" }
func (noDirError) Is(target error) bool {
	return target == os.ErrNotExist || target == ErrNotRepository
}

// Open opens an existing repository. A directory that does not exist is
// "no such directory" (an os.ErrNotExist, and an ErrNotRepository like one
// without a repository configuration).
func Open(dir string) (*Repo, error) {
	if IsRemote(dir) {
		return openRemote(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if err != nil {
		if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("open repository %s: %w", dir, noDirError{})
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open repository %s: %w (no %s)", dir, ErrNotRepository, configName)
		}
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil || c.Format != "lifeboat-repository" {
		return nil, fmt.Errorf("open repository %s: %w (%s is not a Lifeboat repository configuration)", dir, ErrNotRepository, configName)
	}
	if c.Version != FormatVersion {
		return nil, fmt.Errorf("open repository %s: layout version %d, this Lifeboat reads version %d", dir, c.Version, FormatVersion)
	}
	return &Repo{dir: dir, newDirs: map[string]bool{}}, nil
}

// Create opens the repository in dir, creating it (and dir) when there is
// none. It refuses a non-empty directory that is not a repository.
func Create(dir string) (*Repo, error) {
	if IsRemote(dir) {
		return nil, fmt.Errorf("create repository %s: %w (repositories on web servers are read-only)", dir, ErrReadOnly)
	}
	r, err := Open(dir)
	if err == nil || !errors.Is(err, ErrNotRepository) {
		return r, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create repository %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("create repository %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() != "lost+found" && e.Name() != chunksDir && e.Name() != imagesDir {
			return nil, fmt.Errorf("create repository in %s: the directory is not empty and holds no %s; choose an empty or new directory", dir, configName)
		}
	}
	for _, d := range []string{chunksDir, imagesDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", dir, err)
		}
	}
	c := Config{Format: "lifeboat-repository", Version: FormatVersion, Created: time.Now().UTC(), Hash: "sha256",
		Layout: "chunks/<first 3 hex digits>/<sha256 hex>.zst"}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, configName), append(b, '\n'), false); err != nil {
		return nil, fmt.Errorf("create repository %s: %w", dir, err)
	}
	return &Repo{dir: dir, newDirs: map[string]bool{}}, nil
}

// Dir is the repository's directory, or its URL.
func (r *Repo) Dir() string { return r.dir }

// ChunkPath is the path of a chunk object, relative to the repository.
func ChunkPath(id image.Hash) string {
	h := id.String()
	return chunksDir + "/" + h[:prefixDigits] + "/" + h + chunkExt
}

// ManifestPath is the path of an image's manifest, relative to the repository.
func ManifestPath(name string) string { return imagesDir + "/" + name + manifestExt }

// ChunkSize reports a chunk's stored size, and whether it is present.
func (r *Repo) ChunkSize(id image.Hash) (int64, bool, error) {
	if r.remote != nil {
		n, err := r.remote.Stat(context.Background(), ChunkPath(id))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && n == 0) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("look up chunk %s: %w", id, err)
		}
		return n, true, nil
	}
	st, err := os.Stat(filepath.Join(r.dir, ChunkPath(id)))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("look up chunk %s: %w", id, err)
	}
	if st.Size() == 0 {
		// An empty chunk file is what a crash between create and write
		// leaves behind; treat it as absent so it is written again.
		return 0, false, nil
	}
	return st.Size(), true, nil
}

// PutChunk stores a compressed chunk under id unless it is already
// there. It reports whether it wrote it. The chunk is durable only after
// Sync.
func (r *Repo) PutChunk(id image.Hash, compressed []byte) (bool, error) {
	if r.remote != nil {
		return false, r.readOnly("store chunk " + id.String())
	}
	rel := ChunkPath(id)
	p := filepath.Join(r.dir, rel)
	if _, ok, err := r.ChunkSize(id); err != nil || ok {
		return false, err
	}
	dir := filepath.Dir(p)
	if err := r.ensureDir(dir); err != nil {
		return false, fmt.Errorf("store chunk %s: %w", id, err)
	}
	if err := writeFileAtomic(p, compressed, false); err != nil {
		return false, fmt.Errorf("store chunk %s: %w", id, err)
	}
	return true, nil
}

func (r *Repo) ensureDir(dir string) error {
	r.mu.Lock()
	done := r.newDirs[dir]
	r.mu.Unlock()
	if done {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.mu.Lock()
	r.newDirs[dir] = true
	r.mu.Unlock()
	return nil
}

// ErrMissingChunk is wrapped by errors for chunks that are not in the
// repository.
var ErrMissingChunk = errors.New("chunk missing from repository")

// ReadChunk reads a chunk's compressed bytes into buf (grown as needed).
// maxStored bounds the size accepted.
func (r *Repo) ReadChunk(id image.Hash, buf []byte, maxStored int64) ([]byte, error) {
	if r.remote != nil {
		b, err := r.remoteGet(ChunkPath(id), buf, maxStored)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("chunk %s: %w (%s)", id, ErrMissingChunk, ChunkPath(id))
		case errors.Is(err, store.ErrTooLarge):
			return nil, &ChunkError{ID: id, Problem: fmt.Sprintf("stored size exceeds the largest possible %d", maxStored)}
		case err != nil:
			return nil, fmt.Errorf("read chunk %s: %w", id, err)
		}
		return b, nil
	}
	f, err := os.Open(filepath.Join(r.dir, ChunkPath(id)))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("chunk %s: %w (%s)", id, ErrMissingChunk, ChunkPath(id))
		}
		return nil, fmt.Errorf("open chunk %s: %w", id, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat chunk %s: %w", id, err)
	}
	if st.Size() > maxStored {
		return nil, &ChunkError{ID: id, Problem: fmt.Sprintf("stored size %d exceeds the largest possible %d", st.Size(), maxStored)}
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", id, err)
	}
	return buf, nil
}

// Sync makes every chunk written so far durable: it flushes the file
// system holding the repository and the chunk directories this process
// created.
func (r *Repo) Sync() error {
	if r.remote != nil {
		return r.readOnly("sync")
	}
	r.mu.Lock()
	dirs := make([]string, 0, len(r.newDirs))
	for d := range r.newDirs {
		dirs = append(dirs, d)
	}
	r.mu.Unlock()
	f, err := os.Open(r.dir)
	if err != nil {
		return fmt.Errorf("sync repository %s: %w", r.dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync repository %s: %w", r.dir, err)
	}
	for _, d := range append(dirs, filepath.Join(r.dir, chunksDir)) {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("sync repository %s: %w", r.dir, err)
		}
	}
	return nil
}

// ErrImageExists is returned when an image name is taken.
var ErrImageExists = errors.New("an image of that name already exists")

// ErrNoImage is returned for an image name that is not in the repository.
var ErrNoImage = errors.New("no such image")

// HasImage reports whether an image of that name exists.
func (r *Repo) HasImage(name string) (bool, error) {
	if r.remote != nil {
		_, err := r.remote.Stat(context.Background(), ManifestPath(name))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up image %s: %w", name, err)
		}
		return true, nil
	}
	_, err := os.Stat(filepath.Join(r.dir, ManifestPath(name)))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("look up image %s: %w", name, err)
}

// PutManifest writes an encoded manifest durably under name. Call Sync
// first so the chunks it names are durable. It never replaces an image.
func (r *Repo) PutManifest(name string, data []byte) error {
	if r.remote != nil {
		return r.readOnly("write image " + name)
	}
	if err := image.ValidName(name); err != nil {
		return err
	}
	p := filepath.Join(r.dir, ManifestPath(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write image %s: %w", name, err)
	}
	if err := writeFileAtomic(p, data, true); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("write image %s: %w", name, ErrImageExists)
		}
		return fmt.Errorf("write image %s: %w", name, err)
	}
	return nil
}

// ReadManifest reads and decodes an image's manifest.
func (r *Repo) ReadManifest(name string) (*image.Manifest, error) {
	if err := image.ValidName(name); err != nil {
		return nil, err
	}
	p := filepath.Join(r.dir, ManifestPath(name))
	var b []byte
	if r.remote != nil {
		p = r.dir + "/" + ManifestPath(name)
		var err error
		b, err = r.remoteGet(ManifestPath(name), nil, maxManifest)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, r.noImage(name)
		case errors.Is(err, store.ErrTooLarge):
			return nil, fmt.Errorf("image %s: manifest larger than %d bytes", name, maxManifest)
		case err != nil:
			return nil, fmt.Errorf("read image %s: %w", name, err)
		}
	} else {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, r.noImage(name)
			}
			return nil, fmt.Errorf("read image %s: %w", name, err)
		}
		defer f.Close()
		b, err = io.ReadAll(io.LimitReader(f, maxManifest+1))
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", name, err)
		}
		if len(b) > maxManifest {
			return nil, fmt.Errorf("image %s: manifest larger than %d bytes", name, maxManifest)
		}
	}
	m, err := image.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("image %s (%s): %w", name, p, err)
	}
	if m.Name != name {
		return nil, fmt.Errorf("image %s (%s): %w: manifest says its name is %q", name, p, image.ErrFormat, m.Name)
	}
	return m, nil
}

// noImage says that there is no image name, and which images there are
// (the first 20).
func (r *Repo) noImage(name string) error {
	names, err := r.Images()
	switch {
	case err != nil:
		return fmt.Errorf("image %s in %s: %w", name, r.dir, ErrNoImage)
	case len(names) == 0:
		return fmt.Errorf("image %s in %s: %w (the repository holds no images)", name, r.dir, ErrNoImage)
	case len(names) > 20:
		return fmt.Errorf("image %s in %s: %w; the images are %s and %d more", name, r.dir, ErrNoImage, strings.Join(names[:20], ", "), len(names)-20)
	}
	return fmt.Errorf("image %s in %s: %w; the images are %s", name, r.dir, ErrNoImage, strings.Join(names, ", "))
}

// Images lists the image names in the repository, sorted.
func (r *Repo) Images() ([]string, error) {
	var all []string
	if r.remote != nil {
		var err error
		if all, err = r.remote.List(context.Background(), imagesDir+"/"); err != nil {
			return nil, fmt.Errorf("list images in %s: %w", r.dir, err)
		}
	} else {
		ents, err := os.ReadDir(filepath.Join(r.dir, imagesDir))
		if err != nil {
			return nil, fmt.Errorf("list images in %s: %w", r.dir, err)
		}
		for _, e := range ents {
			all = append(all, e.Name())
		}
	}
	var names []string
	for _, n := range all {
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, manifestExt) {
			continue
		}
		n = strings.TrimSuffix(n, manifestExt)
		if image.ValidName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place. With durable, the file and its directory are synced, and
// an existing path is never replaced (os.ErrExist).
func writeFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data, durable)
	if err != nil {
		return err
	}
	if durable {
		err = renameNoReplace(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

// writeTemp writes data to a new temporary file in dir (synced when
// durable) and returns its path.
func writeTemp(dir string, data []byte, durable bool) (string, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// renameNoReplace renames without replacing an existing file. File systems
// without RENAME_NOREPLACE get a check before the rename.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return os.ErrExist
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		if _, serr := os.Lstat(to); serr == nil {
			return os.ErrExist
		}
		return os.Rename(from, to)
	default:
		return err
	}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
