package fsprobe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Info is what Probe recognized. The zero Info means nothing was.
type Info struct {
	// Type is the blkid name of the format: "ext4", "vfat", "ntfs",
	// "crypto_LUKS", ...
	Type string `json:"type,omitempty"`
	// Version distinguishes variants where blkid does: "FAT12", "FAT16",
	// "FAT32" for vfat, the LUKS header version, the ext revision.
	Version string `json:"version,omitempty"`
	Label   string `json:"label,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	// BlockSize is the file system's allocation unit in bytes (block or
	// cluster), when it has one.
	BlockSize int `json:"block_size,omitempty"`
	// Size is the size the file system believes it has, in bytes, when
	// the format records it. It may be smaller than the partition.
	Size int64 `json:"size,omitempty"`
}

// Crypto reports whether the content is encrypted and its files cannot be
// read without a key.
func (i Info) Crypto() bool { return i.Type == "crypto_LUKS" || i.Type == "BitLocker" }

// String is the type with its variant, as shown to users: "ext4", "FAT32".
func (i Info) String() string {
	if i.Type == "vfat" && i.Version != "" {
		return i.Version
	}
	return i.Type
}

// Probe identifies the content of the size bytes readable from r. It returns
// the zero Info and no error when nothing known is found, and an error only
// when a read fails.
func Probe(r io.ReaderAt, size int64) (Info, error) {
	s := &source{r: r, size: size}
	for _, p := range probes {
		info, ok, err := p(s)
		if err != nil {
			return Info{}, err
		}
		if ok {
			info.Label = cleanLabel(info.Label)
			info.UUID = cleanLabel(info.UUID)
			return info, nil
		}
	}
	return Info{}, nil
}

// probes in the order they are tried: strong magic numbers first, FAT last.
var probes = []func(*source) (Info, bool, error){
	probeLUKS,
	probeBitLocker,
	probeNTFS,
	probeExFAT,
	probeXFS,
	probeExt,
	probeBtrfs,
	probeSwap,
	probeLVM,
	probeISO9660,
	probeSquashfs,
	probeFAT,
}

// probeSquashfs recognises a squashfs 4 image (what live systems boot).
func probeSquashfs(s *source) (Info, bool, error) {
	sb, err := s.read(0, 96)
	if sb == nil || err != nil {
		return Info{}, false, err
	}
	if string(sb[0:4]) != "hsqs" || le16(sb[28:]) != 4 {
		return Info{}, false, nil
	}
	info := Info{Type: "squashfs", Version: fmt.Sprintf("%d.%d", le16(sb[28:]), le16(sb[30:])), BlockSize: int(le32(sb[12:]))}
	if used := le64(sb[40:]); used <= uint64(s.size) {
		info.Size = int64(used)
	}
	return info, true, nil
}

type source struct {
	r    io.ReaderAt
	size int64
	head []byte // the first 4 KiB, read once
}

// read returns n bytes at off, or nil when they lie beyond the end.
func (s *source) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size-int64(n) {
		return nil, nil
	}
	if off+int64(n) <= int64(len(s.head)) {
		return s.head[off : off+int64(n)], nil
	}
	buf := make([]byte, n)
	got, err := s.r.ReadAt(buf, off)
	if got == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("probe: read %d bytes at offset %d: %w", n, off, err)
}

// sector0 returns the first 4 KiB (less on a tiny input), cached.
func (s *source) sector0() ([]byte, error) {
	if s.head != nil {
		return s.head, nil
	}
	n := int(min(s.size, 4096))
	if n < 512 {
		return nil, nil
	}
	b, err := s.read(0, n)
	if err != nil {
		return nil, err
	}
	s.head = b
	return b, nil
}

var (
	le16 = binary.LittleEndian.Uint16
	le32 = binary.LittleEndian.Uint32
	le64 = binary.LittleEndian.Uint64
	be16 = binary.BigEndian.Uint16
	be32 = binary.BigEndian.Uint32
	be64 = binary.BigEndian.Uint64
)

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

// cstr is b up to its first NUL.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// utf16le decodes little-endian UTF-16 up to the first NUL.
func utf16le(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// cleanLabel makes a label valid UTF-8 without trailing blanks.
func cleanLabel(s string) string {
	if !utf8.ValidString(s) {
		// Labels of DOS-era formats are in a code page; show bytes above
		// 0x7f as Latin-1 rather than dropping them.
		r := make([]rune, 0, len(s))
		for i := 0; i < len(s); i++ {
			r = append(r, rune(s[i]))
		}
		s = string(r)
	}
	return strings.TrimRight(s, " \x00")
}

func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// probeExt recognizes ext2, ext3 and ext4 as blkid tells them apart: by
// the journal and the feature flags an older driver would not understand.
func probeExt(s *source) (Info, bool, error) {
	sb, err := s.read(1024, 1024)
	if sb == nil || err != nil {
		return Info{}, false, err
	}
	if le16(sb[0x38:]) != 0xEF53 {
		return Info{}, false, nil
	}
	logBlock := le32(sb[0x18:])
	if logBlock > 6 {
		return Info{}, false, nil
	}
	bs := 1024 << logBlock
	compat, incompat, roCompat := le32(sb[0x5C:]), le32(sb[0x60:]), le32(sb[0x64:])
	blocks := uint64(le32(sb[0x04:]))
	if incompat&0x80 != 0 { // 64bit
		blocks |= uint64(le32(sb[0x150:])) << 32
	}
	const (
		compatJournal = 0x4
		incompatJDev  = 0x8
		roSupp        = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
		ext2Incompat  = 0x2 | 0x10       // filetype, meta_bg
		ext3Incompat  = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
	)
	typ := "ext4"
	switch {
	case incompat&incompatJDev != 0:
		typ = "jbd"
	case compat&compatJournal == 0 && roCompat&^roSupp == 0 && incompat&^ext2Incompat == 0:
		typ = "ext2"
	case compat&compatJournal != 0 && roCompat&^roSupp == 0 && incompat&^ext3Incompat == 0:
		typ = "ext3"
	}
	info := Info{
		Type:      typ,
		Version:   fmt.Sprintf("%d.%d", le32(sb[0x4C:]), le16(sb[0x3E:])),
		Label:     cstr(sb[0x78:0x88]),
		UUID:      uuidString(sb[0x68:0x78]),
		BlockSize: bs,
	}
	if blocks <= uint64(1<<62)/uint64(bs) {
		info.Size = int64(blocks) * int64(bs)
	}
	return info, true, nil
}

func probeXFS(s *source) (Info, bool, error) {
	sb, err := s.sector0()
	if sb == nil || err != nil {
		return Info{}, false, err
	}
	if string(sb[0:4]) != "XFSB" {
		return Info{}, false, nil
	}
	bs := be32(sb[4:])
	sect := be16(sb[102:])
	if bs < 512 || bs > 65536 || !isPow2(uint64(bs)) || sect < 512 || !isPow2(uint64(sect)) {
		return Info{}, false, nil
	}
	info := Info{Type: "xfs", Label: cstr(sb[108:120]), UUID: uuidString(sb[32:48]), BlockSize: int(bs)}
	if d := be64(sb[8:]); d <= uint64(1<<62)/uint64(bs) {
		info.Size = int64(d) * int64(bs)
	}
	return info, true, nil
}

func probeBtrfs(s *source) (Info, bool, error) {
	sb, err := s.read(0x10000, 0x1000)
	if sb == nil || err != nil {
		return Info{}, false, err
	}
	if string(sb[0x40:0x48]) != "_BHRfS_M" {
		return Info{}, false, nil
	}
	sect := le32(sb[0x90:])
	if sect < 512 || sect > 65536 || !isPow2(uint64(sect)) {
		return Info{}, false, nil
	}
	info := Info{Type: "btrfs", Label: cstr(sb[0x12B : 0x12B+256]), UUID: uuidString(sb[0x20:0x30]), BlockSize: int(sect)}
	if t := le64(sb[0x70:]); t <= 1<<62 {
		info.Size = int64(t)
	}
	return info, true, nil
}

// probeSwap looks for the Linux swap signature at the end of the first
// page, for each page size Linux uses.
func probeSwap(s *source) (Info, bool, error) {
	for _, page := range []int64{4096, 8192, 16384, 65536} {
		sig, err := s.read(page-10, 10)
		if sig == nil || err != nil {
			return Info{}, false, err
		}
		switch string(sig) {
		case "SWAP-SPACE":
			return Info{Type: "swap", Version: "0", BlockSize: int(page)}, true, nil
		case "SWAPSPACE2":
			h, err := s.read(1024, 44)
			if h == nil || err != nil {
				return Info{}, false, err
			}
			info := Info{Type: "swap", Version: "1", BlockSize: int(page)}
			if le32(h[0:]) == 1 { // native-endian header written on a little-endian machine
				info.Size = (int64(le32(h[4:])) + 1) * page
				info.UUID = uuidString(h[12:28])
				info.Label = cstr(h[28:44])
			}
			return info, true, nil
		}
	}
	return Info{}, false, nil
}

func probeLUKS(s *source) (Info, bool, error) {
	h, err := s.sector0()
	if h == nil || err != nil {
		return Info{}, false, err
	}
	if string(h[0:6]) != "LUKS\xba\xbe" {
		return Info{}, false, nil
	}
	v := be16(h[6:])
	info := Info{Type: "crypto_LUKS", Version: fmt.Sprint(v), UUID: cstr(h[168:208])}
	if v == 2 {
		info.Label = cstr(h[24:72])
	}
	return info, true, nil
}

func probeBitLocker(s *source) (Info, bool, error) {
	h, err := s.sector0()
	if h == nil || err != nil {
		return Info{}, false, err
	}
	if string(h[3:11]) != "-FVE-FS-" {
		return Info{}, false, nil
	}
	return Info{Type: "BitLocker"}, true, nil
}

// probeLVM finds an LVM2 physical volume label in one of the first four
// sectors.
func probeLVM(s *source) (Info, bool, error) {
	for sec := int64(0); sec < 4; sec++ {
		b, err := s.read(sec*512, 512)
		if b == nil || err != nil {
			return Info{}, false, err
		}
		if string(b[0:8]) != "LABELONE" || string(b[24:32]) != "LVM2 001" {
			continue
		}
		off := int(le32(b[20:]))
		if off < 32 || off+40 > len(b) {
			continue
		}
		u := b[off : off+32]
		info := Info{Type: "LVM2_member", Version: "LVM2 001",
			UUID: fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", u[0:6], u[6:10], u[10:14], u[14:18], u[18:22], u[22:26], u[26:32])}
		if sz := le64(b[off+32:]); sz <= 1<<62 {
			info.Size = int64(sz)
		}
		return info, true, nil
	}
	return Info{}, false, nil
}

func probeISO9660(s *source) (Info, bool, error) {
	pvd, err := s.read(32768, 2048)
	if pvd == nil || err != nil {
		return Info{}, false, err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return Info{}, false, nil
	}
	info := Info{Type: "iso9660", Label: strings.TrimRight(string(pvd[40:72]), " "), BlockSize: int(le16(pvd[128:]))}
	if info.BlockSize > 0 {
		info.Size = int64(le32(pvd[80:])) * int64(info.BlockSize)
	}
	// blkid's UUID for an ISO image is its creation time.
	if d := pvd[813:829]; allDigits(d) && string(d) != "0000000000000000" {
		info.UUID = fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", d[0:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:14], d[14:16])
	}
	return info, true, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func probeExFAT(s *source) (Info, bool, error) {
	bs, err := s.sector0()
	if bs == nil || err != nil {
		return Info{}, false, err
	}
	if string(bs[3:11]) != "EXFAT   " {
		return Info{}, false, nil
	}
	bpsShift, spcShift := uint(bs[108]), uint(bs[109])
	if bpsShift < 9 || bpsShift > 12 || bpsShift+spcShift > 25 {
		return Info{}, false, nil
	}
	serial := le32(bs[100:])
	rev := le16(bs[104:])
	info := Info{
		Type:      "exfat",
		Version:   fmt.Sprintf("%d.%d", rev>>8, rev&0xff),
		UUID:      fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff),
		BlockSize: 1 << (bpsShift + spcShift),
	}
	if n := le64(bs[72:]); n <= uint64(1<<62)>>bpsShift {
		info.Size = int64(n) << bpsShift
	}
	// The label is an entry (type 0x83) of the root directory; look in its
	// first cluster, which is where formatters put it.
	heap, root := int64(le32(bs[88:])), int64(le32(bs[96:]))
	if root >= 2 {
		off := (heap + (root-2)<<spcShift) << bpsShift
		n := min(info.BlockSize, 256<<10)
		dir, err := s.read(off, n)
		if err != nil {
			return Info{}, false, err
		}
		for i := 0; i+32 <= len(dir); i += 32 {
			e := dir[i : i+32]
			if e[0] == 0 {
				break
			}
			if e[0] == 0x83 {
				c := min(int(e[1]), 11)
				info.Label = utf16le(e[2 : 2+2*c])
				break
			}
		}
	}
	return info, true, nil
}

func probeNTFS(s *source) (Info, bool, error) {
	bs, err := s.sector0()
	if bs == nil || err != nil {
		return Info{}, false, err
	}
	if string(bs[3:11]) != "NTFS    " {
		return Info{}, false, nil
	}
	bps := int64(le16(bs[11:]))
	spcRaw := bs[13]
	if bps < 256 || bps > 4096 || !isPow2(uint64(bps)) {
		return Info{}, false, nil
	}
	var cluster int64
	if spcRaw <= 0x80 {
		cluster = int64(spcRaw) * bps
	} else if shift := 256 - int(spcRaw); shift <= 20 { // 2^(-(int8)) sectors
		cluster = bps << shift
	}
	if cluster == 0 || !isPow2(uint64(cluster)) || cluster > 2<<20 {
		return Info{}, false, nil
	}
	info := Info{Type: "ntfs", UUID: fmt.Sprintf("%016X", le64(bs[72:])), BlockSize: int(cluster)}
	if n := le64(bs[40:]); n <= uint64(1<<62)/uint64(bps) {
		info.Size = int64(n) * bps
	}
	// The label is the $VOLUME_NAME attribute of MFT record 3 ($Volume).
	var rec int64
	if c := int8(bs[64]); c > 0 {
		rec = int64(c) * cluster
	} else if -c >= 9 && -c <= 16 {
		rec = 1 << uint(-c)
	}
	mft := le64(bs[48:])
	if rec < 512 || rec > 65536 || mft > uint64(1<<62)/uint64(cluster) {
		return info, true, nil
	}
	off := int64(mft)*cluster + 3*rec
	if off < 0 {
		return info, true, nil
	}
	r, err := s.read(off, int(rec))
	if err != nil {
		return Info{}, false, err
	}
	if name, ok := ntfsVolumeName(r); ok {
		info.Label = name
	}
	return info, true, nil
}

// ntfsVolumeName applies the record's update-sequence fixups and returns the
// resident $VOLUME_NAME (0x60) attribute's value.
func ntfsVolumeName(r []byte) (string, bool) {
	if len(r) < 48 || string(r[0:4]) != "FILE" {
		return "", false
	}
	r = append([]byte(nil), r...)
	usaOff, usaCount := int(le16(r[4:])), int(le16(r[6:]))
	if usaCount < 1 || usaOff+2*usaCount > len(r) || (usaCount-1)*512 > len(r) {
		return "", false
	}
	usn := r[usaOff : usaOff+2]
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if !bytes.Equal(r[end:end+2], usn) {
			return "", false // torn write
		}
		copy(r[end:end+2], r[usaOff+2*i:usaOff+2*i+2])
	}
	at := int(le16(r[20:]))
	for at >= 24 && at+16 <= len(r) {
		typ, length := le32(r[at:]), int(le32(r[at+4:]))
		if typ == 0xFFFFFFFF || length < 16 || at+length > len(r) {
			break
		}
		if typ == 0x60 && r[at+8] == 0 && length >= 24 {
			vlen, voff := int(le32(r[at+16:])), int(le16(r[at+20:]))
			if voff+vlen <= length {
				return utf16le(r[at+voff : at+voff+vlen]), true
			}
			return "", false
		}
		at += length
	}
	return "", false
}

// probeFAT recognizes FAT12/16/32 by the geometry of its BIOS parameter
// block, which has no magic number, and tells the variants apart as blkid
// does: FAT32 has no 16-bit FAT size, FAT12 has fewer than 4085 clusters.
func probeFAT(s *source) (Info, bool, error) {
	b, err := s.sector0()
	if b == nil || err != nil {
		return Info{}, false, err
	}
	if b[0] != 0xEB && b[0] != 0xE9 && (b[510] != 0x55 || b[511] != 0xAA) {
		return Info{}, false, nil
	}
	bps := int64(le16(b[11:]))
	spc := int64(b[13])
	reserved := int64(le16(b[14:]))
	fats := int64(b[16])
	rootEnts := int64(le16(b[17:]))
	total := int64(le16(b[19:]))
	media := b[21]
	fatSize := int64(le16(b[22:]))
	if total == 0 {
		total = int64(le32(b[32:]))
	}
	if bps < 512 || bps > 4096 || !isPow2(uint64(bps)) || !isPow2(uint64(spc)) ||
		reserved == 0 || fats == 0 || fats > 4 || (media != 0xF0 && media < 0xF8) || total == 0 {
		return Info{}, false, nil
	}
	fat32 := fatSize == 0
	var volID []byte
	var bootLabel string
	var rootClus int64
	if fat32 {
		fatSize = int64(le32(b[36:]))
		rootClus = int64(le32(b[44:]))
		if b[66] == 0x29 {
			volID, bootLabel = b[67:71], string(b[71:82])
		}
	} else if b[38] == 0x29 {
		volID, bootLabel = b[39:43], string(b[43:54])
	}
	rootSecs := (rootEnts*32 + bps - 1) / bps
	meta := reserved + fats*fatSize + rootSecs
	if fatSize == 0 || meta >= total {
		return Info{}, false, nil
	}
	clusters := (total - meta) / spc
	version := "FAT32"
	if !fat32 {
		version = "FAT16"
		if clusters < 4085 {
			version = "FAT12"
		}
	}
	info := Info{Type: "vfat", Version: version, BlockSize: int(spc * bps), Size: total * bps}
	if volID != nil {
		info.UUID = fmt.Sprintf("%02X%02X-%02X%02X", volID[3], volID[2], volID[1], volID[0])
	}
	// blkid prefers the volume-label entry of the root directory, which is
	// what DOS and Windows change, over the copy in the boot sector.
	var dirOff int64
	var dirLen int64
	if fat32 {
		if rootClus >= 2 {
			dirOff = (reserved + fats*fatSize + (rootClus-2)*spc) * bps
			dirLen = min(spc*bps, 256<<10)
		}
	} else {
		dirOff = (reserved + fats*fatSize) * bps
		dirLen = min(rootEnts*32, 256<<10)
	}
	label, found := "", false
	if dirLen > 0 {
		dir, err := s.read(dirOff, int(dirLen))
		if err != nil {
			return Info{}, false, err
		}
		label, found = fatDirLabel(dir)
	}
	if !found && strings.TrimRight(bootLabel, " ") != "NO NAME" {
		label = bootLabel
	}
	info.Label = strings.TrimRight(cstr([]byte(label)), " ")
	return info, true, nil
}

// fatDirLabel finds the volume-label entry in a directory.
func fatDirLabel(dir []byte) (string, bool) {
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		switch {
		case e[0] == 0:
			return "", false
		case e[0] == 0xE5:
			continue
		case e[11] != 0x0F && e[11]&0x18 == 0x08: // volume label, not a long-name entry
			name := append([]byte(nil), e[0:11]...)
			if name[0] == 0x05 {
				name[0] = 0xE5
			}
			return string(name), true
		}
	}
	return "", false
}
