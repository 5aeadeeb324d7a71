package repo

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
)

// Image is an image opened for random access: an io.ReaderAt over the
// whole captured disk. Every byte it returns comes from a chunk whose
// SHA-256 was checked. It keeps a few decoded extents cached and is safe
// for concurrent use.
type Image struct {
	repo  *Repo
	M     *image.Manifest
	codec *Codec

	mu    sync.Mutex
	cache []cached // most recently used last
}

type cached struct {
	i    int
	data []byte
}

const imageCacheExtents = 8

// OpenImage reads an image's manifest and opens it for reading.
func (r *Repo) OpenImage(name string, codec *Codec) (*Image, error) {
	m, err := r.ReadManifest(name)
	if err != nil {
		return nil, err
	}
	return &Image{repo: r, M: m, codec: codec}, nil
}

// Manifest is the image's manifest (M).
func (im *Image) Manifest() *image.Manifest { return im.M }

// Size is the captured disk's size.
func (im *Image) Size() int64 { return im.M.Disk.Size }

// Extent returns extent i decoded and checked, in buf when it is large
// enough. A hole reads as zeros.
func (im *Image) Extent(i int, buf, raw []byte) ([]byte, error) {
	off, n := im.M.ExtentRange(i)
	e := im.M.Extents[i]
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if e.Hole {
		clear(buf)
		return buf, nil
	}
	raw, err := im.repo.ReadChunk(e.ID, raw, MaxStored(n))
	if err != nil {
		var ce *ChunkError
		if errors.As(err, &ce) {
			ce.Offset = off
		}
		return nil, fmt.Errorf("extent %d at disk offset %d: %w", i, off, err)
	}
	return im.codec.Decompress(e.ID, off, buf, raw, int(n))
}

// ReadAt reads the captured disk's bytes at off.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	size := im.Size()
	if off < 0 {
		return 0, fmt.Errorf("read image %s at negative offset %d", im.M.Name, off)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= size {
			return done, io.EOF
		}
		i := int(pos / im.M.ExtentSize)
		data, err := im.cachedExtent(i)
		if err != nil {
			return done, err
		}
		done += copy(p[done:], data[pos-int64(i)*im.M.ExtentSize:])
	}
	return done, nil
}

func (im *Image) cachedExtent(i int) ([]byte, error) {
	im.mu.Lock()
	for k, c := range im.cache {
		if c.i == i {
			im.cache = append(append(im.cache[:k:k], im.cache[k+1:]...), c)
			im.mu.Unlock()
			return c.data, nil
		}
	}
	im.mu.Unlock()
	data, err := im.Extent(i, nil, nil)
	if err != nil {
		return nil, err
	}
	im.mu.Lock()
	if len(im.cache) >= imageCacheExtents {
		im.cache = im.cache[1:]
	}
	im.cache = append(im.cache, cached{i, data})
	im.mu.Unlock()
	return data, nil
}
