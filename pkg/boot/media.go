package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DiskGUID reads the disk GUID from r's GPT header (at LBA 1 for 512- or
// 4096-byte sectors), in the usual text form
// (01234567-89AB-CDEF-0123-456789ABCDEF). ok is false when r holds no GPT.
func DiskGUID(r io.ReaderAt) (guid string, ok bool, err error) {
	hdr := make([]byte, 92)
	for _, ss := range []int64{512, 4096} {
		if _, err := r.ReadAt(hdr, ss); err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			return "", false, fmt.Errorf("read the GPT header at offset %d: %w", ss, err)
		}
		if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
			continue
		}
		return formatGUID(hdr[56:72]), true, nil
	}
	return "", false, nil
}

// formatGUID writes a GUID stored in the mixed-endian on-disk form.
func formatGUID(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// MBRSignature reads the disk signature of r's MBR as 8 hex digits; ok is
// false when sector 0 is no MBR.
func MBRSignature(r io.ReaderAt) (sig string, ok bool, err error) {
	s := make([]byte, 512)
	if _, err := r.ReadAt(s, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("read the MBR: %w", err)
	}
	if s[510] != 0x55 || s[511] != 0xaa {
		return "", false, nil
	}
	return fmt.Sprintf("%08X", binary.LittleEndian.Uint32(s[0x1b8:])), true, nil
}

// MediaDisks returns, of the named disks (kernel names under devRoot), those
// that are the medium Lifeboat booted from, which its boot menu names on
// the kernel command line (lifeboat.media): id is the GPT disk GUID of the
// USB stick image, or "mbr:" and the MBR disk signature of the hybrid ISO
// image (on a stick, or on a CD). Disks that cannot be read are passed
// over.
func MediaDisks(devRoot string, disks []string, id string) []string {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return nil
	}
	read := DiskGUID
	if sig, ok := strings.CutPrefix(id, "MBR:"); ok {
		id = sig
		read = MBRSignature
	}
	var out []string
	for _, name := range disks {
		f, err := os.OpenFile(filepath.Join(devRoot, name), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		got, ok, err := read(f)
		f.Close()
		if err == nil && ok && got == id {
			out = append(out, name)
		}
	}
	return out
}

// Firmware is how the machine booted.
type Firmware struct {
	UEFI bool
	// SecureBoot is set when UEFI Secure Boot is enforced; SecureBootKnown
	// when that could be read (efivarfs mounted).
	SecureBoot, SecureBootKnown bool
	// Lockdown is the kernel's lockdown mode ("none", "integrity",
	// "confidentiality"), or "" when unknown.
	Lockdown string
}

// String reads as "UEFI, Secure Boot on, lockdown integrity", "UEFI,
// Secure Boot off", "BIOS"; the lockdown mode is named when the kernel
// enforces one.
func (f Firmware) String() string {
	s := "BIOS"
	if f.UEFI {
		switch {
		case !f.SecureBootKnown:
			s = "UEFI"
		case f.SecureBoot:
			s = "UEFI, Secure Boot on"
		default:
			s = "UEFI, Secure Boot off"
		}
	}
	if f.Lockdown != "" && f.Lockdown != "none" {
		s += ", lockdown " + f.Lockdown
	}
	return s
}

// secureBootVar is the global variable SecureBoot, in efivarfs: 4 bytes of
// attributes, then one byte, 1 when Secure Boot is enforced.
const secureBootVar = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// ReadFirmware tells UEFI from BIOS and reads the Secure Boot state from
// sysRoot/firmware/efi/efivars and the kernel's lockdown mode from
// sysRoot/kernel/security/lockdown, where those are mounted.
func ReadFirmware(sysRoot string) Firmware {
	var fw Firmware
	if _, err := os.Stat(filepath.Join(sysRoot, "firmware/efi")); err == nil {
		fw.UEFI = true
		if b, err := os.ReadFile(filepath.Join(sysRoot, "firmware/efi/efivars", secureBootVar)); err == nil && len(b) == 5 {
			fw.SecureBootKnown = true
			fw.SecureBoot = b[4] == 1
		}
	}
	if b, err := os.ReadFile(filepath.Join(sysRoot, "kernel/security/lockdown")); err == nil {
		// "none [integrity] confidentiality": the bracketed one is in force.
		s := string(b)
		if i := strings.IndexByte(s, '['); i >= 0 {
			if j := strings.IndexByte(s[i:], ']'); j > 0 {
				fw.Lockdown = s[i+1 : i+j]
			}
		}
	}
	return fw
}

// MountFirmwareFS mounts efivarfs (on UEFI machines) and securityfs where
// ReadFirmware reads them, unless something is mounted there already.
func MountFirmwareFS(sysRoot string) error {
	var errs []error
	mnt := func(fstype, dir string) {
		if _, err := os.Stat(dir); err != nil {
			return
		}
		if err := unix.Mount(fstype, dir, fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", fstype, dir, err))
		}
	}
	if ents, err := os.ReadDir(filepath.Join(sysRoot, "firmware/efi/efivars")); err == nil && len(ents) == 0 {
		mnt("efivarfs", filepath.Join(sysRoot, "firmware/efi/efivars"))
	}
	if ents, err := os.ReadDir(filepath.Join(sysRoot, "kernel/security")); err == nil && len(ents) == 0 {
		mnt("securityfs", filepath.Join(sysRoot, "kernel/security"))
	}
	return errors.Join(errs...)
}
