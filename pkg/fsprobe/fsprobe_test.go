package fsprobe

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// mkfsCase makes a file system with the real tool. Each writes the image
// named by its argument, which already exists with the given size.
type mkfsCase struct {
	name string
	size int64
	cmd  []string // "IMG" is replaced by the image path
	// loop runs the command on a loop device over the image (tools that
	// refuse regular files).
	loop bool
}

var mkfsCases = []mkfsCase{
	{"ext2", 8 << 20, []string{"mkfs.ext2", "-q", "-F", "-L", "e2 label", "IMG"}, false},
	{"ext3", 8 << 20, []string{"mkfs.ext3", "-q", "-F", "-L", "e3", "IMG"}, false},
	{"ext4", 64 << 20, []string{"mkfs.ext4", "-q", "-F", "-L", "root", "IMG"}, false},
	{"ext4-64bit-4k", 64 << 20, []string{"mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "64bit", "IMG"}, false},
	{"xfs", 300 << 20, []string{"mkfs.xfs", "-q", "-f", "-L", "data", "IMG"}, false},
	{"btrfs", 128 << 20, []string{"mkfs.btrfs", "-q", "-f", "-L", "pool", "IMG"}, false},
	{"fat12", 2 << 20, []string{"mkfs.vfat", "-F", "12", "-n", "FLOPPY", "IMG"}, false},
	{"fat16", 32 << 20, []string{"mkfs.vfat", "-F", "16", "-n", "F16", "IMG"}, false},
	{"fat32", 64 << 20, []string{"mkfs.vfat", "-F", "32", "-n", "EFI", "IMG"}, false},
	{"fat32-nolabel", 64 << 20, []string{"mkfs.vfat", "-F", "32", "IMG"}, false},
	{"fat32-4k-sectors", 256 << 20, []string{"mkfs.vfat", "-F", "32", "-S", "4096", "-n", "BIG", "IMG"}, false},
	{"exfat", 32 << 20, []string{"mkfs.exfat", "-L", "Stick", "IMG"}, false},
	{"ntfs", 32 << 20, []string{"mkfs.ntfs", "-q", "-F", "-f", "-L", "Windows", "IMG"}, false},
	{"ntfs-64k-clusters", 64 << 20, []string{"mkfs.ntfs", "-q", "-F", "-f", "-c", "65536", "-L", "Big cluster", "IMG"}, false},
	{"swap", 16 << 20, []string{"mkswap", "-L", "swap0", "IMG"}, false},
	{"luks1", 20 << 20, []string{"cryptsetup", "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--key-file", "KEY", "IMG"}, false},
	{"luks2", 20 << 20, []string{"cryptsetup", "luksFormat", "-q", "--type", "luks2", "--label", "vault", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "KEY", "IMG"}, false},
	{"lvm", 16 << 20, []string{"pvcreate", "-q", "-y", "IMG"}, true},
	{"iso9660", 0, []string{"xorriso", "-as", "mkisofs", "-quiet", "-V", "RESCUE_CD", "-o", "IMG", "DIR"}, false},
	{"squashfs", 0, []string{"mksquashfs", "DIR", "IMG", "-quiet", "-noappend"}, false},
}

// makeImage builds the case's image in dir and returns its path.
func makeImage(t testing.TB, dir string, c mkfsCase) string {
	t.Helper()
	img := filepath.Join(dir, c.name+".img")
	if c.size > 0 {
		if err := os.Truncate(img, c.size); err != nil {
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Truncate(img, c.size); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("passphrase"), 0o600); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "iso-content")
	if err := os.MkdirAll(content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(content, "readme.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := img
	if c.loop {
		out, err := exec.Command("losetup", "--find", "--show", img).Output()
		if err != nil {
			t.Fatalf("losetup %s: %v", img, err)
		}
		target = strings.TrimSpace(string(out))
		defer exec.Command("losetup", "-d", target).Run()
	}
	args := make([]string, len(c.cmd))
	for i, a := range c.cmd {
		switch a {
		case "IMG":
			a = target
		case "KEY":
			a = key
		case "DIR":
			a = content
		}
		args[i] = a
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return img
}

// blkid returns what blkid's low-level probe says about a file.
func blkid(t testing.TB, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", path).Output()
	if err != nil {
		t.Fatalf("blkid -p %s: %v", path, err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			m[k] = strings.ReplaceAll(v, `\ `, " ")
		}
	}
	return m
}

func probeFile(t testing.TB, path string) (Info, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(f, st.Size())
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	return info, st.Size()
}

// TestProbeMatchesBlkid makes each file system with its real tool and checks
// that Probe names it, its label, UUID and version exactly as blkid does.
func TestProbeMatchesBlkid(t *testing.T) {
	dir := t.TempDir()
	for _, c := range mkfsCases {
		t.Run(c.name, func(t *testing.T) {
			if c.loop && os.Geteuid() != 0 {
				t.Skip("needs root for a loop device")
			}
			img := makeImage(t, dir, c)
			want := blkid(t, img)
			got, size := probeFile(t, img)
			if got.Type != want["TYPE"] {
				t.Fatalf("type %q, blkid says %q", got.Type, want["TYPE"])
			}
			if got.Label != want["LABEL"] {
				t.Errorf("label %q, blkid says %q", got.Label, want["LABEL"])
			}
			if got.UUID != want["UUID"] {
				t.Errorf("UUID %q, blkid says %q", got.UUID, want["UUID"])
			}
			if v, ok := want["VERSION"]; ok && got.Version != v {
				t.Errorf("version %q, blkid says %q", got.Version, v)
			}
			if got.Size < 0 || got.Size > size {
				t.Errorf("size %d outside the %d-byte image", got.Size, size)
			}
			if got.Type != "crypto_LUKS" && got.Type != "LVM2_member" {
				// squashfs records the bytes it uses, which a tiny
				// image pads to 4 KiB.
				if got.Size < size/2 && got.Type != "squashfs" {
					t.Errorf("size %d, image is %d bytes", got.Size, size)
				}
				if got.BlockSize < 512 || got.BlockSize&(got.BlockSize-1) != 0 {
					t.Errorf("block size %d", got.BlockSize)
				}
			}
		})
	}
}

// TestProbeVolumeLabelRenamed checks that the volume-label entry of the
// root directory (what Windows changes on a rename) wins over a stale copy
// in the boot sector, as blkid has it.
func TestProbeVolumeLabelRenamed(t *testing.T) {
	dir := t.TempDir()
	img := makeImage(t, dir, mkfsCase{name: "fat", size: 32 << 20, cmd: []string{"mkfs.vfat", "-F", "16", "-n", "CURRENT", "IMG"}})
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("STALE      "), 43); err != nil { // FAT16 boot-sector label
		t.Fatal(err)
	}
	f.Close()
	got, _ := probeFile(t, img)
	want := blkid(t, img)
	if want["LABEL_FATBOOT"] != "STALE" {
		t.Fatalf("boot-sector label not changed: blkid %v", want)
	}
	if got.Label != "CURRENT" || got.Label != want["LABEL"] {
		t.Errorf("label %q, blkid %q, want CURRENT", got.Label, want["LABEL"])
	}
}

// TestProbeNothing checks that zeros and random bytes are not taken for a
// file system, and that an MBR boot sector is not taken for FAT.
func TestProbeNothing(t *testing.T) {
	random := make([]byte, 1<<20)
	rand.Read(random)
	mbr := make([]byte, 1<<20)
	copy(mbr, []byte{0xEB, 0x63, 0x90}) // GRUB's jump
	mbr[510], mbr[511] = 0x55, 0xAA
	mbr[446+4] = 0x83
	for name, b := range map[string][]byte{"zeros": make([]byte, 1<<20), "random": random, "mbr": mbr, "tiny": {1, 2, 3}} {
		got, err := Probe(bytes.NewReader(b), int64(len(b)))
		if err != nil || got != (Info{}) {
			t.Errorf("%s: got %+v, %v; want nothing", name, got, err)
		}
	}
}

// TestProbeBitLocker uses the signature of a BitLocker volume's boot sector
// (no tool here can make one).
func TestProbeBitLocker(t *testing.T) {
	b := make([]byte, 64<<10)
	copy(b, []byte("\xeb\x58\x90-FVE-FS-"))
	b[11], b[12] = 0x00, 0x02
	b[510], b[511] = 0x55, 0xAA
	got, err := Probe(bytes.NewReader(b), int64(len(b)))
	if err != nil || got.Type != "BitLocker" || !got.Crypto() {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// failingReader returns EIO from a given offset on, like a disk with bad
// sectors.
type failingReader struct {
	r      io.ReaderAt
	badOff int64
}

var errIO = errors.New("input/output error")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.badOff {
		return 0, errIO
	}
	return f.r.ReadAt(p, off)
}

// TestProbeReadErrors checks that a read error is reported with its offset
// rather than taken for "nothing here", and that an input shorter than its
// stated size is an error too.
func TestProbeReadErrors(t *testing.T) {
	dir := t.TempDir()
	img := makeImage(t, dir, mkfsCases[2]) // ext4
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Probe(failingReader{bytes.NewReader(data), 0}, int64(len(data)))
	if !errors.Is(err, errIO) || !strings.Contains(err.Error(), "offset 0") {
		t.Errorf("EIO at 0: %v", err)
	}
	_, err = Probe(bytes.NewReader(data[:512]), int64(len(data)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
}

// TestProbeWithinPartition probes a file system at an offset of a larger
// disk, as pkg/ops does for each partition.
func TestProbeWithinPartition(t *testing.T) {
	dir := t.TempDir()
	img := makeImage(t, dir, mkfsCases[8]) // fat32
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 1<<20+len(data)+1<<20)
	rand.Read(disk)
	copy(disk[1<<20:], data)
	got, err := Probe(io.NewSectionReader(bytes.NewReader(disk), 1<<20, int64(len(data))), int64(len(data)))
	if err != nil || got.Type != "vfat" || got.Version != "FAT32" || got.Label != "EFI" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// FuzzProbe feeds Probe the first sectors of real file systems, mutated: it
// must not panic, must be deterministic, and must return valid UTF-8.
func FuzzProbe(f *testing.F) {
	dir := f.TempDir()
	for _, c := range mkfsCases {
		if c.loop || c.size > 64<<20 {
			continue
		}
		img := makeImage(f, dir, c)
		data, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 96<<10)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, errA := Probe(bytes.NewReader(b), int64(len(b)))
		c, errC := Probe(bytes.NewReader(b), int64(len(b)))
		if a != c || (errA == nil) != (errC == nil) {
			t.Fatalf("not deterministic: %+v %v / %+v %v", a, errA, c, errC)
		}
		if errA != nil {
			t.Fatalf("error on an in-memory input: %v", errA)
		}
		for _, s := range []string{a.Type, a.Label, a.UUID, a.Version} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
		if a.Size < 0 || a.BlockSize < 0 {
			t.Fatalf("negative size: %+v", a)
		}
	})
}
