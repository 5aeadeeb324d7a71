package fatfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf16"
)

// Geometry is what a FAT boot sector says of the volume's layout, in
// sectors of BytesPerSec bytes.
type Geometry struct {
	BytesPerSec, SecPerClus int64
	Reserved, NumFATs       int64
	FATSize                 int64
	RootEntries             int64
	RootSectors             int64
	Total                   int64
	Clusters                int64
	Bits                    int // 12, 16 or 32
	RootCluster             int64
	FSInfo, Backup          int64
	Boot                    []byte // the boot sector's first BytesPerSec bytes
}

// DataStart is the first sector of the data area.
func (g Geometry) DataStart() int64 { return g.Reserved + g.NumFATs*g.FATSize + g.RootSectors }

// ClusterBytes is the size of a cluster.
func (g Geometry) ClusterBytes() int64 { return g.SecPerClus * g.BytesPerSec }

// MaxClusters is the most clusters a FAT of the given type may count.
func MaxClusters(bits int) int64 {
	switch bits {
	case 12:
		return 4084
	case 16:
		return 65524
	}
	return 0x0FFFFFF5
}

// Parse reads a FAT boot sector (at least 512 bytes; BytesPerSec when
// larger) of a volume in a partition of partSize bytes.
func Parse(b []byte, partSize int64) (Geometry, error) {
	le := binary.LittleEndian
	var g Geometry
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return g, errors.New("no boot sector signature")
	}
	g.BytesPerSec = int64(le.Uint16(b[11:13]))
	g.SecPerClus = int64(b[13])
	g.Reserved = int64(le.Uint16(b[14:16]))
	g.NumFATs = int64(b[16])
	g.RootEntries = int64(le.Uint16(b[17:19]))
	g.Total = int64(le.Uint16(b[19:21]))
	if g.Total == 0 {
		g.Total = int64(le.Uint32(b[32:36]))
	}
	fat16 := int64(le.Uint16(b[22:24]))
	g.FATSize = fat16
	if g.FATSize == 0 {
		g.FATSize = int64(le.Uint32(b[36:40]))
	}
	bps := g.BytesPerSec
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || g.SecPerClus == 0 || g.SecPerClus&(g.SecPerClus-1) != 0 ||
		g.Reserved == 0 || g.NumFATs == 0 || g.NumFATs > 4 || g.FATSize == 0 || g.Total == 0 {
		return g, errors.New("boot sector fields out of range")
	}
	if int64(len(b)) < bps {
		return g, fmt.Errorf("boot sector of %d bytes, the volume has %d-byte sectors", len(b), bps)
	}
	g.RootSectors = (g.RootEntries*32 + bps - 1) / bps
	if g.Total > partSize/bps || g.DataStart() >= g.Total {
		return g, fmt.Errorf("volume of %d sectors of %d bytes does not fit its partition of %d bytes", g.Total, bps, partSize)
	}
	g.Clusters = (g.Total - g.DataStart()) / g.SecPerClus
	switch {
	case fat16 != 0 && g.Clusters <= MaxClusters(12):
		g.Bits = 12
	case fat16 != 0:
		g.Bits = 16
		if g.Clusters > MaxClusters(16) {
			return g, fmt.Errorf("FAT16 with %d clusters", g.Clusters)
		}
	default:
		g.Bits = 32
		if g.RootEntries != 0 {
			return g, errors.New("FAT32 with a fixed root directory")
		}
		g.RootCluster = int64(le.Uint32(b[44:48]))
		g.FSInfo = int64(le.Uint16(b[48:50]))
		g.Backup = int64(le.Uint16(b[50:52]))
		if g.Clusters > MaxClusters(32) || g.RootCluster < 2 || g.RootCluster >= g.Clusters+2 {
			return g, fmt.Errorf("FAT32 root directory at cluster %d of %d", g.RootCluster, g.Clusters)
		}
	}
	if g.FATSize*bps*8 < (g.Clusters+2)*int64(g.Bits) {
		return g, fmt.Errorf("FAT of %d sectors is too small for %d clusters", g.FATSize, g.Clusters)
	}
	g.Boot = append([]byte(nil), b[:bps]...)
	return g, nil
}

