package fsmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// usedOf is Used of the file system in the image file p.
func usedOf(t *testing.T, p, typ string) int64 {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	n, err := Used(f, st.Size(), typ)
	if err != nil {
		t.Fatalf("Used: %v", err)
	}
	return n
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// TestUsed makes each file system with its own mkfs, writes a file of
// 16 MiB into it with the kernel, FUSE or mtools, and checks that what
// Used counts grew by the file, give or take its clusters and metadata.
// A FAT32 whose FSInfo count is erased is counted from its FAT, to the
// same number.
func TestUsed(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("TestUsed mounts file systems: run it as root")
	}
	const file = 16 << 20
	data := bytes.Repeat([]byte("lifeboat"), file/8)
	for _, c := range []struct {
		typ, name string
		size      int64
		mkfs      []string
		mount     []string // mount command and options; nil: mtools
	}{
		{"ext4", "ext4", 64 << 20, []string{"mkfs.ext4", "-q", "-F"}, []string{"mount", "-o", "loop"}},
		{"xfs", "xfs", 320 << 20, []string{"mkfs.xfs", "-q", "-f"}, []string{"mount", "-o", "loop"}},
		{"btrfs", "btrfs", 128 << 20, []string{"mkfs.btrfs", "-q", "-f"}, []string{"mount", "-o", "loop"}},
		{"vfat", "FAT16", 64 << 20, []string{"mkfs.vfat", "-F", "16"}, nil},
		{"vfat", "FAT32", 64 << 20, []string{"mkfs.vfat", "-F", "32"}, nil},
		{"exfat", "exFAT", 64 << 20, []string{"mkfs.exfat"}, []string{"mount.exfat-fuse"}},
		{"ntfs", "NTFS", 64 << 20, []string{"mkfs.ntfs", "-q", "-f", "-F"}, []string{"ntfs-3g"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "fs.img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, c.size); err != nil {
				t.Fatal(err)
			}
			run(t, c.mkfs[0], append(c.mkfs[1:], img)...)
			before := usedOf(t, img, c.typ)
			if before <= 0 || before >= c.size/2 {
				t.Fatalf("a new %s of %d bytes has %d in use", c.name, c.size, before)
			}
			src := filepath.Join(dir, "data")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if c.mount == nil {
				run(t, "mcopy", "-i", img, src, "::/data")
			} else {
				mnt := filepath.Join(dir, "mnt")
				if err := os.Mkdir(mnt, 0o755); err != nil {
					t.Fatal(err)
				}
				dev := img
				if c.mount[0] == "mount.exfat-fuse" { // it takes only a block device
					out, err := exec.Command("losetup", "--find", "--show", img).Output()
					if err != nil {
						t.Fatalf("losetup %s: %v", img, err)
					}
					dev = strings.TrimSpace(string(out))
					defer exec.Command("losetup", "-d", dev).Run()
				}
				run(t, c.mount[0], append(c.mount[1:], dev, mnt)...)
				err := os.WriteFile(filepath.Join(mnt, "data"), data, 0o644)
				run(t, "umount", mnt)
				if err != nil {
					t.Fatal(err)
				}
			}
			after := usedOf(t, img, c.typ)
			if grew := after - before; grew < file || grew > file+file/8 {
				t.Errorf("%s: %d bytes in use before a file of %d was written, %d after (grew %d)", c.name, before, file, after, grew)
			}
			if c.name != "FAT32" {
				return
			}
			// Erase FSInfo's free count: the FAT is counted instead.
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			fsinfo := int64(binary.LittleEndian.Uint16(b[48:])) * int64(binary.LittleEndian.Uint16(b[11:]))
			binary.LittleEndian.PutUint32(b[fsinfo+488:], 0xFFFFFFFF)
			if n, err := Used(bytes.NewReader(b), int64(len(b)), "vfat"); err != nil || n != after {
				t.Errorf("FAT32 without FSInfo's count: %d in use (%v), %d with it", n, err, after)
			}
		})
	}
	// Formats without a count, and cut-short file systems, are errors.
	if _, err := Used(bytes.NewReader(make([]byte, 4096)), 4096, "swap"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("swap: %v, want ErrUnsupported", err)
	}
	b := seedImage(t, 8<<20, "mkfs.ext4", "-q", "-F")
	if _, err := Used(bytes.NewReader(b[:2<<20]), 2<<20, "ext4"); err == nil {
		t.Error("an ext4 cut to a quarter was counted")
	}
}
