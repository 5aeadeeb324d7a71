package layout

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// TestExtMinCoversResize2fs makes ext file systems of several kinds with
// files in them and checks that the plan's minimum, asked of resize2fs -P
// from the superblock and group descriptors alone, is what resize2fs -P
// says of the whole file system with a little room (never less: the
// restore would fail; not much more: fit would refuse disks it could
// use). bigalloc, which resize2fs hardly shrinks, keeps its size.
func TestExtMinCoversResize2fs(t *testing.T) {
	testutil.Tool(t, "mkfs.ext4")
	testutil.Tool(t, "resize2fs")
	tree := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	for d := 0; d < 6; d++ {
		sub := filepath.Join(tree, fmt.Sprintf("dir%d", d))
		os.MkdirAll(sub, 0o755)
		for f := 0; f < 40; f++ {
			b := make([]byte, rng.IntN(400<<10))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", f)), b, 0o644)
		}
	}
	est := regexp.MustCompile(`minimum size of the filesystem: (\d+)`)
	for _, c := range []struct {
		name string
		size int64
		mkfs []string
	}{
		{"ext4", 256 * MiB, []string{"mkfs.ext4", "-b", "4096"}},
		{"ext4 1k blocks, no flex_bg", 128 * MiB, []string{"mkfs.ext4", "-b", "1024", "-O", "^64bit,^flex_bg"}},
		{"ext4 many inodes", 256 * MiB, []string{"mkfs.ext4", "-i", "4096"}},
		{"ext4 bigalloc", 256 * MiB, []string{"mkfs.ext4", "-O", "bigalloc", "-C", "65536"}},
		{"ext3", 128 * MiB, []string{"mkfs.ext3"}},
		{"ext2", 128 * MiB, []string{"mkfs.ext2"}},
		{"ext4 1 GiB", 1024 * MiB, []string{"mkfs.ext4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.Sparse(t, "fs.img", c.size)
			testutil.Run(t, c.mkfs[0], append(append([]string{"-q", "-F", "-d", tree}, c.mkfs[1:]...), img)...)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &source{img: f}
			got, err := src.extMinimum(ptable.Partition{Start: 0, Size: c.size})
			if err != nil {
				t.Fatal(err)
			}
			m := est.FindStringSubmatch(testutil.Run(t, "resize2fs", "-P", img))
			if m == nil {
				t.Fatal("resize2fs -P gave no estimate")
			}
			blocks, _ := strconv.ParseInt(m[1], 10, 64)
			sb := make([]byte, 1024)
			f.ReadAt(sb, 1024)
			need := blocks * (1024 << sb[24])
			t.Logf("minimum %.1f MiB, resize2fs -P %.1f MiB, of %d MiB", float64(got)/MiB, float64(need)/MiB, c.size/MiB)
			if got < need || got > need+need/20+6*MiB {
				t.Errorf("minimum %d bytes; resize2fs -P says %d", got, need)
			}
		})
	}
}
