package fatfs

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestReadAndRewrite makes FAT12, FAT16 and FAT32 volumes with mkfs.vfat,
// puts files in them with mtools (long and short names, nested
// directories, a file of several clusters), reads them back, rewrites one
// in place, and has fsck.vfat and mtools check the result.
func TestReadAndRewrite(t *testing.T) {
	for _, c := range []struct {
		name string
		size int64
		mkfs []string
		bits int
	}{
		{"FAT12", 4 << 20, []string{"-F", "12"}, 12},
		{"FAT16", 32 << 20, []string{"-F", "16", "-s", "2"}, 16},
		{"FAT32", 48 << 20, []string{"-F", "32", "-s", "1"}, 32},
		{"FAT32-4096", 300 << 20, []string{"-F", "32", "-S", "4096", "-s", "1"}, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "fat.img")
			f, _ := os.Create(img)
			f.Truncate(c.size)
			f.Close()
			run(t, "mkfs.vfat", append(append([]string{}, c.mkfs...), img)...)
			big := make([]byte, 70000)
			rand.Read(big)
			files := map[string][]byte{
				"/EFI/debian/grub.cfg":                  []byte("search.fs_uuid 1234-ABCD root\n"),
				"/EFI/BOOT/BOOTX64.EFI":                 big,
				"/loader/entries/Debian GNU Linux.conf": []byte("options root=UUID=1234-ABCD\n"),
				"/README.TXT":                           []byte("hello\n"),
			}
			for p, data := range files {
				local := filepath.Join(dir, filepath.Base(p))
				os.WriteFile(local, data, 0o644)
				parts := strings.Split(strings.Trim(p, "/"), "/")
				for k := 1; k < len(parts); k++ {
					exec.Command("mmd", "-i", img, "::/"+strings.Join(parts[:k], "/")).Run()
				}
				run(t, "mcopy", "-i", img, local, "::"+p)
			}
			fh, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			v, err := Open(fh, c.size)
			if err != nil {
				t.Fatal(err)
			}
			if v.G.Bits != c.bits {
				t.Errorf("FAT%d read as FAT%d", c.bits, v.G.Bits)
			}
			for p, want := range files {
				got, err := v.ReadFile(p, 1<<20)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %v, %d bytes, want %d", p, err, len(got), len(want))
				}
			}
			if got := v.Glob("loader/entries/*.conf"); len(got) != 1 || got[0] != "/loader/entries/Debian GNU Linux.conf" {
				t.Errorf("glob: %q", got)
			}
			got := v.Glob("efi/*/*.cfg")
			sort.Strings(got)
			if len(got) != 1 || !strings.EqualFold(got[0], "/EFI/debian/grub.cfg") {
				t.Errorf("glob efi/*/*.cfg: %q", got)
			}
			if _, err := v.ReadFile("/EFI/BOOT/BOOTX64.EFI", 1000); err == nil {
				t.Error("a file over the limit was read")
			}
			// Rewrite in place; the size must stay.
			nw := []byte("search.fs_uuid 9876-FEDC root\n")
			if err := v.Rewrite(fh, "/efi/debian/grub.cfg", nw); err != nil {
				t.Fatal(err)
			}
			if err := v.Rewrite(fh, "/efi/debian/grub.cfg", nw[:5]); err == nil {
				t.Error("a rewrite that changes the size was done")
			}
			fh.Sync()
			if out := run(t, "mtype", "-i", img, "::/EFI/debian/grub.cfg"); out != string(nw) {
				t.Errorf("mtype after the rewrite: %q", out)
			}
			if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil {
				t.Errorf("fsck.vfat -n: %v\n%s", err, out)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, n string
		ok   bool
	}{
		{"*.conf", "a.CONF", true}, {"*.conf", "a.cfg", false}, {"EFI", "efi", true}, {"g?ub.cfg", "grub.cfg", true},
		{"*", "", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
	} {
		if match(c.p, c.n) != c.ok {
			t.Errorf("match(%q, %q) = %v", c.p, c.n, !c.ok)
		}
	}
}

// FuzzVolume reads any bytes as a FAT volume: no panic, no endless loop,
// and every file it reads has the size its entry gives.
func FuzzVolume(f *testing.F) {
	for _, args := range [][]string{{"-F", "12"}, {"-F", "16"}, {"-F", "32", "-s", "1"}} {
		dir := f.TempDir()
		img := filepath.Join(dir, "fat.img")
		fh, _ := os.Create(img)
		fh.Truncate(40 << 20)
		fh.Close()
		if out, err := exec.Command("mkfs.vfat", append(args, img)...).CombinedOutput(); err != nil {
			f.Fatalf("mkfs.vfat: %v %s", err, out)
		}
		os.WriteFile(filepath.Join(dir, "grub.cfg"), []byte("x"), 0o644)
		exec.Command("mmd", "-i", img, "::/EFI", "::/EFI/debian").Run()
		exec.Command("mcopy", "-i", img, filepath.Join(dir, "grub.cfg"), "::/EFI/debian/grub.cfg").Run()
		b, _ := os.ReadFile(img)
		// The boot sector, FATs and first directories are in the first
		// part; the seed keeps it small.
		end := len(b)
		for end > 0 && b[end-1] == 0 {
			end--
		}
		f.Add(b[:min(end+512, 1<<20)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, p := range v.Glob("*/*/*") {
			e, err := v.Stat(p)
			if err != nil {
				continue
			}
			data, err := v.ReadFile(p, 1<<20)
			if err == nil && int64(len(data)) != e.Size {
				t.Fatalf("%s: read %d bytes, its entry says %d", p, len(data), e.Size)
			}
		}
		if _, err := v.ReadDir("/"); err != nil && v.G.Bits == 0 {
			t.Fatal(err)
		}
		fsys := v.FS()
		fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if strings.Count(p, "/") > 4 {
				return fs.SkipDir // a damaged volume may loop
			}
			if fi, err := d.Info(); err == nil && !d.IsDir() && fi.Size() <= 4<<20 {
				if b, err := fs.ReadFile(fsys, p); err == nil && int64(len(b)) != fi.Size() {
					t.Fatalf("%s: read %d bytes, its entry says %d", p, len(b), fi.Size())
				}
			}
			return nil
		})
	})
}

