package repo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
)

// ChunkError is a chunk whose content is wrong: not a zstd frame, the
// wrong size, or bytes that do not hash to its id. It is never an I/O
// error.
type ChunkError struct {
	ID image.Hash
	// Offset is the disk offset of the extent the chunk was read for, or -1.
	Offset  int64
	Problem string
}

func (e *ChunkError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("chunk %s (disk offset %d): %s", e.ID, e.Offset, e.Problem)
	}
	return fmt.Sprintf("chunk %s: %s", e.ID, e.Problem)
}

// IsContentError reports whether err means damaged data (a ChunkError, a
// missing chunk, or an invalid manifest) rather than an I/O failure.
func IsContentError(err error) bool {
	var ce *ChunkError
	return errors.As(err, &ce) || errors.Is(err, ErrMissingChunk) || errors.Is(err, image.ErrFormat)
}

// Level is a compression level.
type Level = zstd.EncoderLevel

// Compression levels.
const (
	LevelFastest = zstd.SpeedFastest
	LevelFast    = zstd.SpeedDefault // about zstd's level 3
	LevelBetter  = zstd.SpeedBetterCompression
	LevelBest    = zstd.SpeedBestCompression
	// LevelDefault is the level of captures that do not choose one. With
	// per-chunk frames, LevelFast makes images about 1% larger than one
	// zstd -3 stream of the same data; LevelBetter makes them smaller, at
	// about 1.5 times the CPU time (make bench).
	LevelDefault = LevelBetter
)

// Codec compresses and checks chunks. One Codec is shared by all workers
// of an operation; its encoder and decoder run up to `workers` calls at
// once.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec makes a codec for the given number of concurrent workers
// (0: one per CPU).
func NewCodec(level Level, workers int) (*Codec, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(workers),
		zstd.WithEncoderCRC(false), // every chunk is checked against its SHA-256
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(workers),
		zstd.WithDecoderMaxMemory(image.MaxExtentSize),
		zstd.WithDecoderMaxWindow(image.MaxExtentSize),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the codec.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// Compress appends the zstd frame of src to dst.
func (c *Codec) Compress(dst, src []byte) []byte {
	return c.enc.EncodeAll(src, dst)
}

// MaxStored is the largest stored size a chunk of n bytes can have.
func MaxStored(n int64) int64 {
	// zstd's worst case is raw blocks: 3 bytes per 128 KiB block plus the
	// frame header; allow generous slack.
	return n + n/(128<<10)*3 + 1024
}

// Decompress checks that src is a zstd frame of exactly want bytes whose
// SHA-256 is id, and decodes it into dst (reused when large enough). off is
// the disk offset for error messages (-1 if none).
func (c *Codec) Decompress(id image.Hash, off int64, dst, src []byte, want int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, &ChunkError{id, off, fmt.Sprintf("not a zstd frame: %v", err)}
	}
	if !h.HasFCS || h.FrameContentSize != uint64(want) {
		return nil, &ChunkError{id, off, fmt.Sprintf("frame holds %d bytes, the extent is %d", h.FrameContentSize, want)}
	}
	if cap(dst) < want {
		dst = make([]byte, 0, want)
	}
	out, err := c.dec.DecodeAll(src, dst[:0])
	if err != nil {
		return nil, &ChunkError{id, off, fmt.Sprintf("corrupt zstd data: %v", err)}
	}
	if len(out) != want {
		return nil, &ChunkError{id, off, fmt.Sprintf("decompressed to %d bytes, the extent is %d", len(out), want)}
	}
	if sha256.Sum256(out) != id {
		return nil, &ChunkError{id, off, "content does not match its SHA-256 (the chunk is damaged)"}
	}
	return out, nil
}
