package ptable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	gptSignature  = "EFI PART"
	gptMinHdrSize = 92
	// maxGPTArray bounds the entry array we are willing to read: the
	// specification's minimum is 16 KiB; real tables stay far below 1 MiB.
	maxGPTArray = 4 << 20
)

// gptHeader is the parsed fixed part of a GPT header (UEFI 2.x, 5.3.2).
type gptHeader struct {
	HeaderSize     uint32
	MyLBA          uint64
	AlternateLBA   uint64
	FirstUsableLBA uint64
	LastUsableLBA  uint64
	DiskGUID       [16]byte
	EntriesLBA     uint64
	NumEntries     uint32
	EntrySize      uint32
	EntriesCRC     uint32
}

var errNoGPT = errors.New("no GPT signature")

// parseGPTHeader parses and checks a GPT header sector.
func parseGPTHeader(b []byte) (gptHeader, error) {
	var h gptHeader
	if len(b) < gptMinHdrSize {
		return h, fmt.Errorf("GPT header sector of %d bytes is too short", len(b))
	}
	if string(b[0:8]) != gptSignature {
		return h, errNoGPT
	}
	le := binary.LittleEndian
	h.HeaderSize = le.Uint32(b[12:16])
	if h.HeaderSize < gptMinHdrSize || int(h.HeaderSize) > len(b) {
		return h, fmt.Errorf("GPT header size %d out of range", h.HeaderSize)
	}
	want := le.Uint32(b[16:20])
	if got := headerCRC(b[:h.HeaderSize]); got != want {
		return h, fmt.Errorf("GPT header CRC is %08x, computed %08x", want, got)
	}
	h.MyLBA = le.Uint64(b[24:32])
	h.AlternateLBA = le.Uint64(b[32:40])
	h.FirstUsableLBA = le.Uint64(b[40:48])
	h.LastUsableLBA = le.Uint64(b[48:56])
	copy(h.DiskGUID[:], b[56:72])
	h.EntriesLBA = le.Uint64(b[72:80])
	h.NumEntries = le.Uint32(b[80:84])
	h.EntrySize = le.Uint32(b[84:88])
	h.EntriesCRC = le.Uint32(b[88:92])
	if h.EntrySize < 128 || h.EntrySize > 4096 || h.EntrySize&(h.EntrySize-1) != 0 {
		return h, fmt.Errorf("GPT entry size %d is not a power of two from 128 to 4096", h.EntrySize)
	}
	if h.NumEntries == 0 || uint64(h.NumEntries)*uint64(h.EntrySize) > maxGPTArray {
		return h, fmt.Errorf("GPT entry array of %d entries of %d bytes is out of range", h.NumEntries, h.EntrySize)
	}
	if h.FirstUsableLBA > h.LastUsableLBA+1 {
		return h, fmt.Errorf("GPT first usable LBA %d is past last usable LBA %d", h.FirstUsableLBA, h.LastUsableLBA)
	}
	return h, nil
}

// arrayBytes is the size of the entry array in bytes.
func (h gptHeader) arrayBytes() int { return int(h.NumEntries) * int(h.EntrySize) }

// arraySectors is the number of sectors the entry array occupies.
func (h gptHeader) arraySectors(lss int) uint64 {
	return uint64((h.arrayBytes() + lss - 1) / lss)
}

// headerCRC computes the CRC32 of a header with its CRC field taken as zero.
func headerCRC(hdr []byte) uint32 {
	c := crc32.NewIEEE()
	c.Write(hdr[:16])
	c.Write([]byte{0, 0, 0, 0})
	c.Write(hdr[20:])
	return c.Sum32()
}

// setHeaderCRC recomputes the CRC field of a header of the given size.
func setHeaderCRC(sector []byte, size uint32) {
	binary.LittleEndian.PutUint32(sector[16:20], headerCRC(sector[:size]))
}

// checkArray verifies an entry array against its header.
func (h gptHeader) checkArray(arr []byte) error {
	if len(arr) < h.arrayBytes() {
		return fmt.Errorf("GPT entry array is %d bytes, header says %d", len(arr), h.arrayBytes())
	}
	if got := crc32.ChecksumIEEE(arr[:h.arrayBytes()]); got != h.EntriesCRC {
		return fmt.Errorf("GPT entry array CRC is %08x, header says %08x", got, h.EntriesCRC)
	}
	return nil
}

func isZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
