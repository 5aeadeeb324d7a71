package fsmap

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var fuzzTypes = []string{"ext4", "vfat", "exfat", "ntfs", "swap"}

// seedImage makes a small file system with its own mkfs, for fuzz seeds;
// nil when the tool is missing.
func seedImage(t testing.TB, size int64, mkfs ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(mkfs[0]); err != nil {
		return nil
	}
	p := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], p)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", mkfs, err, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkMap checks what every Map must be: sorted ranges, apart, inside
// the partition, summing to UsedBytes.
func checkMap(t *testing.T, m *Map, size int64) {
	t.Helper()
	var sum, end int64 = 0, -1
	for _, r := range m.Used {
		if r.Len <= 0 || r.Off <= end || r.End() > size {
			t.Fatalf("range %+v after %d in a partition of %d", r, end, size)
		}
		sum += r.Len
		end = r.End()
	}
	if sum != m.UsedBytes {
		t.Fatalf("ranges sum to %d, UsedBytes %d", sum, m.UsedBytes)
	}
}

func TestSmallFileSystems(t *testing.T) {
	for _, c := range []struct {
		typ  string
		size int64
		mkfs []string
	}{
		{"ext4", 4 << 20, []string{"mkfs.ext4", "-q", "-F"}},
		{"vfat", 4 << 20, []string{"mkfs.vfat", "-F", "12"}},
		{"exfat", 16 << 20, []string{"mkfs.exfat"}},
		{"ntfs", 4 << 20, []string{"mkfs.ntfs", "-q", "-f", "-F"}},
		{"swap", 1 << 20, []string{"mkswap"}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			b := seedImage(t, c.size, c.mkfs...)
			if b == nil {
				t.Fatalf("this test needs %s; install the test dependencies with `make deps`", c.mkfs[0])
			}
			m, err := Read(bytes.NewReader(b), int64(len(b)), c.typ)
			if err != nil {
				t.Fatal(err)
			}
			checkMap(t, m, int64(len(b)))
			if m.Unclean != "" || m.UsedBytes == 0 || m.UsedBytes >= int64(len(b))/2 {
				t.Errorf("a new %s of %d bytes uses %d (unclean: %q)", c.typ, len(b), m.UsedBytes, m.Unclean)
			}
			// Cut short, it is refused, never read past its end.
			if _, err := Read(bytes.NewReader(b[:len(b)/4]), int64(len(b)/4), c.typ); err == nil && c.typ != "swap" {
				t.Errorf("a %s cut to a quarter was accepted", c.typ)
			}
		})
	}
	if _, err := Read(bytes.NewReader(make([]byte, 4096)), 4096, "xfs"); err == nil {
		t.Error("xfs has a map reader?")
	}
}

// FuzzRead fuzzes Read and Used.
func FuzzRead(f *testing.F) {
	for i, c := range [][]string{{"mkfs.ext4", "-q", "-F"}, {"mkfs.vfat", "-F", "12"}, {"mkfs.exfat", "-b", "4096"}, {"mkfs.ntfs", "-q", "-f", "-F"}, {"mkswap"}} {
		size := int64(1 << 20)
		if i == 2 || i == 3 {
			size = 2 << 20 // mkfs.exfat's and mkfs.ntfs's smallest
		}
		if b := seedImage(f, size, c...); b != nil {
			f.Add(b, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, kind uint8) {
		typ := fuzzTypes[int(kind)%len(fuzzTypes)]
		// Used reads the same structures (and xfs and btrfs superblocks,
		// which Read does not): a count, never a panic or more than the
		// partition.
		for _, ut := range []string{typ, "xfs", "btrfs"} {
			if n, err := Used(bytes.NewReader(b), int64(len(b)), ut); err == nil && (n < 0 || n > int64(len(b))) {
				t.Fatalf("Used(%s) = %d in a partition of %d bytes", ut, n, len(b))
			}
		}
		m, err := Read(bytes.NewReader(b), int64(len(b)), typ)
		if err != nil {
			return
		}
		checkMap(t, m, int64(len(b)))
	})
}
