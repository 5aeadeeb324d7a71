package fsmap

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// NTFS attribute types used here.
const (
	ntfsAttrVolumeInfo     = 0x70
	ntfsAttrData           = 0x80
	ntfsAttrIndexRoot      = 0x90
	ntfsAttrIndexAlloc     = 0xA0
	ntfsAttrEnd            = 0xFFFFFFFF
	ntfsRecordBitmap       = 6
	ntfsRecordVolume       = 3
	ntfsRecordRoot         = 5
	ntfsMaxRuns            = 1 << 20
	ntfsMaxIndexBytes      = 64 << 20
	ntfsVolumeDirty        = 0x0001
	ntfsIndexEntryLast     = 0x2
	ntfsMaxRecordSize      = 64 << 10
	ntfsMinRecordSize      = 256
	ntfsMaxClusterSize     = 2 << 20
	ntfsMaxHiberfilRecords = 1 << 24
)

type ntfs struct {
	d                *dev
	bps, cs, recSize int64
	totalSectors     int64
	clusters         int64
	mftOff           int64
	mftRuns          []ntfsRun // the $MFT's own data runs, when read
}

// ntfsRun is a run of clusters: lcn < 0 for a sparse run.
type ntfsRun struct {
	vcn, lcn, n int64
}

type ntfsAttr struct {
	typ      uint32
	name     string
	resident bool
	value    []byte    // resident
	runs     []ntfsRun // non-resident
	size     int64     // real size of a non-resident value
	initSize int64
}

func readNTFS(d *dev) (*Map, error) {
	v, err := openNTFS(d)
	if err != nil {
		return nil, err
	}
	data, err := v.bitmapAttr()
	if err != nil {
		return nil, err
	}
	bm, err := v.content(data, (v.clusters+7)/8, "NTFS $Bitmap")
	if err != nil {
		return nil, err
	}
	b := &builder{size: d.size}
	b.bits(bm, v.clusters, 0, v.cs)
	b.add(0, v.cs) // the boot sector, in case the bitmap misses it
	// The backup boot sector: the sector after the volume, usually the
	// partition's last one.
	b.add(v.totalSectors*v.bps, v.bps)
	b.add(d.size/v.bps*v.bps-v.bps, v.bps)
	m := b.done("NTFS $Bitmap", v.cs)

	if why, err := v.unclean(); err != nil {
		return nil, err
	} else if why != "" {
		m.Unclean = why
	}
	return m, nil
}

// openNTFS reads the boot sector's geometry and checks it against the
// partition.
func openNTFS(d *dev) (*ntfs, error) {
	bs, err := d.read(0, 512, "NTFS boot sector")
	if err != nil {
		return nil, err
	}
	v := &ntfs{d: d}
	v.bps = int64(le16(bs[11:]))
	spc := int64(bs[13])
	if spc > 0x80 {
		if 256-spc > 31 {
			return nil, corrupt("NTFS cluster size 2^%d sectors", 256-spc)
		}
		spc = 1 << (256 - spc)
	}
	v.cs = v.bps * spc
	v.totalSectors = int64(le64(bs[40:]))
	mftLCN := int64(le64(bs[48:]))
	rec := int64(int8(bs[64]))
	if rec < 0 {
		if -rec > 20 {
			return nil, corrupt("NTFS record size 2^%d", -rec)
		}
		v.recSize = 1 << -rec
	} else {
		v.recSize = rec * v.cs
	}
	switch {
	case v.bps < 256 || v.bps > 4096 || v.bps&(v.bps-1) != 0:
		return nil, corrupt("NTFS bytes per sector %d", v.bps)
	case spc == 0 || v.cs > ntfsMaxClusterSize:
		return nil, corrupt("NTFS cluster of %d sectors", spc)
	case v.recSize < ntfsMinRecordSize || v.recSize > ntfsMaxRecordSize || v.recSize%512 != 0:
		return nil, corrupt("NTFS file record size %d", v.recSize)
	case v.totalSectors <= 0 || v.totalSectors > d.size/v.bps:
		return nil, corrupt("NTFS volume of %d sectors of %d bytes in a partition of %d bytes", v.totalSectors, v.bps, d.size)
	}
	v.clusters = v.totalSectors * v.bps / v.cs
	if mftLCN <= 0 || mftLCN >= v.clusters {
		return nil, corrupt("NTFS $MFT at cluster %d of %d", mftLCN, v.clusters)
	}
	v.mftOff = mftLCN * v.cs
	return v, nil
}

