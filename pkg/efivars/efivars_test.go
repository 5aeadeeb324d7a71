package efivars

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// debianEntry is a Boot entry as efibootmgr writes one for Debian's shim
// on the first partition of a GPT disk ("debian", HD(1,GPT,...,0x800,
// 0x100000)/\EFI\debian\shimx64.efi), built here field by field from the
// UEFI specification's layout.
func debianEntry(t *testing.T) []byte {
	t.Helper()
	h := "01000000" + "6200" + // active; 98 bytes of device path
		"640065006200690061006e000000" + // "debian"
		"04012a00" + "01000000" + "0008000000000000" + "0000100000000000" +
		"78563412" + "3412" + "7856" + "9abcdef012345678" + "0202" + // HD(1,GPT,12345678-1234-5678-9ABC-DEF012345678)
		"04043400" + hex.EncodeToString(utf16le(`\EFI\debian\shimx64.efi`+"\x00")) +
		"7fff0400"
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func TestParseDebianEntry(t *testing.T) {
	b := debianEntry(t)
	o, err := ParseLoadOption(b)
	if err != nil {
		t.Fatal(err)
	}
	if o.Attributes != LoadOptionActive || o.Description != "debian" || len(o.Optional) != 0 {
		t.Errorf("option %+v", o)
	}
	p, err := ParsePath(o.FilePath)
	if err != nil {
		t.Fatal(err)
	}
	want := Path{Disk: &HardDrive{Partition: 1, Start: 0x800, Size: 0x100000, GUID: "12345678-1234-5678-9ABC-DEF012345678"}, File: `\EFI\debian\shimx64.efi`}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("path %+v %+v, want %+v %+v", p, p.Disk, want, want.Disk)
	}
	// Built again from what was read, it is the same bytes.
	fp, err := ShortPath(*p.Disk, p.File)
	if err != nil {
		t.Fatal(err)
	}
	again := LoadOption{Attributes: o.Attributes, Description: o.Description, FilePath: fp}.Marshal()
	if !bytes.Equal(again, b) {
		t.Errorf("rebuilt entry differs:\n%x\n%x", again, b)
	}
}

func TestMBRPath(t *testing.T) {
	hd := HardDrive{Partition: 2, Start: 2048, Size: 4096, Signature: "ceaf8453"}
	fp, err := ShortPath(hd, `\EFI\BOOT\BOOTX64.EFI`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePath(fp)
	if err != nil || p.Disk == nil || *p.Disk != hd || p.File != `\EFI\BOOT\BOOTX64.EFI` {
		t.Errorf("%+v %v", p, err)
	}
	if _, err := ShortPath(HardDrive{Partition: 1}, `\x.efi`); err == nil {
		t.Error("a path without a GUID or signature was built")
	}
}

func TestParseRejectsDamage(t *testing.T) {
	b := debianEntry(t)
	for _, n := range []int{0, 5, 10, 20, 40, len(b) - 4} {
		o, err := ParseLoadOption(b[:n])
		if err == nil {
			if _, err = ParsePath(o.FilePath); err == nil {
				t.Errorf("entry cut to %d bytes read without an error", n)
			}
		}
	}
	bad := append([]byte(nil), b...)
	bad[4] = 0xff // device path longer than the entry
	if _, err := ParseLoadOption(bad); err == nil {
		t.Error("a device path longer than the entry was read")
	}
}

func FuzzLoadOption(f *testing.F) {
	f.Add(debianEntry(&testing.T{}))
	f.Add([]byte{1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseLoadOption(b)
		if err != nil {
			return
		}
		again, err := ParseLoadOption(o.Marshal())
		if err != nil || again.Attributes != o.Attributes || !bytes.Equal(again.FilePath, o.FilePath) || !bytes.Equal(again.Optional, o.Optional) {
			t.Fatalf("re-read %+v %v, was %+v", again, err, o)
		}
		p, err := ParsePath(o.FilePath)
		if err != nil || p.Disk == nil || (p.Disk.GUID == "" && p.Disk.Signature == "") {
			return
		}
		fp, err := ShortPath(*p.Disk, p.File)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePath(fp)
		if err != nil || *q.Disk != *p.Disk {
			t.Fatalf("path %+v rebuilt as %+v %v", p.Disk, q.Disk, err)
		}
	})
}
