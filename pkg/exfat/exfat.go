package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxClusters is the most clusters an exFAT volume may have.
const MaxClusters = 0xFFFFFFF5

// Volume is an exFAT volume's layout, in sectors of BPS bytes and clusters
// of SPC sectors, on R.
type Volume struct {
	R                 io.ReaderAt
	BPS, SPC          int64
	VolLen            int64
	FatOff, FatLen    int64
	HeapOff, Clusters int64
	Root              int64
	Region            []byte // the main boot region, 12 sectors
}

// ClusterBytes is the size of a cluster.
func (v *Volume) ClusterBytes() int64 { return v.BPS * v.SPC }

// ClusterOff is the byte offset of cluster c in the volume.
func (v *Volume) ClusterOff(c int64) int64 { return v.HeapOff*v.BPS + (c-2)*v.ClusterBytes() }

// Parse reads the main boot region of the exFAT volume r holds, in a
// partition of size bytes.
func Parse(r io.ReaderAt, size int64) (*Volume, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read the exFAT boot sector: %w", err)
	}
	le := binary.LittleEndian
	if string(b[3:11]) != "EXFAT   " || b[510] != 0x55 || b[511] != 0xAA {
		return nil, errors.New("no exFAT boot sector")
	}
	bs, cs := b[108], b[109]
	if bs < 9 || bs > 12 || int(bs)+int(cs) > 25 {
		return nil, fmt.Errorf("exFAT sector shift %d, cluster shift %d out of range", bs, cs)
	}
	if b[110] != 1 {
		return nil, fmt.Errorf("exFAT with %d FATs (TexFAT) is not resized", b[110])
	}
	v := &Volume{R: r, BPS: int64(1) << bs, SPC: int64(1) << cs}
	v.VolLen = int64(le.Uint64(b[72:80]))
	v.FatOff, v.FatLen = int64(le.Uint32(b[80:84])), int64(le.Uint32(b[84:88]))
	v.HeapOff, v.Clusters = int64(le.Uint32(b[88:92])), int64(le.Uint32(b[92:96]))
	v.Root = int64(le.Uint32(b[96:100]))
	if v.VolLen <= 0 || v.VolLen > size/v.BPS || v.FatOff < 24 || v.FatLen <= 0 || v.HeapOff < v.FatOff+v.FatLen ||
		v.Clusters <= 0 || v.Clusters > MaxClusters || v.HeapOff+v.Clusters*v.SPC > v.VolLen || (v.Clusters+2)*4 > v.FatLen*v.BPS ||
		v.Root < 2 || v.Root >= v.Clusters+2 {
		return nil, errors.New("exFAT boot sector fields out of range")
	}
	v.Region = make([]byte, 12*v.BPS)
	if _, err := r.ReadAt(v.Region, 0); err != nil {
		return nil, fmt.Errorf("read the exFAT boot region: %w", err)
	}
	return v, nil
}

// Checksum fills a boot region's checksum sector.
func Checksum(region []byte, bps int64) {
	var sum uint32
	for i := int64(0); i < 11*bps; i++ {
		if i == 106 || i == 107 || i == 112 {
			continue
		}
		sum = (sum<<31 | sum>>1) + uint32(region[i])
	}
	for i := 11 * bps; i < 12*bps; i += 4 {
		binary.LittleEndian.PutUint32(region[i:], sum)
	}
}

// FATEntry reads FAT entry c.
func (v *Volume) FATEntry(c int64) (int64, error) {
	b := make([]byte, 4)
	if _, err := v.R.ReadAt(b, v.FatOff*v.BPS+c*4); err != nil {
		return 0, fmt.Errorf("read exFAT FAT entry %d: %w", c, err)
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

// Chain lists the clusters of an allocation from first: n of them in a
// row when contiguous (NoFatChain), else along the FAT (at most n when
// n > 0).
func (v *Volume) Chain(first, n int64, contiguous bool) ([]int64, error) {
	return chain(first, n, contiguous, v.Clusters, v.Clusters, v.FATEntry)
}

// maxDir is the largest directory exFAT allows.
const maxDir = 256 << 20

// dirChain lists a directory's clusters along the FAT.
func (v *Volume) dirChain(first int64) ([]int64, error) {
	return chain(first, 0, false, v.Clusters, min(v.Clusters, maxDir/v.ClusterBytes()), v.FATEntry)
}

// chain follows an allocation of a heap of clusters clusters, at most
// most of them long.
func chain(first, n int64, contiguous bool, clusters, most int64, next func(int64) (int64, error)) ([]int64, error) {
	if n > clusters || (contiguous && (n <= 0 || first+n > clusters+2)) {
		return nil, fmt.Errorf("exFAT allocation of %d clusters from cluster %d does not fit the heap's %d", n, first, clusters)
	}
	var out []int64
	for c := first; ; {
		if c < 2 || c >= clusters+2 {
			return nil, fmt.Errorf("exFAT chain reaches cluster %d, outside the heap", c)
		}
		out = append(out, c)
		if n > 0 && int64(len(out)) >= n {
			return out, nil
		}
		if int64(len(out)) >= most {
			return nil, fmt.Errorf("exFAT chain from cluster %d longer than %d clusters (a loop?)", first, most)
		}
		if contiguous {
			c++
			continue
		}
		nx, err := next(c)
		if err != nil {
			return nil, err
		}
		if nx >= 0xFFFFFFF8 {
			if n > 0 && int64(len(out)) < n {
				return nil, fmt.Errorf("exFAT chain from cluster %d ends after %d clusters, %d expected", first, len(out), n)
			}
			return out, nil
		}
		c = nx
	}
}

// Bitmap finds the allocation bitmap's directory entry in the root
// directory: the entry's byte offset in the volume, the bitmap's first
// cluster and its length in bytes.
func (v *Volume) Bitmap() (entry, first, length int64, err error) {
	dir, err := v.dirChain(v.Root)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("root directory: %w", err)
	}
	cs := v.ClusterBytes()
	buf := make([]byte, cs)
	le := binary.LittleEndian
	for _, c := range dir {
		off := v.ClusterOff(c)
		if _, err := v.R.ReadAt(buf, off); err != nil {
			return 0, 0, 0, fmt.Errorf("read the root directory at byte %d: %w", off, err)
		}
		for i := int64(0); i+32 <= cs; i += 32 {
			switch buf[i] {
			case 0:
				return 0, 0, 0, errors.New("no allocation bitmap in the root directory")
			case 0x81:
				if buf[i+1]&1 != 0 {
					return 0, 0, 0, errors.New("a second allocation bitmap (TexFAT)")
				}
				return off + i, int64(le.Uint32(buf[i+20 : i+24])), int64(le.Uint64(buf[i+24 : i+32])), nil
			}
		}
	}
	return 0, 0, 0, errors.New("no allocation bitmap in the root directory")
}

// BitmapClusters lists the bitmap's clusters (first, of length bytes):
// chained in the FAT, or in a row when its FAT entry is zero.
func (v *Volume) BitmapClusters(first, length int64) ([]int64, error) {
	next0, err := v.FATEntry(first)
	if err != nil {
		return nil, err
	}
	cs := v.ClusterBytes()
	return v.Chain(first, (length+cs-1)/cs, next0 == 0)
}