// bitmapAttr finds the data attribute of $Bitmap, one bit per cluster, and
// checks that it covers the volume. The first records of the MFT (the
// system files) always lie in its first run.
func (v *ntfs) bitmapAttr() (*ntfsAttr, error) {
	bmRec, err := v.record(ntfsRecordBitmap)
	if err != nil {
		return nil, err
	}
	data, err := v.attr(bmRec, ntfsAttrData, "")
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, corrupt("NTFS $Bitmap has no data attribute")
	}
	if n := (v.clusters + 7) / 8; data.size < n || (!data.resident && data.initSize < n) {
		return nil, corrupt("NTFS $Bitmap holds %d bytes for %d clusters", data.size, v.clusters)
	}
	return data, nil
}

// readRecord reads the file record at off and applies its fixups.
func (v *ntfs) readRecord(off int64, nr int64) ([]byte, error) {
	r, err := v.d.read(off, v.recSize, "NTFS file record")
	if err != nil {
		return nil, err
	}
	if string(r[0:4]) != "FILE" {
		return nil, corrupt("NTFS file record %d has no FILE signature", nr)
	}
	if err := ntfsFixup(r, v.bps); err != nil {
		return nil, corrupt("NTFS file record %d: %v", nr, err)
	}
	return r, nil
}

// ntfsFixup checks and undoes a multi-sector record's update sequence.
func ntfsFixup(r []byte, bps int64) error {
	usaOff, usaCount := int(le16(r[4:])), int(le16(r[6:]))
	stride := int(min(bps, 512))
	if usaCount < 1 || usaOff+2*usaCount > len(r) || (usaCount-1)*stride > len(r) {
		return fmt.Errorf("update sequence of %d at %d", usaCount, usaOff)
	}
	usn := r[usaOff : usaOff+2]
	for i := 1; i < usaCount; i++ {
		end := i*stride - 2
		if r[end] != usn[0] || r[end+1] != usn[1] {
			return fmt.Errorf("sector %d fails its update sequence check (torn write)", i-1)
		}
		r[end], r[end+1] = r[usaOff+2*i], r[usaOff+2*i+1]
	}
	return nil
}

// record reads MFT record nr, through the $MFT's runs when it lies beyond
// the first run.
func (v *ntfs) record(nr int64) ([]byte, error) {
	if nr < 16 {
		return v.readRecord(v.mftOff+nr*v.recSize, nr)
	}
	if v.mftRuns == nil {
		mft, err := v.readRecord(v.mftOff, 0)
		if err != nil {
			return nil, err
		}
		a, err := v.attr(mft, ntfsAttrData, "")
		if err != nil {
			return nil, err
		}
		if a == nil || a.resident {
			return nil, corrupt("NTFS $MFT has no non-resident data attribute")
		}
		v.mftRuns = a.runs
	}
	byteOff := nr * v.recSize
	vcn := byteOff / v.cs
	for _, r := range v.mftRuns {
		if vcn >= r.vcn && vcn < r.vcn+r.n {
			if r.lcn < 0 {
				return nil, corrupt("NTFS file record %d lies in a sparse run of the $MFT", nr)
			}
			return v.readRecord(r.lcn*v.cs+(byteOff-r.vcn*v.cs), nr)
		}
	}
	return nil, corrupt("NTFS file record %d lies beyond the $MFT's first extent list", nr)
}

// attr finds the first attribute of type typ and name in a record. It
// returns nil when there is none.
func (v *ntfs) attr(r []byte, typ uint32, name string) (*ntfsAttr, error) {
	off := int(le16(r[20:]))
	for off+16 <= len(r) {
		t := le32(r[off:])
		if t == ntfsAttrEnd {
			return nil, nil
		}
		alen := int(le32(r[off+4:]))
		if alen < 16 || alen%8 != 0 || off+alen > len(r) {
			return nil, corrupt("NTFS attribute %#x at %d has length %d", t, off, alen)
		}
		a := r[off : off+alen]
		nlen, noff := int(a[9]), int(le16(a[10:]))
		if noff+2*nlen > alen {
			return nil, corrupt("NTFS attribute %#x name out of bounds", t)
		}
		aname := utf16String(a[noff : noff+2*nlen])
		if t == typ && aname == name {
			return v.parseAttr(t, aname, a)
		}
		off += alen
	}
	return nil, corrupt("NTFS file record has no end marker")
}

