package inventory

import "testing"

func TestVendorName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0x1af4", "Red Hat"},
		{"0x1AF4", "Red Hat"},
		{"0x1b36", "Red Hat"},
		{"0x144d", "Samsung"},
		{"0x8086", "Intel"},
		{"0x1e0f", "KIOXIA"},
		{"0x1234", "PCI vendor 0x1234"},
		{"0x554d4551", "QEMU"},
		{"0x12345678", "vendor 0x12345678"},
		{"ATA", "ATA"},
		{"SanDisk", "SanDisk"},
		{"0x", "0x"},
		{"0xzz", "0xzz"},
		{"", ""},
	} {
		if got := VendorName(c.in); got != c.want {
			t.Errorf("VendorName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
