package inventory

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// vpdPage checks the 4-byte header of a SCSI VPD page (SPC-4 7.8): byte 1 is
// the page code, bytes 2-3 the big-endian length of what follows. It returns
// the page body, which must fit in page.
func vpdPage(page []byte, code byte) ([]byte, error) {
	if len(page) < 4 {
		return nil, fmt.Errorf("vpd page 0x%02x: %d bytes, shorter than its header", code, len(page))
	}
	if page[1] != code {
		return nil, fmt.Errorf("vpd page 0x%02x: page code is 0x%02x", code, page[1])
	}
	n := int(binary.BigEndian.Uint16(page[2:4]))
	if 4+n > len(page) {
		return nil, fmt.Errorf("vpd page 0x%02x: length %d exceeds the %d bytes after the header", code, n, len(page)-4)
	}
	return page[4 : 4+n], nil
}

// ParseVPDSerial returns the product serial number of SCSI VPD page 0x80
// (Unit Serial Number), as the kernel exposes it in device/vpd_pg80, trimmed
// of spaces and NULs. ATA disks behind libata report their 20-character ATA
// serial here. A serial holding anything but printable ASCII is an error.
func ParseVPDSerial(page []byte) (string, error) {
	body, err := vpdPage(page, 0x80)
	if err != nil {
		return "", err
	}
	s := cleanString(body)
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", fmt.Errorf("vpd page 0x80: serial has byte 0x%02x at %d", s[i], i)
		}
	}
	return s, nil
}

// ParseVPDNAA returns the NAA designator of the logical unit from SCSI VPD
// page 0x83 (Device Identification) in the form the kernel uses for wwid,
// "naa." and lowercase hex: "naa.5000c500a1b2c3d4". Of several, the longest
// (16-byte IEEE Registered Extended over 8-byte) and then the first wins. It
// returns "" and no error when the page has no such designator.
func ParseVPDNAA(page []byte) (string, error) {
	body, err := vpdPage(page, 0x83)
	if err != nil {
		return "", err
	}
	var best []byte
	for off := 0; off < len(body); {
		if off+4 > len(body) {
			return "", fmt.Errorf("vpd page 0x83: designator header at %d truncated", off)
		}
		n := int(body[off+3])
		if off+4+n > len(body) {
			return "", fmt.Errorf("vpd page 0x83: designator at %d: length %d exceeds the page", off, n)
		}
		d := body[off+4 : off+4+n]
		codeSet := body[off] & 0x0f
		assoc := (body[off+1] >> 4) & 0x03
		typ := body[off+1] & 0x0f
		if typ == 3 && assoc == 0 && codeSet == 1 && validNAA(d) && len(d) > len(best) {
			best = d
		}
		off += 4 + n
	}
	if best == nil {
		return "", nil
	}
	return "naa." + hex.EncodeToString(best), nil
}

// validNAA reports whether d is an NAA designator of a length its NAA field
// allows: 8 bytes for NAA 2, 3 and 5, 16 bytes for NAA 6.
func validNAA(d []byte) bool {
	if len(d) == 0 {
		return false
	}
	switch d[0] >> 4 {
	case 2, 3, 5:
		return len(d) == 8
	case 6:
		return len(d) == 16
	}
	return false
}