func (v *ntfs) parseAttr(t uint32, name string, a []byte) (*ntfsAttr, error) {
	out := &ntfsAttr{typ: t, name: name}
	if a[8] == 0 {
		if len(a) < 24 {
			return nil, corrupt("NTFS resident attribute %#x too short", t)
		}
		vlen, voff := int(le32(a[16:])), int(le16(a[20:]))
		if voff+vlen > len(a) || vlen < 0 {
			return nil, corrupt("NTFS resident attribute %#x value out of bounds", t)
		}
		out.resident, out.value, out.size, out.initSize = true, a[voff:voff+vlen], int64(vlen), int64(vlen)
		return out, nil
	}
	if len(a) < 64 {
		return nil, corrupt("NTFS non-resident attribute %#x too short", t)
	}
	if le64(a[16:]) != 0 {
		return nil, corrupt("NTFS attribute %#x is split over several records (an attribute list)", t)
	}
	roff := int(le16(a[32:]))
	if roff >= len(a) {
		return nil, corrupt("NTFS attribute %#x run list out of bounds", t)
	}
	out.size, out.initSize = int64(le64(a[48:])), int64(le64(a[56:]))
	if out.size < 0 || out.initSize < 0 || out.initSize > out.size {
		return nil, corrupt("NTFS attribute %#x sizes %d/%d", t, out.size, out.initSize)
	}
	runs, err := v.decodeRuns(a[roff:])
	if err != nil {
		return nil, corrupt("NTFS attribute %#x: %v", t, err)
	}
	out.runs = runs
	return out, nil
}

// decodeRuns decodes a run list (mapping pairs).
func (v *ntfs) decodeRuns(b []byte) ([]ntfsRun, error) {
	var (
		runs []ntfsRun
		vcn  int64
		lcn  int64
	)
	for i := 0; i < len(b) && b[i] != 0; {
		h := b[i]
		nl, ol := int(h&0xf), int(h>>4)
		if nl == 0 || nl > 8 || ol > 8 || i+1+nl+ol > len(b) {
			return nil, fmt.Errorf("bad run header %#x", h)
		}
		n := int64(0)
		for k := nl - 1; k >= 0; k-- {
			n = n<<8 | int64(b[i+1+k])
		}
		if n <= 0 || n > v.clusters {
			return nil, fmt.Errorf("run of %d clusters", n)
		}
		run := ntfsRun{vcn: vcn, lcn: -1, n: n}
		if ol > 0 {
			d := int64(int8(b[i+nl+ol])) // sign from the top byte
			for k := ol - 2; k >= 0; k-- {
				d = d<<8 | int64(b[i+1+nl+k])
			}
			lcn += d
			if lcn < 0 || lcn+n > v.clusters {
				return nil, fmt.Errorf("run at cluster %d of %d clusters beyond the volume's %d", lcn, n, v.clusters)
			}
			run.lcn = lcn
		}
		runs = append(runs, run)
		if len(runs) > ntfsMaxRuns {
			return nil, fmt.Errorf("more than %d runs", ntfsMaxRuns)
		}
		vcn += n
		i += 1 + nl + ol
	}
	return runs, nil
}

// content reads the first n bytes of an attribute's value; bytes past its
// initialised size read as zeros.
func (v *ntfs) content(a *ntfsAttr, n int64, what string) ([]byte, error) {
	if a.resident {
		if int64(len(a.value)) < n {
			return nil, corrupt("%s: %d bytes, want %d", what, len(a.value), n)
		}
		return a.value[:n], nil
	}
	if n > v.d.size {
		return nil, corrupt("%s of %d bytes in a partition of %d bytes", what, n, v.d.size)
	}
	out := make([]byte, n)
	limit := min(n, a.initSize)
	for _, r := range a.runs {
		start := r.vcn * v.cs
		if start >= limit {
			break
		}
		if r.lcn < 0 {
			continue
		}
		m := min(r.n*v.cs, limit-start)
		buf, err := v.d.read(r.lcn*v.cs, m, what)
		if err != nil {
			return nil, err
		}
		copy(out[start:], buf)
	}
	return out, nil
}

