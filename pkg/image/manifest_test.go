package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

func sample() *Manifest {
	m := &Manifest{
		Name:    "laptop-01.2026",
		Created: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC),
		Tool:    "lifeboat test",
		Disk: Disk{Size: 10<<20 + 4096, LogicalSectorSize: 512, PhysicalSectorSize: 4096,
			Model: "QEMU HARDDISK", Serial: "QM0001", WWN: "naa.5000c500a1b2c3d4", Path: "/dev/sda"},
		ExtentSize:  4 << 20,
		HashAlg:     "sha256",
		Compression: "zstd",
		Table: &ptable.Table{Type: ptable.TypeGPT, SectorSize: 512, DiskID: "11111111-2222-3333-4444-555555555555",
			Partitions: []ptable.Partition{{Number: 1, Start: 1 << 20, Size: 8 << 20, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", Name: "EFI"}}},
		Stats:    Stats{BytesRead: 10<<20 + 4096, Chunks: 2},
		Warnings: []string{"primary GPT damaged"},
		Areas: []Area{
			{Area: ptable.Area{Name: "mbr", Offset: 0, Length: 512}, Data: bytes.Repeat([]byte{0xAB}, 512)},
			{Area: ptable.Area{Name: "gap", Offset: 1024, Length: 1 << 20}, Data: []byte("GRUB"), Truncated: true},
		},
		Extents: []Extent{{ID: sha256.Sum256([]byte("a")), Stored: 123, Used: []Run{{0, 4096}, {1 << 20, 8192}}},
			{Hole: true}, {ID: sha256.Sum256([]byte("b")), Stored: 7}},
	}
	return m
}

// TestReadsVersion1: a version-1 manifest (no partly used extents) is
// still read.
func TestReadsVersion1(t *testing.T) {
	m := sample()
	m.Extents[0].Used = nil
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b[8] = 1
	n := len(b) - 32
	sum := sha256.Sum256(b[:n])
	copy(b[n:], sum[:])
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Extents, got.Extents); diff != "" {
		t.Fatal(diff)
	}
}

func TestRoundTrip(t *testing.T) {
	m := sample()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got, cmp.AllowUnexported(ptable.Table{})); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if got.ID != sha256.Sum256(b[:len(b)-32]) {
		t.Fatal("ID is not the hash of the encoding")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":            {nil, "too short"},
		"truncated":        {good[:len(good)-1], "truncated"},
		"truncated body":   {append(bytes.Clone(good[:40]), good[len(good)-32:]...), "truncated"},
		"extended":         {append(bytes.Clone(good), 0), "truncated or extended"},
		"magic":            {flip(1), "bad magic"},
		"version":          {flip(8), "version"},
		"flipped in body":  {flip(headerSize + 10), "altered"},
		"flipped in hash":  {flip(len(good) - 1), "altered"},
		"text-mode mangle": {bytes.Replace(good, []byte("\r\n"), []byte("\n"), 1), "bad magic"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(c.b)
			if err == nil {
				t.Fatal("decoded")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want ErrFormat mentioning %q", err, c.want)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := map[string]func(m *Manifest){
		"extent count":   func(m *Manifest) { m.Extents = m.Extents[:2] },
		"extent size":    func(m *Manifest) { m.ExtentSize = 3 << 20 },
		"sector":         func(m *Manifest) { m.Disk.LogicalSectorSize = 1000 },
		"size":           func(m *Manifest) { m.Disk.Size = 0 },
		"area outside":   func(m *Manifest) { m.Areas[0].Offset = m.Disk.Size },
		"area too long":  func(m *Manifest) { m.Areas[0].Data = make([]byte, 513) },
		"name":           func(m *Manifest) { m.Name = "../etc/passwd" },
		"hash":           func(m *Manifest) { m.HashAlg = "md5" },
		"no table":       func(m *Manifest) { m.Table = nil },
		"used on hole":   func(m *Manifest) { m.Extents[1].Used = []Run{{0, 512}} },
		"used overlaps":  func(m *Manifest) { m.Extents[0].Used = []Run{{0, 4096}, {2048, 4096}} },
		"used outside":   func(m *Manifest) { m.Extents[2].Used = []Run{{0, 4 << 20}} },
		"used unaligned": func(m *Manifest) { m.Extents[0].Used = []Run{{100, 512}} },
		"used empty":     func(m *Manifest) { m.Extents[0].Used = []Run{} },
	}
	for name, mutate := range cases {
		m := sample()
		mutate(m)
		if _, err := m.Encode(); err == nil {
			t.Errorf("%s: encoded an invalid manifest", name)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "laptop-01", "x_y.z+1", strings.Repeat("a", 128)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "-x", "a/b", "a b", "é", strings.Repeat("a", 129), "x\n"} {
		if ValidName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// reseal fixes the lengths and the trailing hash of a manifest whose body
// was replaced, so that fuzzing reaches the body parser.
func reseal(body []byte) []byte {
	e, _ := coders()
	out := make([]byte, headerSize)
	copy(out, Magic[:])
	binary.LittleEndian.PutUint32(out[8:], Version)
	binary.LittleEndian.PutUint64(out[24:], uint64(len(body)))
	out = e.EncodeAll(body, out)
	binary.LittleEndian.PutUint64(out[16:], uint64(len(out)-headerSize))
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

func FuzzDecode(f *testing.F) {
	good, err := sample().Encode()
	if err != nil {
		f.Fatal(err)
	}
	_, d := coders()
	body, err := d.DecodeAll(good[headerSize:len(good)-32], nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, false)
	f.Add(good, true)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		in := data
		if !raw {
			in = reseal(data)
		}
		m, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		m2, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m.Extents, m2.Extents); diff != "" {
			t.Fatal(diff)
		}
	})
}