// Volume is a FAT volume on an io.ReaderAt (and io.WriterAt, for
// Rewrite).
type Volume struct {
	r io.ReaderAt
	G Geometry
	// Sync, when set, makes what was written durable; Create calls it
	// between its steps, so that their order holds across a power loss.
	Sync func() error
}

// Open reads the boot sector of the volume of size bytes that r holds.
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	b := make([]byte, 4096)
	n, err := r.ReadAt(b, 0)
	if n < 512 {
		return nil, fmt.Errorf("read FAT boot sector: %w", err)
	}
	g, err := Parse(b[:n], size)
	if err != nil {
		return nil, fmt.Errorf("FAT boot sector: %w", err)
	}
	return &Volume{r: r, G: g}, nil
}

// next is the FAT entry of cluster c: the next cluster of its chain, or a
// value of at least MaxClusters+2 at its end.
func (v *Volume) next(c int64) (int64, error) {
	g := v.G
	var off int64
	switch g.Bits {
	case 12:
		off = c + c/2
	case 16:
		off = c * 2
	default:
		off = c * 4
	}
	b := make([]byte, 4)
	if _, err := v.r.ReadAt(b, g.Reserved*g.BytesPerSec+off); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read FAT entry of cluster %d: %w", c, err)
	}
	le := binary.LittleEndian
	switch g.Bits {
	case 12:
		e := int64(le.Uint16(b))
		if c&1 == 1 {
			e >>= 4
		}
		return e & 0xFFF, nil
	case 16:
		return int64(le.Uint16(b)), nil
	}
	return int64(le.Uint32(b) & 0x0FFFFFFF), nil
}

// chain lists the clusters of a chain from first, at most limit of them.
func (v *Volume) chain(first, limit int64, what string) ([]int64, error) {
	var out []int64
	c := first
	for {
		if c < 2 || c >= v.G.Clusters+2 {
			return nil, fmt.Errorf("%s: cluster %d is outside the volume", what, c)
		}
		out = append(out, c)
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("%s: its cluster chain is longer than %d clusters (a loop?)", what, limit)
		}
		n, err := v.next(c)
		if err != nil {
			return nil, err
		}
		if n >= MaxClusters(v.G.Bits)+2 || n == 0 {
			if n == 0 || (n < 0x0FFFFFF8 && v.G.Bits == 32) || (n < 0xFFF8 && v.G.Bits == 16) || (n < 0xFF8 && v.G.Bits == 12) {
				return nil, fmt.Errorf("%s: cluster %d is followed by %#x, not by another cluster or the end", what, c, n)
			}
			return out, nil
		}
		c = n
	}
}

// Entry is a directory entry.
type Entry struct {
	Name    string // the long name, or the short one
	Short   string // 8.3, as stored
	Dir     bool
	Cluster int64
	Size    int64
	// ModTime is the last write time as stored (FAT keeps local time
	// without a zone, to 2 s; read as UTC, as Linux does by default).
	ModTime time.Time
}

const maxEntries = 65536

