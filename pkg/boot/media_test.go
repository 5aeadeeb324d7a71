package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMediaDisks writes GPTs with sgdisk (the real tool) and finds the one
// with the boot stick's disk GUID among them.
func TestMediaDisks(t *testing.T) {
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Skip("sgdisk is missing: run make deps")
	}
	dev := t.TempDir()
	const guid = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"
	mk := func(name, g string, size int64) {
		p := filepath.Join(dev, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		f.Close()
		if g != "" {
			if out, err := exec.Command("sgdisk", "-o", "-U", g, "-n", "1:2048:+1M", p).CombinedOutput(); err != nil {
				t.Fatalf("sgdisk: %v\n%s", err, out)
			}
		}
	}
	mk("sda", "11111111-2222-3333-4444-555555555555", 8<<20)
	mk("sdb", guid, 8<<20)
	mk("sdc", "", 8<<20) // blank
	mk("sdd", "", 100)   // shorter than a GPT header
	f, err := os.Open(filepath.Join(dev, "sdb"))
	if err != nil {
		t.Fatal(err)
	}
	g, ok, err := DiskGUID(f)
	f.Close()
	if err != nil || !ok || g != guid {
		t.Fatalf("DiskGUID = %q, %v, %v; want %s", g, ok, err, guid)
	}
	got := MediaDisks(dev, []string{"sda", "sdb", "sdc", "sdd", "missing"}, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	if len(got) != 1 || got[0] != "sdb" {
		t.Fatalf("MediaDisks = %q, want [sdb]", got)
	}
	if got := MediaDisks(dev, []string{"sda", "sdb"}, ""); got != nil {
		t.Fatalf("MediaDisks with no GUID = %q", got)
	}
}

func TestReadFirmware(t *testing.T) {
	write := func(root, p string, b []byte) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bios := t.TempDir()
	write(bios, "kernel/security/lockdown", []byte("[none] integrity confidentiality\n"))
	if fw := ReadFirmware(bios); fw.UEFI || fw.String() != "BIOS" || fw.Lockdown != "none" {
		t.Errorf("BIOS machine: %+v %q", fw, fw)
	}
	sb := t.TempDir()
	write(sb, "firmware/efi/efivars/"+secureBootVar, []byte{6, 0, 0, 0, 1})
	write(sb, "kernel/security/lockdown", []byte("none [integrity] confidentiality\n"))
	if fw := ReadFirmware(sb); !fw.SecureBoot || fw.String() != "UEFI, Secure Boot on, lockdown integrity" || fw.Lockdown != "integrity" {
		t.Errorf("Secure Boot machine: %+v %q", fw, fw)
	}
	off := t.TempDir()
	write(off, "firmware/efi/efivars/"+secureBootVar, []byte{6, 0, 0, 0, 0})
	if fw := ReadFirmware(off); fw.SecureBoot || fw.String() != "UEFI, Secure Boot off" || fw.Lockdown != "" {
		t.Errorf("UEFI machine: %+v %q", fw, fw)
	}
	unknown := t.TempDir()
	os.MkdirAll(filepath.Join(unknown, "firmware/efi/efivars"), 0o755)
	if fw := ReadFirmware(unknown); fw.String() != "UEFI" {
		t.Errorf("UEFI without efivarfs: %+v %q", fw, fw)
	}
}

func TestMediaDisksByMBRSignature(t *testing.T) {
	dev := t.TempDir()
	for name, sig := range map[string][]byte{"sr0": {0x78, 0x56, 0x34, 0x12}, "sda": {1, 2, 3, 4}} {
		b := make([]byte, 4096)
		copy(b[0x1b8:], sig)
		b[510], b[511] = 0x55, 0xaa
		if err := os.WriteFile(filepath.Join(dev, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dev, "sdb"), make([]byte, 4096), 0o644) // no MBR
	got := MediaDisks(dev, []string{"sda", "sdb", "sr0"}, "mbr:12345678")
	if len(got) != 1 || got[0] != "sr0" {
		t.Fatalf("MediaDisks = %q, want [sr0]", got)
	}
}
