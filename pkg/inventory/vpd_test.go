package inventory

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseVPDSerial(t *testing.T) {
	tests := []struct {
		name    string
		page    string
		want    string
		wantErr string
	}{
		{"ata serial", "\x00\x80\x00\x14S6PNNS0T912345K     ", "S6PNNS0T912345K", ""},
		{"leading spaces and nuls", "\x00\x80\x00\x0a  ABC123\x00\x00", "ABC123", ""},
		{"bytes past the length are ignored", "\x00\x80\x00\x03XYZjunk", "XYZ", ""},
		{"empty", "\x00\x80\x00\x00", "", ""},
		{"all spaces", "\x00\x80\x00\x04    ", "", ""},
		{"short", "\x00\x80\x00", "", "vpd page 0x80: 3 bytes, shorter than its header"},
		{"wrong page", "\x00\x83\x00\x01A", "", "vpd page 0x80: page code is 0x83"},
		{"length past the end", "\x00\x80\x00\x40drive-scsi2", "", "vpd page 0x80: length 64 exceeds the 11 bytes after the header"},
		{"control byte", "\x00\x80\x00\x03A\x01B", "", "vpd page 0x80: serial has byte 0x01 at 1"},
		{"high byte", "\x00\x80\x00\x02A\xff", "", "vpd page 0x80: serial has byte 0xff at 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVPDSerial([]byte(tc.page))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error\n got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseVPDSerial = %q, want %q", got, tc.want)
			}
		})
	}
}

// designator builds one identification descriptor of VPD page 0x83.
func designator(codeSet, assoc, typ byte, id []byte) []byte {
	return append([]byte{codeSet, assoc<<4 | typ, 0, byte(len(id))}, id...)
}

func page83(ds ...[]byte) []byte {
	body := bytes.Join(ds, nil)
	return append([]byte{0, 0x83, byte(len(body) >> 8), byte(len(body))}, body...)
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseVPDNAA(t *testing.T) {
	t10 := designator(2, 0, 1, []byte("QEMU    QEMU HARDDISK   "))
	naa5 := designator(1, 0, 3, unhex("5000c50015ea71ac"))
	naa6 := designator(1, 0, 3, unhex("6001405abcdef0123456789abcdef013"))
	tests := []struct {
		name    string
		page    []byte
		want    string
		wantErr string
	}{
		{"naa 5", page83(t10, naa5), "naa.5000c50015ea71ac", ""},
		{"naa 6 preferred over naa 5", page83(naa5, naa6), "naa.6001405abcdef0123456789abcdef013", ""},
		{"first of equal length", page83(naa5, designator(1, 0, 3, unhex("5000c50015ea71ad"))), "naa.5000c50015ea71ac", ""},
		{"target port naa ignored", page83(designator(1, 1, 3, unhex("5000c50015ea71ac"))), "", ""},
		{"ascii code set ignored", page83(designator(2, 0, 3, unhex("5000c50015ea71ac"))), "", ""},
		{"naa 5 of 16 bytes ignored", page83(designator(1, 0, 3, unhex("5000c50015ea71ac5000c50015ea71ac"))), "", ""},
		{"naa 6 of 8 bytes ignored", page83(designator(1, 0, 3, unhex("6000c50015ea71ac"))), "", ""},
		{"naa 2 and 3", page83(designator(1, 0, 3, unhex("2000001b3201a2b3"))), "naa.2000001b3201a2b3", ""},
		{"eui-64 only", page83(designator(1, 0, 2, unhex("0025388b91c0e3a1"))), "", ""},
		{"empty page", page83(), "", ""},
		{"fixture sda", []byte("\x00\x83\x00\x3c\x02\x01\x00\x18QEMU    QEMU HARDDISK   \x01\x03\x00\x08\x50\x00\xc5\x00\x15\xea\x71\xac\x01\x13\x00\x10\x60\x01\x40\x5a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12"),
			"naa.5000c50015ea71ac", ""},
		{"short", []byte{0, 0x83}, "", "vpd page 0x83: 2 bytes, shorter than its header"},
		{"wrong page", []byte{0, 0x80, 0, 0}, "", "vpd page 0x83: page code is 0x80"},
		{"page length past the end", []byte{0, 0x83, 0, 9, 1, 3, 0, 8}, "", "vpd page 0x83: length 9 exceeds the 4 bytes after the header"},
		{"designator header truncated", []byte{0, 0x83, 0, 2, 1, 3}, "", "vpd page 0x83: designator header at 0 truncated"},
		{"designator past the page", page83(append(naa5[:4:4], 0x50)), "", "vpd page 0x83: designator at 0: length 8 exceeds the page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVPDNAA(tc.page)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error\n got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseVPDNAA = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseVPD(f *testing.F) {
	f.Add([]byte("\x00\x80\x00\x14S6PNNS0T912345K     "))
	f.Add([]byte("\x00\x80\x00\x40drive-scsi2"))
	f.Add(page83(designator(1, 0, 3, unhex("5000c50015ea71ac")), designator(1, 0, 3, unhex("6001405abcdef0123456789abcdef013"))))
	f.Add([]byte{0, 0x83, 0xff, 0xff, 1, 3, 0, 8})
	f.Fuzz(func(t *testing.T, page []byte) {
		if s, err := ParseVPDSerial(page); err == nil {
			if len(page) < 4 || len(s) > len(page)-4 {
				t.Fatalf("serial %q longer than page %x allows", s, page)
			}
			if s != strings.TrimSpace(s) {
				t.Fatalf("serial %q not trimmed", s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] > 0x7e {
					t.Fatalf("serial %q has byte 0x%02x", s, s[i])
				}
			}
			if !bytes.Contains(page[4:], []byte(s)) {
				t.Fatalf("serial %q not in page %x", s, page)
			}
		}
		if s, err := ParseVPDNAA(page); err == nil && s != "" {
			id, ok := strings.CutPrefix(s, "naa.")
			if !ok || (len(id) != 16 && len(id) != 32) || id != strings.ToLower(id) {
				t.Fatalf("wwn %q from page %x", s, page)
			}
			raw, err := hex.DecodeString(id)
			if err != nil {
				t.Fatalf("wwn %q: %v", s, err)
			}
			if !validNAA(raw) || !bytes.Contains(page[4:], raw) {
				t.Fatalf("wwn %q is not an NAA designator of page %x", s, page)
			}
		}
	})
}
