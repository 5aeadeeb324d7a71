package ops

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
)

const mib = 1 << 20

// clonePart is a partition of the clone tests' source disk.
type clonePart struct {
	fs    string // vfat, ntfs, ext4
	files map[string][]byte
}

// cloneSource makes a 160 MiB GPT disk image file: FAT32 (48 MiB), NTFS
// (48 MiB) and ext4 (the rest, 62 MiB) partitions, each with three files of
// random bytes; on FAT and ext4, a deleted file's bytes are left in the
// free space.
func cloneSource(t *testing.T) (string, []clonePart) {
	t.Helper()
	return makeSource(t, 160*mib, []clonePart{{fs: "vfat"}, {fs: "ntfs"}, {fs: "ext4"}}, []string{"+48M", "+48M", "0"})
}

// makeSource makes a GPT disk image file of the given size with parts of
// the given sizes (sgdisk's notation) one after another from 1 MiB, and
// their file systems with files in them.
func makeSource(t *testing.T, size int64, parts []clonePart, sizes []string) (string, []clonePart) {
	t.Helper()
	p := testutil.Sparse(t, "source.img", size)
	args := []string{}
	for i, pt := range parts {
		start := "0"
		if i == 0 {
			start = "1M"
		}
		typ := "0700"
		if pt.fs == "ext4" {
			typ = "8300"
		}
		args = append(args, "-n", fmt.Sprintf("%d:%s:%s", i+1, start, sizes[i]), "-t", fmt.Sprintf("%d:%s", i+1, typ))
	}
	testutil.Run(t, "sgdisk", append(args, p)...)
	tbl := partitions(t, p)
	for i := range parts {
		pt := &parts[i]
		pt.files = map[string][]byte{}
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for k, n := range []int{5000, 1*mib + 3, 3 * mib} {
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			pt.files[fmt.Sprintf("file%d.bin", k)] = b
		}
		dev := partLoop(t, p, tbl[i])
		dir := t.TempDir()
		for name, b := range pt.files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// A deleted file: bytes in the free space a clone does not copy.
		junk := bytes.Repeat([]byte("deleted "), mib/8)
		if err := os.WriteFile(filepath.Join(dir, "junk.bin"), junk, 0o644); err != nil {
			t.Fatal(err)
		}
		switch pt.fs {
		case "vfat", "fat16":
			args := map[string][]string{"vfat": {"-F", "32", "-s", "1"}, "fat16": {"-F", "16"}}[pt.fs]
			testutil.Run(t, "mkfs.vfat", append(args, dev)...)
			for _, name := range []string{"file0.bin", "file1.bin", "file2.bin", "junk.bin"} {
				testutil.Run(t, "mcopy", "-i", mtools(p, tbl[i]), filepath.Join(dir, name), "::/"+name)
			}
			testutil.Run(t, "mdel", "-i", mtools(p, tbl[i]), "::/junk.bin")
		case "ntfs":
			testutil.Run(t, "mkfs.ntfs", "-q", "-f", "-F", dev)
			for _, name := range []string{"file0.bin", "file1.bin", "file2.bin"} {
				testutil.Run(t, "ntfscp", dev, filepath.Join(dir, name), name)
			}
			testutil.Run(t, "ntfsfix", "-d", dev) // ntfscp leaves the volume marked for a check
		case "ext4":
			testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", "nodiscard", "-d", dir, dev)
			testutil.Run(t, "debugfs", "-w", "-R", "rm /junk.bin", dev)
		}
		detachLoop(t, dev)
	}
	return p, parts
}

func partitions(t *testing.T, p string) []ptable.Partition {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	tbl, err := ptable.Read(f, fi.Size(), 512)
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Partitions
}

// loops maps the loop devices partLoop attached and detachLoop has not
// detached yet to a flag set when they are, so that a test's cleanup never
// detaches a device of the same name attached since by someone else.
var loops sync.Map

func partLoop(t *testing.T, p string, pt ptable.Partition) string {
	t.Helper()
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-o", strconv.FormatInt(pt.Start, 10), "--sizelimit", strconv.FormatInt(pt.Size, 10), p))
	done := new(atomic.Bool)
	loops.Store(dev, done)
	t.Cleanup(func() {
		if !done.Swap(true) {
			exec.Command("losetup", "-d", dev).Run()
		}
	})
	return dev
}

// mtools names a partition of a disk image file for mtools.
func mtools(p string, pt ptable.Partition) string { return fmt.Sprintf("%s@@%d", p, pt.Start) }

