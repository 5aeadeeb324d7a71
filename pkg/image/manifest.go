package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// Version is the manifest format version this package writes. It reads
// versions 1 and 2 (version 1 has no partly used extents).
const Version = 2

// Magic starts every manifest file. The high first byte and the CR LF and
// ^Z bytes catch transfers that mangle binary files (as PNG's does).
var Magic = [8]byte{0x89, 'L', 'B', 'I', '\r', '\n', 0x1a, '\n'}

// Limits on what a manifest may hold; Decode refuses anything beyond them.
const (
	MinExtentSize = 64 << 10
	MaxExtentSize = 64 << 20
	MaxDiskSize   = 1 << 50 // 1 PiB
	MaxExtents    = 1 << 24 // 64 TiB in 4 MiB extents
	MaxMetaSize   = 4 << 20
	MaxAreas      = 64
	MaxAreaBytes  = 16 << 20 // per area
	MaxAreasTotal = 64 << 20
	// MaxRunsPerExtent and MaxRuns bound the used-range lists of partly
	// used extents, per extent and in all.
	MaxRunsPerExtent = 256
	MaxRuns          = 1 << 22
	headerSize       = 32
	trailerSize      = sha256.Size
)

// HashSize is the size of a chunk id.
const HashSize = sha256.Size

// Hash is the SHA-256 of a chunk's uncompressed bytes: its id.
type Hash [HashSize]byte

// String is the hash in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("chunk id %q: want %d hex digits", s, 2*HashSize)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("chunk id %q: %w", s, err)
	}
	return h, nil
}

// Extent is one extent of the disk: a hole, or a chunk.
type Extent struct {
	Hole bool
	ID   Hash
	// Stored is the chunk's size in the repository (compressed).
	Stored uint32
	// Used, when not nil, lists the parts of the extent that file systems
	// use, sorted and apart; the chunk holds zeros everywhere else. Nil
	// means the whole extent is used.
	Used []Run
}

// Run is a byte range inside an extent, relative to its start.
type Run struct {
	Off, Len int64
}

// Disk describes the captured disk.
type Disk struct {
	Size               int64  `json:"size"`
	LogicalSectorSize  int    `json:"logical_sector_size"`
	PhysicalSectorSize int    `json:"physical_sector_size"`
	Path               string `json:"path,omitempty"`
	Model              string `json:"model,omitempty"`
	Vendor             string `json:"vendor,omitempty"`
	Serial             string `json:"serial,omitempty"`
	WWN                string `json:"wwn,omitempty"`
	Transport          string `json:"transport,omitempty"`
}

// Stats are the capture's numbers.
type Stats struct {
	BytesRead int64 `json:"bytes_read"`
	DataBytes int64 `json:"data_bytes"` // bytes in non-hole extents
	HoleBytes int64 `json:"hole_bytes"`
	// UnusedBytes are the bytes file systems do not use: not read, and
	// stored as zeros (holes, or zeroed parts of chunks).
	UnusedBytes  int64   `json:"unused_bytes,omitempty"`
	Chunks       int64   `json:"chunks"`        // non-hole extents
	UniqueChunks int64   `json:"unique_chunks"` // distinct chunk ids
	StoredBytes  int64   `json:"stored_bytes"`  // compressed size of the unique chunks
	NewChunks    int64   `json:"new_chunks"`    // chunks this capture added to the repository
	NewBytes     int64   `json:"new_bytes"`     // their compressed size
	NewRawBytes  int64   `json:"new_raw_bytes"` // their uncompressed size
	Seconds      float64 `json:"seconds"`
}