// readDir reads the entries of the directory at cluster c (0: the root).
func (v *Volume) readDir(c int64, what string) ([]Entry, error) {
	g := v.G
	var raw []byte
	if c == 0 && g.Bits != 32 {
		raw = make([]byte, g.RootSectors*g.BytesPerSec)
		if _, err := v.r.ReadAt(raw, (g.Reserved+g.NumFATs*g.FATSize)*g.BytesPerSec); err != nil {
			return nil, fmt.Errorf("read the root directory: %w", err)
		}
	} else {
		if c == 0 {
			c = g.RootCluster
		}
		cs, err := v.chain(c, maxEntries*32/g.ClusterBytes()+1, what)
		if err != nil {
			return nil, err
		}
		raw = make([]byte, int64(len(cs))*g.ClusterBytes())
		for i, cl := range cs {
			if _, err := v.r.ReadAt(raw[int64(i)*g.ClusterBytes():int64(i+1)*g.ClusterBytes()], v.clusterOff(cl)); err != nil {
				return nil, fmt.Errorf("read directory %s at cluster %d: %w", what, cl, err)
			}
		}
	}
	var out []Entry
	var long []uint16
	le := binary.LittleEndian
	for i := 0; i+32 <= len(raw); i += 32 {
		e := raw[i : i+32]
		switch {
		case e[0] == 0:
			return out, nil
		case e[0] == 0xE5:
			long = nil
			continue
		case e[11]&0x3F == 0x0F: // a long-name part, last part first
			if e[0]&0x40 != 0 || len(long) >= 20*13 {
				long = nil // a new name, or more parts than a name has
			}
			var part []uint16
			for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part = append(part, le.Uint16(e[o:]))
			}
			long = append(part, long...)
			continue
		case e[11]&0x08 != 0: // volume label
			long = nil
			continue
		}
		name83 := append([]byte(nil), e[0:11]...)
		if name83[0] == 0x05 {
			name83[0] = 0xE5 // a first byte of 0xE5 is stored as 0x05
		}
		base, ext := strings.TrimRight(cp437(name83[0:8]), " "), strings.TrimRight(cp437(name83[8:11]), " ")
		short := base
		if ext != "" {
			short += "." + ext
		}
		// Without a long name, byte 12 says which half is shown in
		// lower case (as Windows and Linux do).
		if e[12]&0x08 != 0 {
			base = strings.ToLower(base)
		}
		if e[12]&0x10 != 0 {
			ext = strings.ToLower(ext)
		}
		name := base
		if ext != "" {
			name += "." + ext
		}
		if long != nil {
			end := len(long)
			for k, u := range long {
				if u == 0 {
					end = k
					break
				}
			}
			name = string(utf16.Decode(long[:end]))
		}
		long = nil
		cl := int64(le.Uint16(e[26:28]))
		if g.Bits == 32 {
			cl |= int64(le.Uint16(e[20:22])) << 16
		}
		out = append(out, Entry{Name: name, Short: short, Dir: e[11]&0x10 != 0, Cluster: cl, Size: int64(le.Uint32(e[28:32])),
			ModTime: fatTime(le.Uint16(e[24:26]), le.Uint16(e[22:24]))})
	}
	return out, nil
}

// cp437High is code page 437 from 0x80 up: how Linux (codepage=437, its
// default) reads the bytes of short names.
const cp437High = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437Runes = []rune(cp437High)

// cp437 decodes the bytes of a short name.
func cp437(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cp437Runes[c-0x80])
		}
	}
	return sb.String()
}

// fatTime decodes a FAT date and time; a date of 0 is the zero time.
func fatTime(date, tm uint16) time.Time {
	if date == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2, 0, time.UTC)
}

func (v *Volume) clusterOff(c int64) int64 {
	g := v.G
	return (g.DataStart() + (c-2)*g.SecPerClus) * g.BytesPerSec
}

// ReadDir lists the directory at path ("/" or "" is the root), matching
// names without regard to case, as FAT does.
func (v *Volume) ReadDir(path string) ([]Entry, error) {
	c := int64(0)
	for _, part := range split(path) {
		es, err := v.readDir(c, path)
		if err != nil {
			return nil, err
		}
		e, ok := find(es, part)
		if !ok {
			return nil, fmt.Errorf("%s: no directory %q: %w", path, part, fs.ErrNotExist)
		}
		if !e.Dir {
			return nil, fmt.Errorf("%s: %q is a file, not a directory", path, part)
		}
		c = e.Cluster
	}
	return v.readDir(c, path)
}