// unclean says why the volume is not clean: the dirty flag of $Volume, or
// a hibernation file holding a hibernated system (Windows' Fast Startup
// included).
func (v *ntfs) unclean() (string, error) {
	vol, err := v.record(ntfsRecordVolume)
	if err != nil {
		return "", err
	}
	if info, err := v.attr(vol, ntfsAttrVolumeInfo, ""); err != nil {
		return "", err
	} else if info != nil && info.resident && len(info.value) >= 12 && le16(info.value[10:])&ntfsVolumeDirty != 0 {
		return "it is marked dirty (Windows did not shut it down cleanly; run chkdsk or boot Windows and shut it down)", nil
	}
	hib, err := v.hibernated()
	if err != nil {
		return "", err
	}
	if hib {
		return "Windows is hibernated on it (Fast Startup or hibernation: boot Windows and shut it down fully, or turn Fast Startup off)", nil
	}
	return "", nil
}

// hibernated looks up hiberfil.sys in the root directory and reads its
// first bytes.
func (v *ntfs) hibernated() (bool, error) {
	root, err := v.record(ntfsRecordRoot)
	if err != nil {
		return false, err
	}
	ir, err := v.attr(root, ntfsAttrIndexRoot, "$I30")
	if err != nil || ir == nil || !ir.resident || len(ir.value) < 32 {
		return false, err
	}
	ref, found := ntfsFindEntry(ir.value[16:], "hiberfil.sys")
	if !found {
		ia, err := v.attr(root, ntfsAttrIndexAlloc, "$I30")
		if err != nil {
			return false, err
		}
		if ia != nil && !ia.resident {
			blockSize := int64(le32(ir.value[8:]))
			if blockSize < 512 || blockSize > ntfsMaxRecordSize || ia.size > ntfsMaxIndexBytes {
				return false, corrupt("NTFS root index blocks of %d bytes, %d in all", blockSize, ia.size)
			}
			all, err := v.content(ia, ia.size, "NTFS root directory index")
			if err != nil {
				return false, err
			}
			for off := int64(0); off+blockSize <= int64(len(all)) && !found; off += blockSize {
				blk := all[off : off+blockSize]
				if string(blk[0:4]) != "INDX" || ntfsFixup(blk, v.bps) != nil {
					continue
				}
				ref, found = ntfsFindEntry(blk[24:], "hiberfil.sys")
			}
		}
	}
	if !found {
		return false, nil
	}
	nr := int64(ref & (1<<48 - 1))
	if nr < 16 || nr > ntfsMaxHiberfilRecords {
		return false, corrupt("NTFS hiberfil.sys at file record %d", nr)
	}
	rec, err := v.record(nr)
	if err != nil {
		return false, err
	}
	data, err := v.attr(rec, ntfsAttrData, "")
	if err != nil || data == nil || data.size < 4 || data.initSize < 4 {
		return false, err
	}
	head, err := v.content(data, 4, "NTFS hiberfil.sys")
	if err != nil {
		return false, err
	}
	return strings.EqualFold(string(head), "hibr"), nil
}

// ntfsFindEntry searches an index node (its header first) for a file
// name, case-insensitively, and returns its file reference.
func ntfsFindEntry(node []byte, name string) (uint64, bool) {
	if len(node) < 16 {
		return 0, false
	}
	off, end := int(le32(node[0:])), int(le32(node[4:]))
	end = min(end, len(node))
	for off+16 <= end {
		elen, klen, flags := int(le16(node[off+8:])), int(le16(node[off+10:])), le32(node[off+12:])
		if elen < 16 || off+elen > end {
			return 0, false
		}
		if flags&ntfsIndexEntryLast != 0 {
			return 0, false
		}
		if klen >= 66 && off+16+klen <= end {
			key := node[off+16 : off+16+klen]
			nlen := int(key[64])
			if 66+2*nlen <= klen && strings.EqualFold(utf16String(key[66:66+2*nlen]), name) {
				return le64(node[off:]), true
			}
		}
		off += elen
	}
	return 0, false
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = le16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
