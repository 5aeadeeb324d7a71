package imagemount

import (
	"container/list"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Extents is what Reader reads from: an image's extents, each decoded and
// checked. repo.Image is one.
type Extents interface {
	Size() int64
	// Extent returns extent i decoded and checked, in buf when it is large
	// enough; an error names the chunk and the disk offset.
	Extent(i int, buf, raw []byte) ([]byte, error)
}

// DefaultCacheBytes is the memory the decoded-extent cache may hold.
const DefaultCacheBytes = 256 << 20

// readAhead is how many extents past a sequential read are decoded ahead,
// by at most readAheadWorkers goroutines.
const (
	readAhead        = 4
	readAheadWorkers = 2
)

// Reader is an io.ReaderAt over an image with a cache of decoded extents,
// for browsing: a directory walk reads many small pieces close together,
// a file copy reads long runs. Extents read in sequence have the next
// ones decoded ahead in the background. A read that touches an extent
// that cannot be read or whose hash does not check fails with that
// extent's error, which OnError sees too; other reads are not affected,
// and the extent is tried again on the next read. Safe for concurrent
// use.
type Reader struct {
	src        Extents
	extentSize int64
	size       int64
	capacity   int // extents the cache holds
	// OnError, when set, is called for each failed extent read (not for
	// read-ahead), before the read returns the error.
	OnError func(error)

	mu      sync.Mutex
	lru     *list.List // of *slot, most recent at the front
	slots   map[int]*list.Element
	loading map[int]*load
	last    int // the extent read last
	ahead   chan struct{}
	pending sync.WaitGroup // read-ahead under way
	closed  bool

	hits, misses, failed atomic.Int64
}

type slot struct {
	i    int
	data []byte
}

type load struct {
	done chan struct{}
	data []byte
	err  error
}

// NewReader returns a Reader over src, whose extents are extentSize bytes
// (the last one may be shorter), caching up to cacheBytes of decoded
// extents (DefaultCacheBytes when 0; at least two extents).
func NewReader(src Extents, extentSize, cacheBytes int64) *Reader {
	if cacheBytes <= 0 {
		cacheBytes = DefaultCacheBytes
	}
	capacity := int(max(2, cacheBytes/extentSize))
	return &Reader{
		src: src, extentSize: extentSize, size: src.Size(), capacity: capacity,
		lru: list.New(), slots: map[int]*list.Element{}, loading: map[int]*load{},
		last: -2, ahead: make(chan struct{}, readAheadWorkers),
	}
}

// Size is the disk's size.
func (r *Reader) Size() int64 { return r.size }

// Stats says how many extent reads the cache answered, how many it had to
// decode, and how many failed.
func (r *Reader) Stats() (hits, misses, failed int64) {
	return r.hits.Load(), r.misses.Load(), r.failed.Load()
}

// MaxMemory is the most memory the Reader's buffers hold: the cache, the
// extents decoded ahead and one per concurrent reader.
func (r *Reader) MaxMemory(readers int) int64 {
	return int64(r.capacity+readAheadWorkers+readers) * r.extentSize
}

// ReadAt reads the disk's bytes at off.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= r.size {
			return done, io.EOF
		}
		i := int(pos / r.extentSize)
		data, err := r.extent(i, true)
		if err != nil {
			return done, err
		}
		done += copy(p[done:], data[pos-int64(i)*r.extentSize:])
	}
	return done, nil
}

// extent returns extent i, from the cache or decoded; a user's read (not
// read-ahead) counts in the stats and starts read-ahead when it follows
// the one before.
func (r *Reader) extent(i int, user bool) ([]byte, error) {
	r.mu.Lock()
	if user {
		if i == r.last+1 {
			r.readAheadLocked(i)
		}
		r.last = i
	}
	if e, ok := r.slots[i]; ok {
		r.lru.MoveToFront(e)
		data := e.Value.(*slot).data
		r.mu.Unlock()
		if user {
			r.hits.Add(1)
		}
		return data, nil
	}
	if l, ok := r.loading[i]; ok {
		r.mu.Unlock()
		<-l.done
		if user {
			r.hits.Add(1)
			if l.err != nil {
				r.fail(l.err)
			}
		}
		return l.data, l.err
	}
	l := r.startLocked(i)
	r.mu.Unlock()
	if user {
		r.misses.Add(1)
	}
	r.fill(i, l)
	if l.err != nil && user {
		r.fail(l.err)
	}
	return l.data, l.err
}

// startLocked records that extent i is being decoded.
func (r *Reader) startLocked(i int) *load {
	l := &load{done: make(chan struct{})}
	r.loading[i] = l
	return l
}

// fill decodes extent i for l and caches it.
func (r *Reader) fill(i int, l *load) {
	// A new buffer each time: an evicted extent's may still be copied
	// from by a reader.
	l.data, l.err = r.src.Extent(i, nil, nil)
	r.mu.Lock()
	delete(r.loading, i)
	if l.err == nil {
		r.slots[i] = r.lru.PushFront(&slot{i, l.data})
		for r.lru.Len() > r.capacity {
			old := r.lru.Remove(r.lru.Back()).(*slot)
			delete(r.slots, old.i)
		}
	}
	r.mu.Unlock()
	close(l.done)
}

func (r *Reader) fail(err error) {
	r.failed.Add(1)
	if r.OnError != nil {
		r.OnError(err)
	}
}

// readAheadLocked starts decoding the extents after i that are neither
// cached nor loading, while a read-ahead worker is free.
func (r *Reader) readAheadLocked(i int) {
	if r.closed {
		return
	}
	last := int((r.size - 1) / r.extentSize)
	for k := i + 1; k <= min(i+readAhead, last); k++ {
		if _, ok := r.slots[k]; ok {
			continue
		}
		if _, ok := r.loading[k]; ok {
			continue
		}
		select {
		case r.ahead <- struct{}{}:
		default:
			return // every worker busy
		}
		// Recorded now, so that a reader that comes to it next waits
		// for this decoding rather than starting its own.
		l := r.startLocked(k)
		r.pending.Add(1)
		go func() {
			defer r.pending.Done()
			defer func() { <-r.ahead }()
			r.fill(k, l)
		}()
	}
}

// Close stops read-ahead and waits for the decoding under way, so that
// the image's codec may be closed after it. Reads still work, without
// read-ahead.
func (r *Reader) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.pending.Wait()
}