// Stat finds the entry at path.
func (v *Volume) Stat(path string) (Entry, error) {
	parts := split(path)
	if len(parts) == 0 {
		return Entry{Name: "/", Dir: true}, nil
	}
	es, err := v.ReadDir(strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return Entry{}, err
	}
	e, ok := find(es, parts[len(parts)-1])
	if !ok {
		return Entry{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return e, nil
}

// fileClusters are the clusters holding a file's bytes.
func (v *Volume) fileClusters(e Entry, path string) ([]int64, error) {
	if e.Dir {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if e.Size == 0 {
		return nil, nil
	}
	need := (e.Size + v.G.ClusterBytes() - 1) / v.G.ClusterBytes()
	cs, err := v.chain(e.Cluster, need, path)
	if err != nil {
		return nil, err
	}
	if int64(len(cs)) < need {
		return nil, fmt.Errorf("%s: %d bytes in a chain of %d clusters", path, e.Size, len(cs))
	}
	return cs, nil
}

// ReadFile reads the file at path, at most max bytes of it.
func (v *Volume) ReadFile(path string, max int64) ([]byte, error) {
	e, err := v.Stat(path)
	if err != nil {
		return nil, err
	}
	if e.Size > max {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, e.Size, max)
	}
	cs, err := v.fileClusters(e, path)
	if err != nil {
		return nil, err
	}
	out := make([]byte, e.Size)
	cb := v.G.ClusterBytes()
	for i, c := range cs {
		lo := int64(i) * cb
		hi := min(lo+cb, e.Size)
		if _, err := v.r.ReadAt(out[lo:hi], v.clusterOff(c)); err != nil {
			return nil, fmt.Errorf("read %s at cluster %d: %w", path, c, err)
		}
	}
	return out, nil
}

// Rewrite writes data over the file at path, which must be as long as
// the file: the same clusters are written, the directory is not changed.
func (v *Volume) Rewrite(w io.WriterAt, path string, data []byte) error {
	e, err := v.Stat(path)
	if err != nil {
		return err
	}
	if int64(len(data)) != e.Size {
		return fmt.Errorf("%s is %d bytes; a rewrite in place must keep that size, not %d", path, e.Size, len(data))
	}
	cs, err := v.fileClusters(e, path)
	if err != nil {
		return err
	}
	cb := v.G.ClusterBytes()
	for i, c := range cs {
		lo := int64(i) * cb
		hi := min(lo+cb, e.Size)
		if _, err := w.WriteAt(data[lo:hi], v.clusterOff(c)); err != nil {
			return fmt.Errorf("write %s at cluster %d: %w", path, c, err)
		}
	}
	return nil
}

// Glob lists the files matching pattern, whose components may hold * and
// ? (matched without regard to case); directories that do not exist
// match nothing.
func (v *Volume) Glob(pattern string) []string {
	parts := split(pattern)
	paths := []string{""}
	for k, part := range parts {
		var next []string
		for _, dir := range paths {
			es, err := v.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range es {
				if e.Name == "." || e.Name == ".." || !match(part, e.Name) {
					continue
				}
				if k < len(parts)-1 && !e.Dir || k == len(parts)-1 && e.Dir {
					continue
				}
				next = append(next, dir+"/"+e.Name)
			}
		}
		paths = next
	}
	return paths
}

func split(path string) []string {
	var out []string
	for _, p := range strings.Split(path, "/") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func find(es []Entry, name string) (Entry, bool) {
	for _, e := range es {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.Short, name) {
			return e, true
		}
	}
	return Entry{}, false
}

// match is path.Match without regard to case, for one component.
func match(pattern, name string) bool {
	p, n := strings.ToUpper(pattern), strings.ToUpper(name)
	var rec func(p, n string) bool
	rec = func(p, n string) bool {
		for len(p) > 0 {
			switch p[0] {
			case '*':
				for i := 0; i <= len(n); i++ {
					if rec(p[1:], n[i:]) {
						return true
					}
				}
				return false
			case '?':
				if len(n) == 0 {
					return false
				}
			default:
				if len(n) == 0 || n[0] != p[0] {
					return false
				}
			}
			p, n = p[1:], n[1:]
		}
		return len(n) == 0
	}
	return rec(p, n)
}
