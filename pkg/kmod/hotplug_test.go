package kmod

import (
	"strings"
	"testing"
)

func TestUeventModalias(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"add@/devices/pci0000:00/0000:00:04.0/usb2/2-1/2-1:1.0\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:04.0/usb2/2-1/2-1:1.0\x00SUBSYSTEM=usb\x00MODALIAS=usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00\x00SEQNUM=1234\x00",
			"usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00"},
		{"add@/devices/x/host2/target2:0:0/2:0:0:0\x00ACTION=add\x00MODALIAS=scsi:t-0x00\x00", "scsi:t-0x00"},
		{"remove@/devices/x\x00ACTION=remove\x00MODALIAS=scsi:t-0x00\x00", ""},
		{"add@/devices/virtual/block/loop0\x00ACTION=add\x00SUBSYSTEM=block\x00", ""},
		{"libudev\x00\xfe\xed\xca\xfe", ""},
		{"add@/x\x00MODALIAS=\x00", ""},
		{"add@/x", ""},
		{"", ""},
		{"add@/x\x00MODALIAS=" + strings.Repeat("a", 600) + "\x00", ""},
	} {
		if got := UeventModalias([]byte(tc.msg)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// FuzzUeventModalias feeds arbitrary netlink messages.
func FuzzUeventModalias(f *testing.F) {
	f.Add([]byte("add@/devices/x\x00ACTION=add\x00MODALIAS=scsi:t-0x00\x00"))
	f.Add([]byte("add@\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		a := UeventModalias(msg)
		if a != "" && (strings.IndexByte(a, 0) >= 0 || len(a) > 512) {
			t.Fatalf("modalias %q from %q", a, msg)
		}
	})
}