func detachLoop(t *testing.T, dev string) {
	t.Helper()
	if done, ok := loops.LoadAndDelete(dev); ok {
		done.(*atomic.Bool).Store(true)
	}
	testutil.Run(t, "losetup", "-d", dev)
}

// checkClone checks each partition of the clone at p with its file
// system's checker and reads every file back with the file system's own
// tools.
func checkClone(t *testing.T, p string, parts []clonePart) []ptable.Partition {
	t.Helper()
	tbl := partitions(t, p)
	if len(tbl) != len(parts) {
		t.Fatalf("the clone has %d partitions, want %d", len(tbl), len(parts))
	}
	for i, pt := range parts {
		dev := partLoop(t, p, tbl[i])
		out := t.TempDir()
		switch pt.fs {
		case "vfat", "fat16":
			testutil.Run(t, "fsck.vfat", "-n", dev)
			for name := range pt.files {
				testutil.Run(t, "mcopy", "-i", mtools(p, tbl[i]), "::/"+name, filepath.Join(out, name))
			}
		case "ntfs":
			testutil.Run(t, "ntfsfix", "-n", dev)
			for name := range pt.files {
				b := testutil.Run(t, "ntfscat", dev, name)
				if err := os.WriteFile(filepath.Join(out, name), []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case "ext4":
			testutil.Run(t, "e2fsck", "-fn", dev)
			testutil.Run(t, "debugfs", "-R", "rdump / "+out, dev)
		}
		for name, want := range pt.files {
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatalf("partition %d (%s): %v", i+1, pt.fs, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("partition %d (%s): %s differs from the source's (%d bytes, want %d)", i+1, pt.fs, name, len(got), len(want))
			}
		}
		detachLoop(t, dev)
	}
	return tbl
}

// garbageFile makes an existing disk file full of non-zero bytes, so that
// anything a clone fails to write or zero shows.
func garbageFile(t *testing.T, name string, size int64) string {
	t.Helper()
	p := testutil.Sparse(t, name, size)
	buf := bytes.Repeat([]byte{0xa5}, mib)
	for off := int64(0); off < size; off += mib {
		testutil.WriteAt(t, p, buf, off)
	}
	return p
}

func runClone(t *testing.T, req CloneRequest) (*CloneJob, RestoreResult) {
	t.Helper()
	job, err := PrepareClone(Env{}, req)
	if err != nil {
		t.Fatalf("prepare clone: %v", err)
	}
	t.Cleanup(func() { job.Close() })
	res, err := job.Run(t.Context(), &progress.Tracker{})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	return job, res
}

// TestCloneKeep clones a disk onto an existing disk of the same size full
// of garbage, with verification: every file system checks clean and every
// file reads back; only what file systems use was read; the unused space
// (deleted files' bytes in the source) is zeros on the target.
func TestCloneKeep(t *testing.T) {
	testutil.Root(t)
	src, parts := cloneSource(t)
	dst := garbageFile(t, "target.img", 160*mib)
	job, res := runClone(t, CloneRequest{Source: src, Target: dst, Verify: true})
	if job.Plan.Kind != layout.Keep {
		t.Errorf("layout %s, want keep", job.Plan.Kind)
	}
	if res.Verified == nil || !res.Verified.OK() || res.Verified.Bytes == 0 {
		t.Fatalf("verification %+v", res.Verified)
	}
	read := job.Disk.BytesRead()
	if read <= 3*(4*mib) || read >= 80*mib {
		t.Errorf("read %d bytes of the 160 MiB source, want the used blocks only (more than the files, far less than the disk)", read)
	}
	checkClone(t, dst, parts)
	if b, err := os.ReadFile(src); err != nil || !bytes.Contains(b, []byte("deleted deleted ")) {
		t.Fatalf("the source holds no deleted file's bytes (%v)", err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("deleted deleted ")) {
		t.Error("a deleted file's bytes were copied")
	}
	if bytes.Contains(b, bytes.Repeat([]byte{0xa5}, 4096)) {
		t.Error("the target's old bytes are still there")
	}
}

// TestCloneGrow clones onto a larger new file with the grow layout: the
// ext4 file system in the last partition grows to fill it.
func TestCloneGrow(t *testing.T) {
	testutil.Root(t)
	src, parts := cloneSource(t)
	dst := filepath.Join(t.TempDir(), "bigger.img")
	if err := os.WriteFile(dst, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dst, 256*mib); err != nil {
		t.Fatal(err)
	}
	job, res := runClone(t, CloneRequest{Source: src, Target: dst, Layout: layout.Grow, Verify: true})
	if res.Verified == nil || !res.Verified.OK() {
		t.Fatalf("verification %+v", res.Verified)
	}
	if !strings.Contains(strings.Join(res.Changes, "\n"), "partition 3 (ext4) grown") {
		t.Errorf("changes %q: want partition 3 grown", res.Changes)
	}
	tbl := checkClone(t, dst, parts)
	if end := tbl[2].Start + tbl[2].Size; end < 255*mib {
		t.Errorf("partition 3 ends at %d, want the disk's end", end)
	}
	dev := partLoop(t, dst, tbl[2])
	out := testutil.Run(t, "dumpe2fs", "-h", dev)
	var blocks, bsize int64
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "Block count:"):
			blocks, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		case strings.HasPrefix(l, "Block size:"):
			bsize, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if blocks*bsize < tbl[2].Size-4*mib {
		t.Errorf("ext4 holds %d bytes in a %d-byte partition: not grown", blocks*bsize, tbl[2].Size)
	}
	_ = job
}

// TestCloneFit clones onto a smaller disk: the fit layout shrinks the file
// systems (FAT32 and FAT16, moving their clusters; the ext4 and NTFS
// shrinks, which need the device mapper, are the restore's and run in the
// rescue environment's tests), which check clean and keep every file.
func TestCloneFit(t *testing.T) {
	testutil.Root(t)
	src, parts := makeSource(t, 120*mib, []clonePart{{fs: "vfat"}, {fs: "fat16"}}, []string{"+48M", "0"})
	dst := garbageFile(t, "smaller.img", 56*mib)
	job, res := runClone(t, CloneRequest{Source: src, Target: dst, Verify: true})
	if job.Plan.Kind != layout.Fit || len(job.Plan.Shrunk()) != 2 {
		t.Fatalf("layout %s shrinking %d partitions, want fit shrinking both", job.Plan.Kind, len(job.Plan.Shrunk()))
	}
	if !strings.Contains(strings.Join(res.Changes, "\n"), "shrunk") {
		t.Errorf("changes %q: want file systems shrunk", res.Changes)
	}
	tbl := checkClone(t, dst, parts)
	if end := tbl[1].Start + tbl[1].Size; end > 56*mib {
		t.Errorf("partition 2 ends at %d, past the 56 MiB disk", end)
	}
}

// TestCloneVerifyFindsDifferences: the hashes taken while copying catch
// a target that does not hold what was read, and a source that changed
// since it was read.
func TestCloneVerifyFindsDifferences(t *testing.T) {
	testutil.Root(t)
	src, _ := cloneSource(t)
	dst := garbageFile(t, "target.img", 160*mib)
	job, res := runClone(t, CloneRequest{Source: src, Target: dst, Verify: true})
	if res.Verified == nil || !res.Verified.OK() {
		t.Fatalf("verification %+v", res.Verified)
	}
	// A byte of the first used extent after the table, changed on the
	// target.
	m := job.Disk.Manifest()
	at := int64(-1)
	for i := 1; i < len(m.Extents) && at < 0; i++ {
		if e := m.Extents[i]; !e.Hole && e.Used == nil {
			at, _ = m.ExtentRange(i)
		}
	}
	if at < 0 {
		t.Fatal("no wholly used extent")
	}
	verify := func() (engine.VerifyReport, error) {
		d, err := disk.Open(dst, disk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return engine.VerifyTarget(t.Context(), job.Disk, d, engine.VerifyOptions{Layout: job.Plan})
	}
	if rep, err := verify(); err != nil {
		t.Fatalf("verify the clone again: %v %+v", err, rep.Problems)
	}
	testutil.WriteAt(t, dst, []byte{0x5a}, at+100)
	rep, err := verify()
	if !errors.Is(err, engine.ErrVerifyFailed) || len(rep.Problems) != 1 || rep.Problems[0].Offset != at {
		t.Fatalf("after a byte of the target changed at %d: %v, %+v", at+100, err, rep.Problems)
	}
}

// TestCloneRefused: a disk is not cloned onto itself (named again, through
// a link, or through a loop device over its file), nor onto a disk too
// small for it even shrunk; nothing is written.
func TestCloneRefused(t *testing.T) {
	testutil.Root(t)
	src, _ := cloneSource(t)
	before := testutil.HashFile(t, src, -1)
	link := filepath.Join(t.TempDir(), "link.img")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	loop := testutil.Loop(t, src, 0)
	for _, target := range []string{src, link, loop} {
		_, err := PrepareClone(Env{}, CloneRequest{Source: src, Target: target})
		if !errors.Is(err, safety.ErrRefused) {
			t.Errorf("clone %s onto %s: %v, want refused", src, target, err)
		}
	}
	if _, err := PrepareClone(Env{}, CloneRequest{Source: loop, Target: src}); !errors.Is(err, safety.ErrRefused) {
		t.Errorf("clone %s onto its own file: %v, want refused", loop, err)
	}
	// A loop device over the source's loop device writes the source, and
	// so does one over a loop device over the source's file.
	loopOverLoop := testutil.Loop(t, loop, 0)
	for _, c := range [][2]string{{loop, loopOverLoop}, {loopOverLoop, loop}, {src, loopOverLoop}, {loopOverLoop, src}} {
		if _, err := PrepareClone(Env{}, CloneRequest{Source: c[0], Target: c[1]}); !errors.Is(err, safety.ErrRefused) {
			t.Errorf("clone %s onto %s (a loop device over a loop device over %s): %v, want refused", c[0], c[1], src, err)
		}
	}
	tiny := garbageFile(t, "tiny.img", 24*mib)
	tinyBefore := testutil.HashFile(t, tiny, -1)
	_, err := PrepareClone(Env{}, CloneRequest{Source: src, Target: tiny})
	var tse *engine.TooSmallError
	if !errors.As(err, &tse) || tse.Need <= 24*mib {
		t.Errorf("clone onto a 24 MiB disk: %v, want too small", err)
	}
	if testutil.HashFile(t, src, -1) != before || testutil.HashFile(t, tiny, -1) != tinyBefore {
		t.Error("a refused clone changed a disk")
	}
}

// TestCloneMountedSource: a mounted source is refused unless allowed,
// and then copied with a warning; a target file on the source disk is
// refused even then.
func TestCloneMountedSource(t *testing.T) {
	testutil.Root(t)
	img := testutil.Sparse(t, "whole.img", 64*mib)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", "nodiscard", img)
	loop := testutil.Loop(t, img, 0)
	mnt := t.TempDir()
	testutil.Run(t, "mount", loop, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dst := filepath.Join(t.TempDir(), "copy.img")

	if _, err := PrepareClone(Env{}, CloneRequest{Source: loop, Target: dst}); !errors.Is(err, safety.ErrRefused) || !strings.Contains(err.Error(), "mounted") {
		t.Errorf("clone of mounted %s: %v, want refused as mounted", loop, err)
	}
	if _, err := PrepareClone(Env{}, CloneRequest{Source: loop, Target: filepath.Join(mnt, "copy.img"), AllowMounted: true}); !errors.Is(err, safety.ErrRefused) {
		t.Errorf("clone of %s into a file on it: %v, want refused", loop, err)
	}
	job, _ := runClone(t, CloneRequest{Source: loop, Target: dst, AllowMounted: true})
	if !strings.Contains(strings.Join(job.Warnings, "\n"), "mounted") {
		t.Errorf("warnings %q: want one saying the source was mounted", job.Warnings)
	}
	testutil.Run(t, "umount", mnt)
	testutil.Run(t, "e2fsck", "-fn", dst)
}

// TestCloneLoopDevices clones between block devices: loop devices over
// the source and over a larger target full of garbage, with the grow
// layout (the target's unused space discarded or zeroed through the
// device); the copy checks clean and keeps every file.
func TestCloneLoopDevices(t *testing.T) {
	testutil.Root(t)
	src, parts := cloneSource(t)
	dst := garbageFile(t, "bigger.img", 200*mib)
	srcDev, dstDev := testutil.Loop(t, src, 0), testutil.Loop(t, dst, 0)
	job, res := runClone(t, CloneRequest{Source: srcDev, Target: dstDev, Layout: layout.Grow, Verify: true})
	if job.Created || job.Target.Disk == nil || job.Source.Disk == nil {
		t.Fatalf("source %+v, target %+v: want two block devices", job.Source, job.Target)
	}
	if res.Verified == nil || !res.Verified.OK() {
		t.Fatalf("verification %+v", res.Verified)
	}
	job.Close()
	tbl := checkClone(t, dst, parts)
	if end := tbl[2].Start + tbl[2].Size; end < 199*mib {
		t.Errorf("partition 3 ends at %d, want the 200 MiB disk's end", end)
	}
	// Up to where the source's last partition ended, the target holds
	// only what was copied or zeroed (the grown space past it is the file
	// system's free space, as a restore leaves it).
	if b, err := os.ReadFile(dst); err != nil || bytes.Contains(b[:159*mib], bytes.Repeat([]byte{0xa5}, 4096)) {
		t.Errorf("the target's old bytes are still there (%v)", err)
	}
	t.Logf("source %s, target %s", srcDev, dstDev)
}