// TestCreate makes files and the directories on their way on FAT12, FAT16
// and FAT32 (a directory that has to grow by a cluster included); mtools
// reads them back and fsck.vfat finds the volumes clean.
func TestCreate(t *testing.T) {
	for _, c := range []struct {
		name string
		size int64
		mkfs []string
	}{
		{"FAT12", 4 << 20, []string{"-F", "12"}},
		{"FAT16", 32 << 20, []string{"-F", "16", "-s", "2"}},
		{"FAT32", 48 << 20, []string{"-F", "32", "-s", "1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "fat.img")
			f, _ := os.Create(img)
			f.Truncate(c.size)
			f.Close()
			run(t, "mkfs.vfat", append(append([]string{}, c.mkfs...), img)...)
			run(t, "mmd", "-i", img, "::/EFI", "::/EFI/debian")
			os.WriteFile(filepath.Join(dir, "x"), []byte("shim"), 0o644)
			run(t, "mcopy", "-i", img, filepath.Join(dir, "x"), "::/EFI/debian/shimx64.efi")
			fh, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			loader := make([]byte, 300000)
			rand.Read(loader)
			files := map[string][]byte{"/EFI/BOOT/BOOTX64.EFI": loader, "/EFI/BOOT/MMX64.EFI": []byte("mok"), "/NEW/DEEP/EMPTY.TXT": nil}
			for i := 0; i < 40; i++ { // more entries than a 512-byte cluster holds
				files[fmt.Sprintf("/EFI/BOOT/F%d.TXT", i)] = []byte(fmt.Sprint(i))
			}
			for p, data := range files {
				v, err := Open(fh, c.size)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Create(fh, p, data, now); err != nil {
					t.Fatalf("create %s: %v", p, err)
				}
			}
			v, _ := Open(fh, c.size)
			if err := v.Create(fh, "/EFI/BOOT/BOOTX64.EFI", nil, now); !errors.Is(err, ErrExists) {
				t.Errorf("creating an existing file: %v", err)
			}
			if err := v.Create(fh, "/EFI/BOOT/a long name.efi", nil, now); err == nil {
				t.Error("a name that is not 8.3 was created")
			}
			fh.Sync()
			if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil {
				t.Errorf("fsck.vfat -n: %v\n%s", err, out)
			}
			for p, want := range files {
				got := run(t, "mtype", "-i", img, "::"+p)
				if got != string(want) {
					t.Errorf("%s: mtools reads %d bytes, want %d", p, len(got), len(want))
				}
			}
		})
	}
}

