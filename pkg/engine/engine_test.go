package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const MiB = 1 << 20

// fillDisk writes a mix of content into a disk image: random and text
// data in places, leaving the rest sparse (zeros). seed varies the content.
func fillDisk(t *testing.T, path string, size int64, seed int64, avoid int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := mrand.New(mrand.NewSource(seed))
	for k := 0; k < 12; k++ {
		n := int64(r.Intn(3*MiB) + 4096)
		off := avoid + r.Int63n(size-avoid-n-MiB) // keep off the backup GPT
		buf := make([]byte, n)
		if k%2 == 0 {
			r.Read(buf)
		} else {
			line := []byte(fmt.Sprintf("lifeboat test data line, seed %d block %d\n", seed, k))
			for i := range buf {
				buf[i] = line[i%len(line)]
			}
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// makeGPTDisk creates a GPT disk image with an ESP (FAT32), an ext4
// partition and some raw data, as a sparse file of the given size.
func makeGPTDisk(t *testing.T, dir string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, "gpt.img")
	mk(t, p, size)
	testutil.Run(t, "sgdisk", "-n1:2048:+33M", "-t1:ef00", "-c1:EFI system", "-n2:0:+24M", "-t2:8300", "-c2:root", "-n3:0:0", "-t3:0700", p)
	tb := tableOf(t, p, 512)
	testutil.Run(t, "mkfs.vfat", "-F", "32", "--offset", fmt.Sprint(tb.Partitions[0].Start/512), p, fmt.Sprint(tb.Partitions[0].Size/1024))
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", fmt.Sprintf("offset=%d", tb.Partitions[1].Start), p, fmt.Sprintf("%dk", tb.Partitions[1].Size/1024))
	fillDisk(t, p, size, 1, tb.Partitions[2].Start)
	// Something in the post-GPT gap, where GRUB's core image lives.
	testutil.WriteAt(t, p, []byte("GRUB core image stand-in"), 40*512)
	return p
}

func makeMBRDisk(t *testing.T, dir string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, "mbr.img")
	mk(t, p, size)
	layout := filepath.Join(dir, "layout")
	os.WriteFile(layout, []byte("label: dos\nlabel-id: 0xdeadbeef\nstart=2048, size=20MiB, type=83, bootable\ntype=5\nsize=10MiB, type=83\nsize=10MiB, type=7\n"), 0o644)
	testutil.Run(t, "sh", "-c", "sfdisk -q "+p+" < "+layout)
	// Boot code in the MBR and the gap.
	boot := make([]byte, 440)
	rand.Read(boot)
	testutil.WriteAt(t, p, boot, 0)
	testutil.WriteAt(t, p, bytes.Repeat([]byte("core.img"), 1000), 512)
	fillDisk(t, p, size, 2, 2*MiB)
	return p
}

func mk(t *testing.T, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
}

func tableOf(t *testing.T, p string, lss int) *ptable.Table {
	t.Helper()
	d, err := disk.Open(p, disk.Options{SectorSize: lss})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tb, err := ptable.Read(d, d.Size(), d.LogicalSectorSize())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func newRepo(t *testing.T) *repo.Repo {
	t.Helper()
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func capture(t *testing.T, r *repo.Repo, path, name string, o CaptureOptions) *image.Manifest {
	t.Helper()
	d, err := disk.Open(path, disk.Options{SectorSize: o.Identity.LogicalSectorSize})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o.Name = name
	o.Tool = "lifeboat test"
	m, err := Capture(context.Background(), d, r, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openImage(t *testing.T, r *repo.Repo, name string) *repo.Image {
	t.Helper()
	codec, err := repo.NewCodec(repo.LevelDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	im, err := r.OpenImage(name, codec)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// restore restores an image onto path (created with size when it does not
// exist) and returns the summary.
func restore(t *testing.T, r *repo.Repo, name, path string, create int64, lss int) (RestoreSummary, error) {
	t.Helper()
	im := openImage(t, r, name)
	d, err := disk.Open(path, disk.Options{Write: true, CreateSize: create, SectorSize: lss})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return Restore(context.Background(), im, d, RestoreOptions{TargetReadsZeros: d.Created(), Progress: &progress.Tracker{}})
}

func TestRoundTripFiles(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T, dir string, size int64) string
		size  int64
		es    int64
		table string
	}{
		{"gpt", makeGPTDisk, 96 * MiB, 0, ptable.TypeGPT},
		{"gpt-odd-size", makeGPTDisk, 96*MiB + 3*512, 0, ptable.TypeGPT},
		{"gpt-1MiB-extents", makeGPTDisk, 70*MiB + 512, 1 * MiB, ptable.TypeGPT},
		{"mbr-logical", makeMBRDisk, 50*MiB + 7*512, 0, ptable.TypeMBR},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := c.make(t, dir, c.size)
			r := newRepo(t)
			m := capture(t, r, src, "img", CaptureOptions{ExtentSize: c.es})
			if m.Table.Type != c.table {
				t.Fatalf("table type %q, want %q", m.Table.Type, c.table)
			}
			if m.Stats.HoleBytes == 0 || m.Stats.StoredBytes >= m.Stats.DataBytes {
				t.Errorf("stats %+v: want holes and compression", m.Stats)
			}
			if _, err := Verify(context.Background(), r, m, VerifyOptions{}); err != nil {
				t.Fatal(err)
			}
			// Onto a new file (sparse, holes skipped) and onto an existing
			// file full of other bytes (holes must be zeroed).
			dst := filepath.Join(dir, "new.img")
			if _, err := restore(t, r, "img", dst, m.Disk.Size, 0); err != nil {
				t.Fatal(err)
			}
			dirty := filepath.Join(dir, "dirty.img")
			os.WriteFile(dirty, bytes.Repeat([]byte{0xEE}, int(c.size)), 0o644)
			sum, err := restore(t, r, "img", dirty, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Written: whole chunks, and the used runs of partly used ones.
			var used int64
			for i, e := range m.Extents {
				_, n := m.ExtentRange(i)
				switch {
				case e.Hole:
				case e.Used == nil:
					used += n
				default:
					for _, r := range e.Used {
						used += r.Len
					}
				}
			}
			if sum.BytesWritten != used || sum.HoleBytes != m.Disk.Size-used {
				t.Errorf("summary %+v vs %d bytes used of %d", sum, used, m.Disk.Size)
			}
			want := testutil.HashFile(t, src, -1)
			for _, p := range []string{dst, dirty} {
				if got := testutil.HashFile(t, p, -1); got != want {
					t.Errorf("%s: restored disk differs from the source", filepath.Base(p))
				}
			}
			// The manifest's copy of the boot areas matches the disk.
			raw, _ := os.ReadFile(src)
			for _, a := range m.Areas {
				if !bytes.Equal(a.Data, raw[a.Offset:a.Offset+int64(len(a.Data))]) {
					t.Errorf("boot area %s differs from the disk", a.Name)
				}
			}
		})
	}
}

func TestRoundTripLoopDevices(t *testing.T) {
	for _, lss := range []int{512, 4096} {
		t.Run(fmt.Sprint(lss), func(t *testing.T) {
			dir := t.TempDir()
			srcFile := filepath.Join(dir, "src.img")
			mk(t, srcFile, 64*MiB+8*4096)
			src := testutil.Loop(t, srcFile, lss)
			testutil.Run(t, "sgdisk", "-n1:0:+10M", "-t1:ef00", "-n2:0:+20M", src)
			testutil.Run(t, "sync")
			fillDisk(t, srcFile, 64*MiB, int64(lss), 40*MiB)
			r := newRepo(t)
			d, err := disk.Open(src, disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d.LogicalSectorSize() != lss || !d.IsBlockDevice() {
				t.Fatalf("loop device: sector %d block %v", d.LogicalSectorSize(), d.IsBlockDevice())
			}
			m, err := Capture(context.Background(), d, r, CaptureOptions{Name: "loop"})
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
			if m.Disk.LogicalSectorSize != lss || m.Table.Type != ptable.TypeGPT || len(m.Table.Partitions) != 2 {
				t.Fatalf("manifest disk %+v table %+v", m.Disk, m.Table)
			}
			dstFile := filepath.Join(dir, "dst.img")
			os.WriteFile(dstFile, bytes.Repeat([]byte{0x5A}, int(m.Disk.Size)), 0o644)
			dst := testutil.Loop(t, dstFile, lss)
			if _, err := restore(t, r, "loop", dst, 0, 0); err != nil {
				t.Fatal(err)
			}
			if a, b := testutil.HashFile(t, src, -1), testutil.HashFile(t, dst, -1); a != b {
				t.Fatal("restored loop device differs from the source")
			}
			// Onto the other sector size the table is converted: the
			// partitions stay at their byte offsets, their bytes equal.
			other := 4096
			if lss == 4096 {
				other = 512
			}
			otherFile := testutil.Sparse(t, "other.img", m.Disk.Size)
			otherDev := testutil.Loop(t, otherFile, other)
			sum, err := restore(t, r, "loop", otherDev, 0, 0)
			if err != nil {
				t.Fatalf("restore onto %d-byte sectors: %v", other, err)
			}
			if !strings.Contains(strings.Join(sum.Changes, "\n"), fmt.Sprintf("counts the target's %d-byte sectors", other)) {
				t.Errorf("changes %q", sum.Changes)
			}
			if out := testutil.Run(t, "sgdisk", "-v", otherDev); !strings.Contains(out, "No problems found") {
				t.Errorf("sgdisk -v on %d-byte sectors:\n%s", other, out)
			}
			got := tableOf(t, otherDev, other)
			for i, p := range m.Table.Partitions {
				g := got.Partitions[i]
				if g.Start != p.Start || g.Size != p.Size || g.Type != p.Type || g.GUID != p.GUID {
					t.Errorf("partition %d on %d-byte sectors: %+v, was %+v", p.Number, other, g, p)
				}
				if a, b := hashRange(t, srcFile, p.Start, p.Size), hashRange(t, otherFile, p.Start, p.Size); a != b {
					t.Errorf("partition %d differs after the conversion", p.Number)
				}
			}
		})
	}
}

func TestRestoreOntoLargerDisk(t *testing.T) {
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, 96*MiB)
	r := newRepo(t)
	m := capture(t, r, src, "img", CaptureOptions{})
	big := testutil.Sparse(t, "big.img", 150*MiB+512)
	sum, err := restore(t, r, "img", big, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Changes) != 1 {
		t.Errorf("changes %q", sum.Changes)
	}
	out := testutil.Run(t, "sgdisk", "-v", big)
	if !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v on the larger disk:\n%s", out)
	}
	// Partitions byte-identical, and everything but the table identical to
	// what sgdisk -e makes of a copy.
	for _, p := range m.Table.Partitions {
		if a, b := hashRange(t, src, p.Start, p.Size), hashRange(t, big, p.Start, p.Size); a != b {
			t.Errorf("partition %d differs", p.Number)
		}
	}
	want := testutil.Sparse(t, "want.img", 0)
	testutil.Copy(t, src, want)
	os.Truncate(want, 150*MiB+512)
	testutil.Run(t, "sgdisk", "-e", want)
	if a, b := testutil.HashFile(t, want, -1), testutil.HashFile(t, big, -1); a != b {
		t.Error("restored larger disk differs from a copy fixed with sgdisk -e")
	}
	// The read-back comparison understands the relocation.
	im := openImage(t, r, "img")
	d, _ := disk.Open(big, disk.Options{})
	defer d.Close()
	if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{}); err != nil {
		t.Fatalf("verify target: %v %+v", err, rep.Problems)
	}
	// A change on the disk is found.
	testutil.WriteAt(t, big, []byte("X"), m.Table.Partitions[1].Start+4096)
	d2, _ := disk.Open(big, disk.Options{})
	defer d2.Close()
	rep, err := VerifyTarget(context.Background(), im, d2, VerifyOptions{})
	if !errors.Is(err, ErrVerifyFailed) || len(rep.Problems) != 1 {
		t.Fatalf("verify target after a change: %v %+v", err, rep.Problems)
	}
}

func hashRange(t *testing.T, p string, off, n int64) [32]byte {
	t.Helper()
	b := make([]byte, n)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return sha(b)
}

func TestTargetTooSmall(t *testing.T) {
	dir := t.TempDir()
	src := makeMBRDisk(t, dir, 50*MiB)
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	_, err := PlanRestore(im, layout.Target{Size: 49 * MiB, SectorSize: 512}, layout.Options{Kind: layout.Keep})
	var tse *TooSmallError
	if !errors.As(err, &tse) || tse.Need-tse.Have != MiB {
		t.Fatalf("keep onto 49 MiB: err = %v", err)
	}
	if !strings.Contains(err.Error(), "1.0 MiB (1048576 bytes) short") {
		t.Errorf("message %q does not say by how much", err)
	}
	// The extended partition runs to the disk's end with nothing after
	// its logical partitions: the fit layout ends it there, and nothing
	// needs shrinking.
	p, err := PlanRestore(im, layout.Target{Size: 49 * MiB, SectorSize: 512}, layout.Options{})
	if err != nil || p.Kind != layout.Fit || len(p.Shrunk()) != 0 {
		t.Fatalf("onto 49 MiB: %v %+v", err, p)
	}
	// No file system here can shrink: 30 MiB is refused, with what the
	// partitions need packed.
	small := testutil.Sparse(t, "small.img", 30*MiB)
	before := testutil.HashFile(t, small, -1)
	_, err = restore(t, r, "img", small, 0, 0)
	if !errors.As(err, &tse) || !tse.Shrunk || tse.Need <= 40*MiB || tse.Need > 50*MiB || !strings.Contains(err.Error(), "bytes) short") {
		t.Fatalf("onto 30 MiB: err = %v", err)
	}
	if testutil.HashFile(t, small, -1) != before {
		t.Error("the too-small target was written")
	}
}

// damage returns the path of the chunk used by the first non-hole extent
// after skip, and that extent's index.
func chunkFile(t *testing.T, r *repo.Repo, m *image.Manifest, skip int) (string, int) {
	t.Helper()
	for i := skip; i < len(m.Extents); i++ {
		if !m.Extents[i].Hole {
			return filepath.Join(r.Dir(), repo.ChunkPath(m.Extents[i].ID)), i
		}
	}
	t.Fatal("no chunk")
	return "", 0
}

func TestDamagedChunk(t *testing.T) {
	for _, how := range []string{"flipped byte", "missing", "truncated", "swapped"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			src := makeGPTDisk(t, dir, 96*MiB)
			r := newRepo(t)
			m := capture(t, r, src, "img", CaptureOptions{})
			p, bad := chunkFile(t, r, m, 3)
			off, n := m.ExtentRange(bad)
			switch how {
			case "flipped byte":
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0x40
				os.WriteFile(p, b, 0o644)
			case "missing":
				os.Remove(p)
			case "truncated":
				b, _ := os.ReadFile(p)
				os.WriteFile(p, b[:len(b)/2], 0o644)
			case "swapped":
				other, _ := chunkFile(t, r, m, bad+1)
				b, _ := os.ReadFile(other)
				os.WriteFile(p, b, 0o644)
			}
			rep, err := Verify(context.Background(), r, m, VerifyOptions{})
			if !errors.Is(err, ErrVerifyFailed) || len(rep.Problems) != 1 {
				t.Fatalf("verify: %v, problems %+v", err, rep.Problems)
			}
			pr := rep.Problems[0]
			if pr.Chunk != m.Extents[bad].ID || pr.Offset != off {
				t.Errorf("problem %v, want chunk %s at %d", pr, m.Extents[bad].ID, off)
			}
			// Restore onto a target full of 0xEE stops, names the chunk, and
			// never writes that extent; the ends of the disk, where a table
			// lives, are cleared first and the image's table is never
			// written (it goes last).
			dst := filepath.Join(dir, "dst.img")
			os.WriteFile(dst, bytes.Repeat([]byte{0xEE}, int(m.Disk.Size)), 0o644)
			_, err = restore(t, r, "img", dst, 0, 0)
			if err == nil {
				t.Fatal("restore with a damaged chunk succeeded")
			}
			if !strings.Contains(err.Error(), m.Extents[bad].ID.String()) || !strings.Contains(err.Error(), fmt.Sprint(off)) {
				t.Errorf("error %q does not name the chunk and offset %d", err, off)
			}
			if !repo.IsContentError(err) {
				t.Errorf("error %q is not a content error", err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got[off:off+n], bytes.Repeat([]byte{0xEE}, int(n))) {
				t.Error("the damaged chunk's extent was written")
			}
			if !allZero(got[:tableSpan]) || !allZero(got[len(got)-tableSpan:]) {
				t.Error("a restore that failed left a partition table area that is not cleared")
			}
		})
	}
}

func TestDamagedManifestRefused(t *testing.T) {
	dir := t.TempDir()
	src := makeMBRDisk(t, dir, 50*MiB)
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	p := filepath.Join(r.Dir(), repo.ManifestPath("img"))
	good, _ := os.ReadFile(p)
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-10],
		"altered":   func() []byte { c := bytes.Clone(good); c[len(c)/2] ^= 1; return c }(),
		"empty":     {},
	} {
		os.WriteFile(p, b, 0o644)
		_, err := r.ReadManifest("img")
		if !errors.Is(err, image.ErrFormat) {
			t.Errorf("%s manifest: err = %v", name, err)
		}
	}
	// A manifest copied under another name is refused too.
	os.WriteFile(p, good, 0o644)
	os.WriteFile(filepath.Join(r.Dir(), repo.ManifestPath("other")), good, 0o644)
	if _, err := r.ReadManifest("other"); !errors.Is(err, image.ErrFormat) {
		t.Errorf("renamed manifest: err = %v", err)
	}
}

