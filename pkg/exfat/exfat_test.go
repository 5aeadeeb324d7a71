package exfat

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// fuse mounts img with exfat-fuse, runs fn on the mount point, unmounts
// and waits for the daemon to finish writing.
func fuse(t *testing.T, img string, fn func(mnt string)) {
	t.Helper()
	mnt := t.TempDir()
	testutil.Run(t, "mount.exfat-fuse", testutil.Loop(t, img, 512), mnt) // it wants a block device
	fn(mnt)
	testutil.Run(t, "umount", mnt)
	for i := 0; exec.Command("pgrep", "-f", " "+mnt+"$").Run() == nil; i++ {
		if i == 300 {
			t.Fatalf("exfat-fuse for %s did not exit", mnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShrink makes an exFAT volume with files and directories near its
// end (a filler written first and deleted after), shrinks it in place,
// and checks that fsck.exfat is clean, every file reads back equal, the
// moves included both FAT-chained and contiguous (NoFatChain)
// allocations, and the volume takes new files.
func TestShrink(t *testing.T) {
	testutil.Root(t)
	for _, tool := range []string{"mkfs.exfat", "fsck.exfat", "mount.exfat-fuse"} {
		testutil.Tool(t, tool)
	}
	const size = 96 << 20
	img := testutil.Sparse(t, "exfat.img", size)
	testutil.Run(t, "mkfs.exfat", "-c", "4096", img)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]byte{}
	fuse(t, img, func(mnt string) {
		if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 70<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		for d := 0; d < 4; d++ {
			dir := filepath.Join(fmt.Sprintf("dir%d", d), "sub")
			os.MkdirAll(filepath.Join(mnt, dir), 0o755)
			for f := 0; f < 30; f++ {
				name := filepath.Join(dir, fmt.Sprintf("file with a long name %d.bin", f))
				b := make([]byte, rng.IntN(200<<10))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
				want[name] = b
			}
			// Appending to the directory's first file after the others
			// breaks its run: exfat-fuse then chains it in the FAT.
			name := filepath.Join(dir, "file with a long name 0.bin")
			more := bytes.Repeat([]byte{byte(d + 1)}, 100<<10)
			a, err := os.OpenFile(filepath.Join(mnt, name), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write(more); err != nil {
				t.Fatal(err)
			}
			a.Close()
			want[name] = append(want[name], more...)
		}
		os.Remove(filepath.Join(mnt, "filler"))
	})
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := Parse(f, size)
	if err != nil {
		t.Fatal(err)
	}
	min, err := v.MinSize()
	if err != nil {
		t.Fatal(err)
	}
	allocs, err := v.walk()
	if err != nil {
		t.Fatal(err)
	}
	newSize := int64(40 << 20)
	limit := (newSize/v.BPS-v.HeapOff)/v.SPC + 2
	var chained, contiguous int
	for _, a := range allocs {
		if a.clusters[len(a.clusters)-1] >= limit {
			if a.contiguous {
				contiguous++
			} else {
				chained++
			}
		}
	}
	t.Logf("minimum %d MiB; past the new end: %d FAT-chained and %d contiguous allocations", min>>20, chained, contiguous)
	if chained == 0 || contiguous == 0 || min > newSize {
		t.Fatalf("the test volume does not exercise both kinds of moves (%d, %d) or cannot shrink to %d (min %d)", chained, contiguous, newSize, min)
	}
	if err := v.Shrink(f, newSize); err != nil {
		t.Fatal(err)
	}
	if err := v.Shrink(f, 4<<20); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("shrinking below what it holds: %v", err)
	}
	f.Sync()
	if out, err := exec.Command("fsck.exfat", "-n", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.exfat -n after the shrink: %v\n%s", err, out)
	}
	// The file system says it is the new size; its files are the old ones.
	if err := os.Truncate(img, newSize); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.exfat", "-n", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.exfat -n on the volume cut to its new size: %v\n%s", err, out)
	}
	fuse(t, img, func(mnt string) {
		for name, b := range want {
			got, err := os.ReadFile(filepath.Join(mnt, name))
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s: %d bytes, %v (want %d bytes)", name, len(got), err, len(b))
			}
		}
		if err := os.WriteFile(filepath.Join(mnt, "new"), make([]byte, 8<<20), 0o644); err != nil {
			t.Errorf("a new file: %v", err)
		}
	})
	if out, err := exec.Command("fsck.exfat", "-n", img).CombinedOutput(); err != nil {
		t.Errorf("fsck.exfat -n after writing: %v\n%s", err, out)
	}
}

// memVolume is a volume whose first bytes are b and the rest zeros.
type memVolume []byte

func (v memVolume) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(v)) {
		copy(p, v[off:])
	}
	return len(p), nil
}

// FuzzWalk checks that reading any exFAT volume start (boot region, FAT,
// directories) for its size and allocations never panics, and that a
// shrink planned on it stays inside it.
func FuzzWalk(f *testing.F) {
	// 512-byte sectors and clusters, FAT at sector 24, heap at 32 with 200
	// clusters: root (2), bitmap (3), a file set naming cluster 4.
	b := make([]byte, (32+8)*512)
	le := func(o, n int, v uint64) {
		for i := 0; i < n; i++ {
			b[o+i] = byte(v >> (8 * i))
		}
	}
	copy(b[3:11], "EXFAT   ")
	le(72, 8, 232)
	le(80, 4, 24)
	le(84, 4, 8)
	le(88, 4, 32)
	le(92, 4, 200)
	le(96, 4, 2)
	b[108], b[109], b[110], b[510], b[511] = 9, 0, 1, 0x55, 0xAA
	for _, c := range []int{2, 3, 4} {
		le(24*512+c*4, 4, 0xFFFFFFFF)
	}
	root := 32 * 512
	b[root] = 0x81
	le(root+20, 4, 3)
	le(root+24, 8, 25)
	b[root+32], b[root+33] = 0x85, 2
	b[root+64], b[root+65] = 0xC0, 1
	le(root+64+20, 4, 4)
	le(root+64+24, 8, 100)
	b[root+96] = 0xC1
	b[root+512] = 0x07
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		v, err := Parse(memVolume(b), 1<<30)
		if err != nil || v.Clusters > 1<<16 {
			return
		}
		v.MinSize()
		allocs, err := v.walk()
		if err != nil {
			return
		}
		for _, a := range allocs {
			for _, c := range a.clusters {
				if c < 2 || c >= v.Clusters+2 {
					t.Fatalf("allocation %+v reaches cluster %d of %d", a, c, v.Clusters)
				}
			}
		}
		walkFS(t, v.FS())
	})
}

// walkFS reads every file of fsys down to a few levels (a damaged volume
// may have directories in a loop): each read gives as many bytes as its
// size says, or an error.
func walkFS(t *testing.T, fsys fs.FS) {
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.Count(p, "/") > 4 {
			return fs.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() > 4<<20 {
			return nil
		}
		if b, err := fs.ReadFile(fsys, p); err == nil && int64(len(b)) != fi.Size() {
			t.Fatalf("%s: read %d bytes, its entry says %d", p, len(b), fi.Size())
		}
		return nil
	})
}