// TestMend spoils a FAT32 volume made by mkfs.vfat and mtools the way
// go-diskfs writes one (".." of directories in the root naming the root's
// cluster, FSInfo's counts unknown), has fsck.vfat see it, mends it, and
// has fsck.vfat find it clean with the files intact.
func TestMend(t *testing.T) {
	img, fh, v := mendImage(t, 48<<20, []string{"-F", "32", "-s", "1"}, "::/EFI", "::/EFI/BOOT", "::/lifeboat")
	x := filepath.Join(t.TempDir(), "x")
	os.WriteFile(x, []byte("shim"), 0o644)
	run(t, "mcopy", "-i", img, x, "::/EFI/BOOT/BOOTX64.EFI")
	le := binary.LittleEndian
	for _, d := range []string{"/EFI", "/lifeboat"} {
		e, err := v.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		le.PutUint16(b[0:], uint16(v.G.RootCluster))
		fh.WriteAt(b[0:2], v.clusterOff(e.Cluster)+32+26)
	}
	fh.WriteAt([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, v.G.FSInfo*v.G.BytesPerSec+488)
	loseCluster(t, fh, v)
	out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Invalid '..' entry") || !strings.Contains(string(out), "Reclaimed 1 unused cluster") {
		t.Fatalf("fsck.vfat -n finds nothing wrong with the spoilt volume: %v\n%s", err, out)
	}
	mended, err := v.Mend(fh)
	if err != nil {
		t.Fatal(err)
	}
	if len(mended) != 4 {
		t.Errorf("mended %q, want the lost cluster, the two directories and FSInfo", mended)
	}
	if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil || strings.Contains(string(out), "uninitialized") {
		t.Errorf("fsck.vfat -n after the mend: %v\n%s", err, out)
	}
	if got := run(t, "mtype", "-i", img, "::/EFI/BOOT/BOOTX64.EFI"); got != "shim" {
		t.Errorf("the file reads %q after the mend", got)
	}
	if again, err := v.Mend(fh); err != nil || len(again) != 0 {
		t.Errorf("a second mend: %q %v, want nothing to do", again, err)
	}
}

// loseCluster marks the volume's last cluster as a one-cluster chain in
// every FAT, with nothing holding it.
func loseCluster(t *testing.T, fh *os.File, v *Volume) {
	t.Helper()
	x, err := v.newWriter(fh)
	if err != nil {
		t.Fatal(err)
	}
	c := v.G.Clusters + 1
	if x.entry(c) != 0 {
		t.Fatalf("cluster %d is not free", c)
	}
	x.set(c, x.eoc())
	if err := x.flush(); err != nil {
		t.Fatal(err)
	}
}

// TestMendFAT16: a lost cluster on FAT16 (the ISO's EFI image is one).
func TestMendFAT16(t *testing.T) {
	img, fh, v := mendImage(t, 16<<20, []string{"-F", "16"}, "::/EFI", "::/EFI/BOOT")
	loseCluster(t, fh, v)
	if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err == nil {
		t.Fatalf("fsck.vfat -n finds nothing wrong with the spoilt volume:\n%s", out)
	}
	if mended, err := v.Mend(fh); err != nil || len(mended) != 1 {
		t.Fatalf("mend: %q %v", mended, err)
	}
	if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n after the mend: %v\n%s", err, out)
	}
}

// mendImage makes a FAT volume of size bytes with mkfs.vfat and the
// directories dirs with mtools, and opens it for writing; the file closes
// when the test ends.
func mendImage(t *testing.T, size int64, mkfs []string, dirs ...string) (string, *os.File, *Volume) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fat.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	run(t, "mkfs.vfat", append(mkfs, img)...)
	run(t, "mmd", append([]string{"-i", img}, dirs...)...)
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	v, err := Open(fh, size)
	if err != nil {
		t.Fatal(err)
	}
	return img, fh, v
}