func TestCancelledCaptureLeavesNoManifest(t *testing.T) {
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, 96*MiB)
	r := newRepo(t)
	d, err := disk.Open(src, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once a quarter of the disk has been read.
	tr := &progress.Tracker{}
	cd := &cancelAfter{Source: d, after: 24 * MiB, cancel: cancel}
	_, err = Capture(ctx, cd, r, CaptureOptions{Name: "img", Progress: tr})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	if ok, _ := r.HasImage("img"); ok {
		t.Fatal("a cancelled capture left a manifest")
	}
	names, _ := r.Images()
	if len(names) != 0 {
		t.Fatalf("images %q", names)
	}
	ents, _ := os.ReadDir(filepath.Join(r.Dir(), "images"))
	if len(ents) != 0 {
		t.Fatalf("images/ holds %d entries", len(ents))
	}
	// The same name captures fine afterwards, reusing what was stored.
	m := capture(t, r, src, "img", CaptureOptions{})
	if m.Stats.NewChunks == m.Stats.UniqueChunks && m.Stats.NewChunks > 0 {
		t.Logf("no chunk reused after the cancelled capture (stats %+v)", m.Stats)
	}
}

type cancelAfter struct {
	Source
	after  int64
	cancel func()
}

func (c *cancelAfter) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.after {
		c.cancel()
	}
	return c.Source.ReadAt(p, off)
}

func TestSecondCaptureStoresOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, 96*MiB)
	r := newRepo(t)
	m1 := capture(t, r, src, "monday", CaptureOptions{})
	if m1.Stats.NewChunks != m1.Stats.UniqueChunks {
		t.Fatalf("first capture: %+v", m1.Stats)
	}
	// Change 3 extents' worth of data in 3 places, in the partition
	// without a file system (read whole: changes in a file system's free
	// space are not captured).
	changed := map[int64]bool{}
	for _, off := range []int64{62*MiB + 100, 70 * MiB, 80*MiB + 7} {
		junk := make([]byte, 1000)
		rand.Read(junk)
		testutil.WriteAt(t, src, junk, off)
		changed[off/DefaultExtentSize] = true
	}
	m2 := capture(t, r, src, "tuesday", CaptureOptions{})
	if m2.Stats.NewChunks != int64(len(changed)) {
		t.Errorf("second capture stored %d new chunks, want %d (stats %+v)", m2.Stats.NewChunks, len(changed), m2.Stats)
	}
	var changedBytes int64
	for i := range changed {
		changedBytes += int64(m2.Extents[i].Stored)
		if m1.Extents[i].ID == m2.Extents[i].ID {
			t.Errorf("extent %d changed but kept its chunk", i)
		}
	}
	if m2.Stats.NewBytes != changedBytes {
		t.Errorf("second capture stored %d bytes, the changed extents' chunks are %d", m2.Stats.NewBytes, changedBytes)
	}
	for i := range m1.Extents {
		if !changed[int64(i)] && !reflect.DeepEqual(m1.Extents[i], m2.Extents[i]) {
			t.Errorf("unchanged extent %d differs between the images", i)
		}
	}
	dst := filepath.Join(dir, "tuesday.img")
	if _, err := restore(t, r, "tuesday", dst, m2.Disk.Size, 0); err != nil {
		t.Fatal(err)
	}
	if testutil.HashFile(t, dst, -1) != testutil.HashFile(t, src, -1) {
		t.Fatal("restore of the second image differs")
	}
	// An existing name is refused.
	d, _ := disk.Open(src, disk.Options{})
	defer d.Close()
	if _, err := Capture(context.Background(), d, r, CaptureOptions{Name: "monday"}); !errors.Is(err, repo.ErrImageExists) {
		t.Errorf("capture over an existing image: %v", err)
	}
}

func TestImageReaderAt(t *testing.T) {
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, 96*MiB+512)
	r := newRepo(t)
	m := capture(t, r, src, "img", CaptureOptions{ExtentSize: 1 * MiB})
	im := openImage(t, r, "img")
	raw, _ := os.ReadFile(src)
	rnd := mrand.New(mrand.NewSource(3))
	for k := 0; k < 200; k++ {
		off := rnd.Int63n(m.Disk.Size)
		n := rnd.Intn(3*MiB) + 1
		buf := make([]byte, n)
		got, err := im.ReadAt(buf, off)
		want := min(int64(n), m.Disk.Size-off)
		if int64(got) != want || (err != nil && want == int64(n)) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		if !bytes.Equal(buf[:got], raw[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d, %d): wrong bytes", n, off)
		}
	}
}
