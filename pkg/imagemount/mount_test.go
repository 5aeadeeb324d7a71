package imagemount

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// capture captures the disk image file src into a new repository (with
// extents of extentSize bytes, 0 for the default) and opens the image.
func capture(t *testing.T, src string, allSectors bool, extentSize int64) (*repo.Repo, *repo.Image) {
	t.Helper()
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(src, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	plan, err := engine.PlanCapture(d, allSectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Capture(context.Background(), d, r, engine.CaptureOptions{Name: "img", Tool: "imagemount test", Plan: plan, ExtentSize: extentSize}); err != nil {
		t.Fatal(err)
	}
	codec, err := repo.NewCodec(repo.LevelDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	im, err := r.OpenImage("img", codec)
	if err != nil {
		t.Fatal(err)
	}
	return r, im
}

// mountAt mounts im in a new directory, unmounting it when the test ends
// if the test has not.
func mountAt(t *testing.T, im Image, onError func(error)) *Mounted {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	m, err := Mount(context.Background(), im, dir, Options{StateDir: t.TempDir(), OnError: onError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount(true) })
	return m
}

// checkGone fails the test when anything of the mount at dir is left: a
// mount, a loop device over its disk file, a driver program.
func checkGone(t *testing.T, dir string) {
	t.Helper()
	if l, err := MountsUnder(dir); err != nil || len(l) != 0 {
		t.Errorf("left mounted under %s: %v %v", dir, l, err)
	}
	if l := loopsOver(filepath.Join(dir, DiskFile)); len(l) != 0 {
		t.Errorf("loop devices left over %s: %v", dir, l)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			t.Errorf("a process is left: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestMountEveryFileSystem captures a disk holding ext4, FAT32, exFAT,
// NTFS, XFS and btrfs file systems full of files, once reading only what
// they use and once every sector, mounts each image and compares every
// file's content, size, time and link with what was put there; the whole
// disk reads as the source disk. After Unmount nothing is left.
func TestMountEveryFileSystem(t *testing.T) {
	testutil.Root(t)
	src, parts := testutil.FilledDisk(t, "filled.img")
	srcSum := testutil.HashFile(t, src, -1)
	for _, all := range []bool{false, true} {
		name := "used blocks"
		if all {
			name = "all sectors"
		}
		t.Run(name, func(t *testing.T) {
			_, im := capture(t, src, all, 0)
			var mu sync.Mutex
			var readErrs []error
			m := mountAt(t, im, func(err error) { mu.Lock(); readErrs = append(readErrs, err); mu.Unlock() })
			if len(m.Parts) != len(parts) {
				t.Fatalf("%d partitions mounted, want %d: %+v", len(m.Parts), len(parts), m.Parts)
			}
			for i, want := range parts {
				got := m.Parts[i]
				if got.Number != want.Number || got.FSType != want.FSType || got.Label != want.Label || got.How == "" {
					t.Errorf("partition %d: %+v (%v), want %s %s mounted", want.Number, got, got.Err, want.FSType, want.Label)
					continue
				}
				t.Logf("partition %d (%s) served by %s", got.Number, got.Folder, got.How)
				testutil.CompareTree(t, want.Files, got.Dir(m.Dir), want.FSType)
			}
			if all {
				// Every sector was captured: the disk file is the disk.
				if sum := testutil.HashFile(t, filepath.Join(m.Dir, DiskFile), -1); sum != srcSum {
					t.Errorf("%s reads %s, the source disk %s", DiskFile, sum, srcSum)
				}
			}
			if len(readErrs) != 0 {
				t.Errorf("read errors: %v", readErrs)
			}
			if err := m.Unmount(false); err != nil {
				t.Fatal(err)
			}
			checkGone(t, m.Dir)
		})
	}
}

// TestDamagedChunk: with one chunk under one file corrupt, reading that
// file fails with an I/O error and the error callback names the chunk and
// its offset, while every other file of every partition reads as it was
// put there, and the mount stays up.
func TestDamagedChunk(t *testing.T) {
	testutil.Root(t)
	src, parts := testutil.FilledDisk(t, "filled.img")
	const extent = 64 << 10
	r, im := capture(t, src, false, extent)
	// The 3 MiB file of the ext4 partition: an extent that lies wholly in
	// its bytes.
	ext4 := parts[0]
	var victim testutil.FileInfo
	for _, f := range ext4.Files {
		if f.Size == 3<<20 {
			victim = f
		}
	}
	if victim.Path == "" {
		t.Fatal("no 3 MiB file on the ext4 partition")
	}
	m := mountAt(t, im, nil)
	content, err := os.ReadFile(filepath.Join(m.Parts[0].Dir(m.Dir), victim.Path))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(false); err != nil {
		t.Fatal(err)
	}
	index := -1
	d, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, extent)
	for off := ext4.Start; off < ext4.Start+ext4.Size && index < 0; off += extent {
		if _, err := d.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(content, buf) {
			index = int(off / extent)
		}
	}
	if index < 0 {
		t.Fatal("no extent wholly inside the file")
	}
	id := im.M.Extents[index].ID
	chunk := filepath.Join(r.Dir(), repo.ChunkPath(id))
	data, err := os.ReadFile(chunk)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xFF
	if err := os.WriteFile(chunk, data, 0o644); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var readErrs []error
	m = mountAt(t, im, func(err error) { mu.Lock(); readErrs = append(readErrs, err); mu.Unlock() })
	f, err := os.Open(filepath.Join(m.Parts[0].Dir(m.Dir), victim.Path))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, f)
	f.Close()
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("reading %s over a corrupt chunk: %v, want EIO", victim.Path, err)
	}
	mu.Lock()
	if len(readErrs) == 0 || !strings.Contains(readErrs[0].Error(), id.String()) {
		t.Errorf("read errors %v do not name chunk %s", readErrs, id)
	}
	mu.Unlock()
	// Copy leaves the file out, with no partial copy, and copies the rest.
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Copy(context.Background(), os.DirFS(m.Parts[0].Dir(m.Dir)), []string{"."}, out, CopyOptions{Recursive: true})
	if err == nil || len(sum.Failed) != 1 || sum.Failed[0].Path != victim.Path {
		t.Errorf("copy over a corrupt chunk: %+v, %v; want %s alone failed", sum, err, victim.Path)
	}
	if _, err := os.Lstat(filepath.Join(out, victim.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a copy of the unreadable file is left: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, filepath.Dir(victim.Path), ".lifeboat-partial-*")); len(left) != 0 {
		t.Errorf("partial copies left: %v", left)
	}
	if sum.Files < 40 {
		t.Errorf("only %d files copied", sum.Files)
	}
	for i, p := range parts {
		var others []testutil.FileInfo
		for _, f := range p.Files {
			if i != 0 || f.Path != victim.Path {
				others = append(others, f)
			}
		}
		dir := m.Parts[i].Dir(m.Dir)
		// CompareTree would also read the victim: compare the others by
		// hand, through the mount.
		for _, f := range others {
			if f.Dir || f.Symlink != "" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, f.Path))
			if err != nil {
				t.Errorf("partition %d: %s: %v", p.Number, f.Path, err)
				continue
			}
			if sum := sha256.Sum256(b); hexOf(sum[:]) != f.SHA256 {
				t.Errorf("partition %d: %s reads other bytes", p.Number, f.Path)
			}
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestExFATWithoutDriver: where neither the kernel nor exfat-fuse reads
// exFAT, Lifeboat's own exFAT reader serves the partition, and every file
// reads as it was put there.
func TestExFATWithoutDriver(t *testing.T) {
	testutil.Root(t)
	src, parts := testutil.FilledDisk(t, "filled.img")
	_, im := capture(t, src, false, 0)
	dir := filepath.Join(t.TempDir(), "m")
	m, err := Mount(context.Background(), im, dir, Options{StateDir: t.TempDir(), ExFATFuse: filepath.Join(t.TempDir(), "no-such-program")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount(true)
	p := m.Parts[2]
	if p.FSType != "exfat" {
		t.Fatalf("partition 3: %+v", p)
	}
	if p.How != "Lifeboat's exFAT reader" && !strings.HasPrefix(p.How, "kernel") {
		t.Fatalf("partition 3 served by %q (%v), want Lifeboat's exFAT reader", p.How, p.Err)
	}
	testutil.CompareTree(t, parts[2].Files, p.Dir(m.Dir), "exfat")
	if err := m.Unmount(false); err != nil {
		t.Fatal(err)
	}
	checkGone(t, m.Dir)
}