// Area is a boot area's position and its raw bytes.
type Area struct {
	ptable.Area
	// Data holds the area's bytes, or its first MaxAreaBytes when Truncated.
	Data      []byte `json:"-"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Manifest is one image.
type Manifest struct {
	Name        string        `json:"name"`
	Created     time.Time     `json:"created"`
	Tool        string        `json:"tool"`
	Disk        Disk          `json:"disk"`
	ExtentSize  int64         `json:"extent_size"`
	HashAlg     string        `json:"hash"`
	Compression string        `json:"compression"`
	Table       *ptable.Table `json:"table"`
	Stats       Stats         `json:"stats"`
	Warnings    []string      `json:"warnings,omitempty"`
	Areas       []Area        `json:"areas"`
	// Boot is what the firmware of the machine the disk was captured on
	// had for starting it (nil: nothing was read).
	Boot *Boot `json:"boot,omitempty"`
	// Note is the description given at capture (ValidNote); a note set
	// later is a separate object in the repository.
	Note string `json:"note,omitempty"`

	Extents []Extent `json:"-"`

	// ID is the SHA-256 of the encoded manifest, set by Encode and Decode.
	ID Hash `json:"-"`
}

// Boot is what a machine's firmware had for starting the captured disk.
type Boot struct {
	// Entries are the UEFI boot entries that named a partition of the
	// disk, in BootOrder's order (entries not in BootOrder last).
	Entries []BootEntry `json:"uefi_entries"`
}

// BootEntry is a UEFI boot entry (Boot####) that started a loader on one
// of the disk's partitions.
type BootEntry struct {
	Number      uint16 `json:"number"`
	Description string `json:"description"`
	Active      bool   `json:"active"`
	InOrder     bool   `json:"in_boot_order"`
	Partition   int    `json:"partition"` // the partition's number
	Loader      string `json:"loader"`    // \EFI\debian\shimx64.efi
}

// ExtentCount is the number of extents a disk of size bytes has.
func ExtentCount(size, extentSize int64) int64 {
	return (size + extentSize - 1) / extentSize
}

// ExtentRange is the byte range of extent i.
func (m *Manifest) ExtentRange(i int) (off, n int64) {
	off = int64(i) * m.ExtentSize
	return off, min(m.ExtentSize, m.Disk.Size-off)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ValidName checks an image name: 1 to 128 letters, digits, '.', '_', '+'
// and '-', not starting with a punctuation mark, so that it is a safe file
// name on every file system and in a URL.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("image name %q: use 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", name)
	}
	return nil
}

// MaxNoteSize bounds an image's note, in bytes.
const MaxNoteSize = 4096

// ValidNote checks an image's note: valid UTF-8 of at most MaxNoteSize
// bytes, with no control characters but newlines and tabs.
func ValidNote(s string) error {
	if len(s) > MaxNoteSize {
		return fmt.Errorf("note of %d bytes: at most %d", len(s), MaxNoteSize)
	}
	if !utf8.ValidString(s) {
		return errors.New("note is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("note holds the control character %U", r)
		}
	}
	return nil
}

// Validate checks a manifest's fields against each other and the limits.
func (m *Manifest) Validate() error {
	if err := ValidName(m.Name); err != nil {
		return err
	}
	if err := ValidNote(m.Note); err != nil {
		return err
	}
	d := m.Disk
	if d.Size <= 0 || d.Size > MaxDiskSize {
		return fmt.Errorf("disk size %d out of range", d.Size)
	}
	if !sector(d.LogicalSectorSize) || !sector(d.PhysicalSectorSize) {
		return fmt.Errorf("sector sizes %d/%d invalid", d.LogicalSectorSize, d.PhysicalSectorSize)
	}
	if d.Size%int64(d.LogicalSectorSize) != 0 {
		return fmt.Errorf("disk size %d is not a multiple of the sector size %d", d.Size, d.LogicalSectorSize)
	}
	if m.ExtentSize < MinExtentSize || m.ExtentSize > MaxExtentSize || m.ExtentSize&(m.ExtentSize-1) != 0 {
		return fmt.Errorf("extent size %d is not a power of two from %d to %d", m.ExtentSize, MinExtentSize, MaxExtentSize)
	}
	if m.ExtentSize%int64(d.LogicalSectorSize) != 0 {
		return fmt.Errorf("extent size %d is not a multiple of the sector size %d", m.ExtentSize, d.LogicalSectorSize)
	}
	if m.HashAlg != "sha256" || m.Compression != "zstd" {
		return fmt.Errorf("hash %q and compression %q: only sha256 and zstd are known", m.HashAlg, m.Compression)
	}
	if want := ExtentCount(d.Size, m.ExtentSize); int64(len(m.Extents)) != want {
		return fmt.Errorf("%d extents, a disk of %d bytes in extents of %d needs %d", len(m.Extents), d.Size, m.ExtentSize, want)
	}
	lss := int64(d.LogicalSectorSize)
	runs := 0
	for i, e := range m.Extents {
		if e.Used == nil {
			continue
		}
		if e.Hole {
			return fmt.Errorf("extent %d is a hole with used ranges", i)
		}
		if len(e.Used) == 0 || len(e.Used) > MaxRunsPerExtent {
			return fmt.Errorf("extent %d lists %d used ranges, 1 to %d allowed", i, len(e.Used), MaxRunsPerExtent)
		}
		runs += len(e.Used)
		_, n := m.ExtentRange(i)
		end := int64(-1)
		for _, r := range e.Used {
			if r.Off <= end || r.Len <= 0 || r.Off%lss != 0 || r.Len%lss != 0 || r.Off > n-r.Len {
				return fmt.Errorf("extent %d: used range %d+%d is out of order or outside the extent of %d bytes", i, r.Off, r.Len, n)
			}
			end = r.Off + r.Len
		}
	}
	if runs > MaxRuns {
		return fmt.Errorf("%d used ranges, at most %d", runs, MaxRuns)
	}
	if len(m.Areas) > MaxAreas {
		return fmt.Errorf("%d boot areas, at most %d", len(m.Areas), MaxAreas)
	}
	total := 0
	for _, a := range m.Areas {
		if a.Offset < 0 || a.Length < 0 || a.Offset+a.Length > d.Size {
			return fmt.Errorf("boot area %q at %d+%d is outside the disk", a.Name, a.Offset, a.Length)
		}
		if int64(len(a.Data)) > a.Length || len(a.Data) > MaxAreaBytes {
			return fmt.Errorf("boot area %q holds %d bytes for a length of %d", a.Name, len(a.Data), a.Length)
		}
		total += len(a.Data)
	}
	if total > MaxAreasTotal {
		return fmt.Errorf("boot areas hold %d bytes, at most %d", total, MaxAreasTotal)
	}
	if m.Table == nil {
		return errors.New("no partition table description")
	}
	return nil
}

func sector(n int) bool { return n >= 512 && n <= 65536 && n&(n-1) == 0 }

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func coders() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBody()), zstd.WithDecoderMaxWindow(MaxMetaSize*2))
	})
	return enc, dec
}

// maxBody bounds the uncompressed body.
func maxBody() uint64 {
	return uint64(4 + MaxMetaSize + 8 + MaxExtents*(1+HashSize+4) + 4 + MaxAreas*(1+255+8+8+8) + MaxAreasTotal +
		MaxRuns*2*binary.MaxVarintLen32)
}

const (
	kindHole    = 0
	kindChunk   = 1
	kindPartial = 2 // a chunk and its used ranges (version 2)
)

// Encode validates the manifest and encodes it. It sets m.ID.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest metadata: %w", err)
	}
	if len(meta) > MaxMetaSize {
		return nil, fmt.Errorf("encode manifest: metadata of %d bytes exceeds %d", len(meta), MaxMetaSize)
	}
	var body bytes.Buffer
	le := binary.LittleEndian
	body.Grow(len(meta) + len(m.Extents)*(1+HashSize+4) + 64)
	body.Write(le.AppendUint32(nil, uint32(len(meta))))
	body.Write(meta)
	body.Write(le.AppendUint64(nil, uint64(len(m.Extents))))
	for _, e := range m.Extents {
		if e.Hole {
			body.WriteByte(kindHole)
			continue
		}
		if e.Used == nil {
			body.WriteByte(kindChunk)
		} else {
			body.WriteByte(kindPartial)
		}
		body.Write(e.ID[:])
		body.Write(le.AppendUint32(nil, e.Stored))
		if e.Used == nil {
			continue
		}
		// Ranges in sectors: the count, then each range's gap from the
		// previous one's end and its length.
		lss := int64(m.Disk.LogicalSectorSize)
		body.Write(binary.AppendUvarint(nil, uint64(len(e.Used))))
		end := int64(0)
		for _, r := range e.Used {
			body.Write(binary.AppendUvarint(nil, uint64((r.Off-end)/lss)))
			body.Write(binary.AppendUvarint(nil, uint64(r.Len/lss)))
			end = r.Off + r.Len
		}
	}
	body.Write(le.AppendUint32(nil, uint32(len(m.Areas))))
	for _, a := range m.Areas {
		if len(a.Name) > 255 {
			return nil, fmt.Errorf("encode manifest: area name %q too long", a.Name)
		}
		body.WriteByte(byte(len(a.Name)))
		body.WriteString(a.Name)
		body.Write(le.AppendUint64(nil, uint64(a.Offset)))
		body.Write(le.AppendUint64(nil, uint64(a.Length)))
		body.Write(le.AppendUint64(nil, uint64(len(a.Data))))
		body.Write(a.Data)
	}
	e, _ := coders()
	out := make([]byte, headerSize, headerSize+body.Len()/2+trailerSize)
	copy(out, Magic[:])
	le.PutUint32(out[8:], Version)
	le.PutUint32(out[12:], 0)
	le.PutUint64(out[24:], uint64(body.Len()))
	out = e.EncodeAll(body.Bytes(), out)
	le.PutUint64(out[16:], uint64(len(out)-headerSize))
	sum := sha256.Sum256(out)
	m.ID = sum
	return append(out, sum[:]...), nil
}

// ErrFormat is wrapped by every error that means "this is not a valid
// manifest": truncated, altered, foreign or from a newer version.
var ErrFormat = errors.New("invalid image manifest")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Decode parses and checks an encoded manifest.
func Decode(b []byte) (*Manifest, error) {
	if len(b) < headerSize+trailerSize {
		return nil, formatErr("%d bytes is too short (truncated?)", len(b))
	}
	if !bytes.Equal(b[:8], Magic[:]) {
		return nil, formatErr("bad magic %q: not a Lifeboat image manifest", b[:8])
	}
	le := binary.LittleEndian
	v := le.Uint32(b[8:])
	if v < 1 || v > Version {
		return nil, formatErr("format version %d; this Lifeboat reads versions 1 to %d", v, Version)
	}
	if f := le.Uint32(b[12:]); f != 0 {
		return nil, formatErr("unknown flags %#x", f)
	}
	clen, blen := le.Uint64(b[16:]), le.Uint64(b[24:])
	if clen != uint64(len(b)-headerSize-trailerSize) {
		return nil, formatErr("body is %d bytes, header says %d (truncated or extended file)", len(b)-headerSize-trailerSize, clen)
	}
	if blen > maxBody() {
		return nil, formatErr("body of %d bytes exceeds the limit", blen)
	}
	n := len(b) - trailerSize
	sum := sha256.Sum256(b[:n])
	if !bytes.Equal(sum[:], b[n:]) {
		return nil, formatErr("manifest hash does not match: the file was altered or damaged")
	}
	var fh zstd.Header
	if err := fh.Decode(b[headerSize:n]); err != nil {
		return nil, formatErr("body frame header: %v", err)
	}
	if !fh.HasFCS || fh.FrameContentSize != blen {
		return nil, formatErr("body frame holds %d bytes, header says %d", fh.FrameContentSize, blen)
	}
	_, d := coders()
	body, err := d.DecodeAll(b[headerSize:n], make([]byte, 0, blen))
	if err != nil {
		return nil, formatErr("decompress body: %v", err)
	}
	if uint64(len(body)) != blen {
		return nil, formatErr("body decompressed to %d bytes, header says %d", len(body), blen)
	}
	m, err := decodeBody(body, v)
	if err != nil {
		return nil, err
	}
	m.ID = sum
	return m, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = formatErr("%s: needs %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) uint8 {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = formatErr("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func decodeBody(body []byte, version uint32) (*Manifest, error) {
	r := &reader{b: body}
	mlen := r.u32("metadata length")
	if mlen > MaxMetaSize {
		return nil, formatErr("metadata of %d bytes exceeds %d", mlen, MaxMetaSize)
	}
	meta := r.take(uint64(mlen), "metadata")
	if r.err != nil {
		return nil, r.err
	}
	m := &Manifest{}
	if err := json.Unmarshal(meta, m); err != nil {
		return nil, formatErr("metadata: %v", err)
	}
	count := r.u64("extent count")
	if r.err != nil {
		return nil, r.err
	}
	if count > MaxExtents || count > uint64(len(r.b)) {
		return nil, formatErr("extent count %d is out of range", count)
	}
	lss := uint64(m.Disk.LogicalSectorSize)
	if lss == 0 || lss > 65536 {
		return nil, formatErr("logical sector size %d", lss)
	}
	m.Extents = make([]Extent, count)
	runs := 0
	for i := range m.Extents {
		switch k := r.u8("extent kind"); {
		case r.err != nil:
			return nil, r.err
		case k == kindHole:
			m.Extents[i].Hole = true
		case k == kindChunk, k == kindPartial && version >= 2:
			copy(m.Extents[i].ID[:], r.take(HashSize, "chunk id"))
			m.Extents[i].Stored = r.u32("chunk size")
			if k == kindChunk {
				continue
			}
			n := r.uvarint("used range count")
			if r.err == nil && (n == 0 || n > MaxRunsPerExtent || runs+int(n) > MaxRuns) {
				return nil, formatErr("extent %d lists %d used ranges", i, n)
			}
			runs += int(n)
			used := make([]Run, 0, n)
			end := uint64(0)
			for j := uint64(0); j < n && r.err == nil; j++ {
				gap, l := r.uvarint("used range gap"), r.uvarint("used range length")
				if gap > uint64(MaxExtentSize) || l > uint64(MaxExtentSize) {
					return nil, formatErr("extent %d: used range out of bounds", i)
				}
				off := end + gap*lss
				used = append(used, Run{Off: int64(off), Len: int64(l * lss)})
				end = off + l*lss
			}
			m.Extents[i].Used = used
		default:
			return nil, formatErr("extent %d has unknown kind %d", i, k)
		}
	}
	na := r.u32("area count")
	if r.err != nil {
		return nil, r.err
	}
	if na > MaxAreas {
		return nil, formatErr("%d boot areas, at most %d", na, MaxAreas)
	}
	metaAreas := m.Areas
	m.Areas = make([]Area, na)
	for i := range m.Areas {
		a := &m.Areas[i]
		a.Name = string(r.take(uint64(r.u8("area name length")), "area name"))
		a.Offset = int64(r.u64("area offset"))
		a.Length = int64(r.u64("area length"))
		dlen := r.u64("area data length")
		if r.err == nil && dlen > MaxAreaBytes {
			return nil, formatErr("boot area %q holds %d bytes, at most %d", a.Name, dlen, MaxAreaBytes)
		}
		a.Data = r.take(dlen, "area data")
		if i < len(metaAreas) {
			a.Truncated = metaAreas[i].Truncated
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, formatErr("%d unexpected bytes after the body", len(r.b))
	}
	if len(metaAreas) != len(m.Areas) {
		return nil, formatErr("metadata lists %d boot areas, body holds %d", len(metaAreas), len(m.Areas))
	}
	for i, a := range metaAreas {
		if a.Area != m.Areas[i].Area {
			return nil, formatErr("boot area %d differs between metadata and body", i)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return m, nil
}
