package engine

// Restores onto disks of another size, laid out by package layout: real
// file systems made and filled with their own tools, restored with keep,
// grow and scale, grown by their own tools, and checked by them.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// partSpec is one partition of a test disk; c is nil for an extended
// partition.
type partSpec struct {
	start, size int64
	typ, name   string // sfdisk's type; GPT name
	c           *fsCase
	logical     bool
	// filler is the size of a file written before the files and deleted
	// after them, so that they lie far from the volume's start (FAT
	// fills from its start).
	filler int64
}

// layoutDisk makes a disk with the partitions, each file system made and
// filled by its own tools over garbage, and returns the snapshot of each
// (by partition number).
func layoutDisk(t *testing.T, path, label string, size int64, parts []partSpec) map[int]map[string]string {
	t.Helper()
	mk(t, path, size)
	garbage(t, path, 0, size, 3)
	script := "label: " + label + "\n"
	for _, p := range parts {
		line := fmt.Sprintf("start=%d, size=%d, type=%s", p.start/512, p.size/512, p.typ)
		if p.name != "" {
			line += fmt.Sprintf(", name=%q", p.name)
		}
		script += line + "\n"
	}
	cmd := exec.Command("sfdisk", "-q", "--no-reread", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s\n%s", err, out, script)
	}
	tbl := tableOf(t, path, 512)
	snaps := map[int]map[string]string{}
	for _, p := range parts {
		if p.c == nil {
			continue
		}
		num := 0
		for _, q := range tbl.Partitions {
			if q.Start == p.start {
				num = q.Number
			}
		}
		dev := loopPart(t, path, p.start, p.size)
		mkfs := append([]string(nil), p.c.mkfs...)
		// Record the partition's start, as installers do (Windows boots
		// from it).
		switch p.c.typ {
		case "ntfs":
			mkfs = append(mkfs, "-p", fmt.Sprint(p.start/512), "-H", "255", "-S", "63")
		case "vfat":
			mkfs = append(mkfs, "-h", fmt.Sprint(p.start/512))
		}
		testutil.Run(t, mkfs[0], append(mkfs[1:], dev)...)
		files := dev
		if p.c.fill == "mtools" {
			// mtools cannot size some FAT32 volumes on loop devices; it
			// reads the image at the partition's offset instead.
			detach(t, dev)
			files = fmt.Sprintf("%s@@%d", path, p.start)
		}
		if p.filler > 0 {
			zeros := filepath.Join(t.TempDir(), "filler")
			mk(t, zeros, p.filler)
			if p.c.fill == "mtools" {
				testutil.Run(t, "mcopy", "-i", files, zeros, "::/FILLER")
			} else {
				mnt := mount(t, p.c.fill, files, false)
				testutil.Run(t, "cp", zeros, filepath.Join(mnt, "FILLER"))
				unmount(t, mnt)
			}
		}
		fillFS(t, *p.c, files, filepath.Join(t.TempDir(), "tree"))
		if p.filler > 0 {
			if p.c.fill == "mtools" {
				testutil.Run(t, "mdel", "-i", files, "::/FILLER")
			} else {
				mnt := mount(t, p.c.fill, files, false)
				os.Remove(filepath.Join(mnt, "FILLER"))
				unmount(t, mnt)
			}
		}
		snaps[num] = snapshot(t, *p.c, files)
		if files == dev {
			detach(t, dev)
		}
	}
	return snaps
}

// restoreLayout plans and restores an image onto a file of size bytes
// garbledTarget makes a target disk image of size bytes at path, full of
// garbage (nothing may be read back from it that the restore did not
// write), and opens it for writing until the test ends.
func garbledTarget(t *testing.T, path string, size int64) *disk.Disk {
	t.Helper()
	mk(t, path, size)
	garbage(t, path, 0, size, 4)
	d, err := disk.Open(path, disk.Options{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// full of garbage, grows its file systems, and returns the plan.
func restoreLayout(t *testing.T, im *repo.Image, path string, size int64, kind layout.Kind) *layout.Plan {
	t.Helper()
	d := garbledTarget(t, path, size)
	plan, err := PlanRestore(im, layout.Target{Size: d.Size(), SectorSize: d.LogicalSectorSize()}, layout.Options{Kind: kind})
	if err != nil {
		t.Fatalf("plan %s: %v", kind, err)
	}
	if plan.Kind != kind {
		t.Fatalf("plan is %s, asked for %s", plan.Kind, kind)
	}
	before := testutil.HashFile(t, path, -1)
	if _, err := Restore(context.Background(), im, d, RestoreOptions{Layout: plan, Progress: &progress.Tracker{}}); err != nil {
		t.Fatal(err)
	}
	if testutil.HashFile(t, path, -1) == before {
		t.Fatal("the restore wrote nothing")
	}
	if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{Layout: plan}); err != nil {
		t.Fatalf("restored disk against the image and plan: %v %v", err, rep.Problems)
	}
	changes, warnings, err := GrowFileSystems(context.Background(), path, plan, &progress.Tracker{})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("grow: %v %q", err, warnings)
	}
	if len(changes) != len(plan.Grown()) {
		t.Errorf("grew %q, the plan says %d", changes, len(plan.Grown()))
	}
	t.Logf("%s: %q", kind, changes)
	return plan
}

// checkLayout checks the target's table against the plan and each file
// system: its checker is clean, its files are the source's, and it fills
// its partition when the plan grew it.
func checkLayout(t *testing.T, path string, plan *layout.Plan, cases map[int]*fsCase, snaps map[int]map[string]string) {
	t.Helper()
	got := tableOf(t, path, plan.Target.SectorSize)
	if len(got.Partitions) != len(plan.Parts) {
		t.Fatalf("target has %d partitions, plan %d", len(got.Partitions), len(plan.Parts))
	}
	for i, p := range plan.Parts {
		g := got.Partitions[i]
		if g.Number != p.Number || g.Start != p.Start || g.Size != p.Size || g.Type != p.Type || g.GUID != p.Src.GUID || g.Name != p.Src.Name || g.Logical != p.Logical {
			t.Errorf("partition %d on the target: %+v\nplanned: %+v", g.Number, g, p.Partition)
		}
	}
	for _, p := range plan.Parts {
		c := cases[p.Number]
		if c == nil {
			continue
		}
		dev := loopPart(t, path, p.Start, p.Size)
		if out, err := exec.Command(c.check[0], append(c.check[1:], dev)...).CombinedOutput(); err != nil {
			t.Errorf("%s on partition %d: %v\n%s", strings.Join(c.check, " "), p.Number, err, out)
		}
		files := dev
		if c.snap == "mtools" {
			files = fmt.Sprintf("%s@@%d", path, p.Start)
		}
		diffSnapshots(t, snaps[p.Number], snapshot(t, *c, files))
		if c.typ == "ntfs" || c.typ == "vfat" {
			if h := hiddenStart(t, dev); h != p.Start {
				t.Errorf("partition %d (%s) at byte %d: its boot sector says it starts at byte %d", p.Number, c.name, p.Start, h)
			}
		}
		fsSize := fileSystemSize(t, c, dev)
		switch {
		case p.Size == p.Src.Size && fsSize > p.Src.Size:
			t.Errorf("partition %d: file system of %d bytes in a partition of %d", p.Number, fsSize, p.Size)
		case p.Size > p.Src.Size && fsSize < p.Size-MiB:
			t.Errorf("partition %d (%s) grew from %d to %d bytes, its file system is %d bytes", p.Number, c.name, p.Src.Size, p.Size, fsSize)
		case p.Size < p.Src.Size && (fsSize > p.Size || fsSize < p.Size-MiB):
			t.Errorf("partition %d (%s) shrank from %d to %d bytes, its file system is %d bytes", p.Number, c.name, p.Src.Size, p.Size, fsSize)
		}
		detach(t, dev)
	}
}

// hiddenStart is the partition start a FAT or NTFS boot sector records
// (its hidden sectors, in its own sectors), in bytes.
func hiddenStart(t *testing.T, dev string) int64 {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	return int64(le.Uint32(b[28:32])) * int64(le.Uint16(b[11:13]))
}

// fileSystemSize is the size its file system says it has.
func fileSystemSize(t *testing.T, c *fsCase, dev string) int64 {
	t.Helper()
	switch c.typ {
	case "vfat":
		b := make([]byte, 512)
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		total := int64(le.Uint16(b[19:21]))
		if total == 0 {
			total = int64(le.Uint32(b[32:36]))
		}
		return total * int64(le.Uint16(b[11:13]))
	case "exfat":
		b := make([]byte, 512)
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		return int64(binary.LittleEndian.Uint64(b[72:80])) << b[108]
	case "btrfs":
		b := make([]byte, 0x78)
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(b, 64<<10); err != nil {
			t.Fatal(err)
		}
		return int64(binary.LittleEndian.Uint64(b[0x70:0x78]))
	case "ntfs":
		out := testutil.Run(t, "ntfsresize", "-i", "-f", dev)
		m := regexp.MustCompile(`Current volume size: (\d+) bytes`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("ntfsresize -i:\n%s", out)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	default:
		out := testutil.Run(t, "dumpe2fs", "-h", dev)
		var count, bs int64
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "Block count:"); ok {
				fmt.Sscan(strings.TrimSpace(v), &count)
			}
			if v, ok := strings.CutPrefix(l, "Block size:"); ok {
				fmt.Sscan(strings.TrimSpace(v), &bs)
			}
		}
		return count * bs
	}
}

func layoutCases() (esp, ext4, ntfs, fat16 fsCase) {
	for _, c := range fsCases() {
		switch c.name {
		case "FAT32":
			esp = c
		case "ext4":
			ext4 = c
		case "NTFS":
			ntfs = c
		case "FAT16":
			fat16 = c
		}
	}
	esp.dataMiB, ext4.dataMiB, ntfs.dataMiB, fat16.dataMiB = 6, 8, 6, 4
	return
}

// TestLayoutsGPT restores a GPT disk with an EFI system partition (FAT32),
// ext4 and NTFS onto a disk 1.5 times larger with each layout.
func TestLayoutsGPT(t *testing.T) {
	testutil.Root(t)
	esp, ext4, ntfs, _ := layoutCases()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 164 * MiB
	parts := []partSpec{
		{start: MiB, size: 48 * MiB, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", name: "EFI system", c: &esp},
		{start: 49 * MiB, size: 64 * MiB, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", name: "root", c: &ext4},
		{start: 113 * MiB, size: 48 * MiB, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", name: "data", c: &ntfs},
	}
	snaps := layoutDisk(t, src, "gpt", size, parts)
	cases := map[int]*fsCase{1: &esp, 2: &ext4, 3: &ntfs}
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	srcTable := tableOf(t, src, 512)

	for _, kind := range []layout.Kind{layout.Keep, layout.Grow, layout.Scale} {
		t.Run(string(kind), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.img")
			plan := restoreLayout(t, im, dst, size*3/2, kind)
			if out := testutil.Run(t, "sgdisk", "-v", dst); !strings.Contains(out, "No problems found") {
				t.Errorf("sgdisk -v:\n%s", out)
			}
			got := tableOf(t, dst, 512)
			if got.DiskID != srcTable.DiskID {
				t.Errorf("disk GUID %s, source %s", got.DiskID, srcTable.DiskID)
			}
			last := plan.Parts[len(plan.Parts)-1]
			switch kind {
			case layout.Keep:
				if len(plan.Grown()) != 0 || plan.Rewritten {
					t.Errorf("keep grows %d file systems, rewrites the table: %v", len(plan.Grown()), plan.Rewritten)
				}
			case layout.Grow:
				if want := int64(size*3/2 - MiB); last.Start+last.Size != want || last.Start != last.Src.Start {
					t.Errorf("grow: the last partition is at %d, %d bytes; want it to end at %d", last.Start, last.Size, want)
				}
			case layout.Scale:
				for _, p := range plan.Parts {
					if p.Size < p.Src.Size*14/10 || p.Start%MiB != 0 {
						t.Errorf("scale: partition %d at %d, %d bytes (was %d)", p.Number, p.Start, p.Size, p.Src.Size)
					}
				}
			}
			checkLayout(t, dst, plan, cases, snaps)
		})
	}
	// New identities on grown file systems: each gets its new ID (the FAT
	// one read from its boot sector as grown).
	plan, err := PlanRestore(im, layout.Target{Size: size * 3 / 2, SectorSize: 512}, layout.Options{Kind: layout.Scale, NewIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, id := range plan.IDs {
		whats = append(whats, id.What)
	}
	for _, want := range []string{"FAT volume ID", "ext4 UUID", "NTFS serial number"} {
		if !strings.Contains(strings.Join(whats, ", "), want) {
			t.Errorf("scale with new identities changes %q, not the %s", whats, want)
		}
	}
}

// TestLayoutsMBRLogical restores an MBR disk with a primary ext4 and an
// extended partition holding a FAT16 and an ext4 logical partition: keep
// round-trips it byte for byte, grow and scale write the EBR chain anew.
func TestLayoutsMBRLogical(t *testing.T) {
	testutil.Root(t)
	_, ext4, _, fat16 := layoutCases()
	ext4b := ext4
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 150 * MiB
	parts := []partSpec{
		{start: MiB, size: 40 * MiB, typ: "83", c: &ext4},
		{start: 42 * MiB, size: 108 * MiB, typ: "5"},
		{start: 43 * MiB, size: 64 * MiB, typ: "6", c: &fat16, logical: true},
		{start: 108 * MiB, size: 42 * MiB, typ: "83", c: &ext4b, logical: true},
	}
	snaps := layoutDisk(t, src, "dos", size, parts)
	cases := map[int]*fsCase{1: &ext4, 5: &fat16, 6: &ext4b}
	srcTable := tableOf(t, src, 512)
	if len(srcTable.Partitions) != 4 || !srcTable.Partitions[3].Logical {
		t.Fatalf("source table %+v", srcTable.Partitions)
	}
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	sfdiskDump := func(p string) string {
		out := testutil.Run(t, "sfdisk", "-d", p)
		out = regexp.MustCompile(`(?m)^device: .*$`).ReplaceAllString(out, "")
		return regexp.MustCompile(`(?m)^\S+?(\d+) :`).ReplaceAllString(out, "$1 :")
	}
	for _, kind := range []layout.Kind{layout.Keep, layout.Grow, layout.Scale} {
		t.Run(string(kind), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.img")
			plan := restoreLayout(t, im, dst, size*3/2, kind)
			if out, err := exec.Command("sfdisk", "-V", dst).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
				t.Errorf("sfdisk -V: %v\n%s", err, out)
			}
			got := tableOf(t, dst, 512)
			if got.DiskID != srcTable.DiskID {
				t.Errorf("disk signature %s, source %s", got.DiskID, srcTable.DiskID)
			}
			switch kind {
			case layout.Keep:
				if a, b := sfdiskDump(src), sfdiskDump(dst); a != b {
					t.Errorf("sfdisk -d differs:\n%s\n%s", a, b)
				}
			case layout.Grow:
				if ext, last := plan.Parts[1], plan.Parts[3]; ext.Start+ext.Size != int64(size*3/2) || last.Start+last.Size != ext.Start+ext.Size {
					t.Errorf("grow: extended %+v, last logical %+v", ext.Partition, last.Partition)
				}
			case layout.Scale:
				if p := plan.Parts[2]; p.Start == p.Src.Start || p.Size <= p.Src.Size {
					t.Errorf("scale: the FAT16 logical partition did not move and grow: %+v", p.Partition)
				}
			}
			checkLayout(t, dst, plan, cases, snaps)
		})
	}
}

// TestLayoutSmallerTarget: keep works on a smaller disk when the
// partitions end before its end; a target the partitions do not fit is
// refused with the shortfall and the size of the data, and nothing is
// written.
func TestLayoutSmallerTarget(t *testing.T) {
	testutil.Root(t)
	_, ext4, _, _ := layoutCases()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	snaps := layoutDisk(t, src, "gpt", 200*MiB, []partSpec{
		{start: MiB, size: 96 * MiB, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", name: "root", c: &ext4},
	})
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")

	dst := filepath.Join(dir, "dst.img")
	plan := restoreLayout(t, im, dst, 120*MiB, layout.Keep)
	if out := testutil.Run(t, "sgdisk", "-v", dst); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v on the smaller disk:\n%s", out)
	}
	checkLayout(t, dst, plan, map[int]*fsCase{1: &ext4}, snaps)

	small := filepath.Join(dir, "small.img")
	mk(t, small, 64*MiB)
	before := testutil.HashFile(t, small, -1)
	_, err := PlanRestore(im, layout.Target{Size: 64 * MiB, SectorSize: 512}, layout.Options{Kind: layout.Keep})
	var tse *TooSmallError
	if !errors.As(err, &tse) {
		t.Fatalf("keep onto 64 MiB: %v", err)
	}
	if want := int64(97*MiB) + 33*512; tse.Need != want || tse.Have != 64*MiB || tse.Shrunk {
		t.Errorf("need %d have %d (shrunk %v), want %d and %d", tse.Need, tse.Have, tse.Shrunk, want, 64*MiB)
	}
	if tse.Data <= 8*MiB || tse.Data >= 64*MiB || !strings.Contains(err.Error(), "short") || !strings.Contains(err.Error(), "fit layout") {
		t.Errorf("data estimate %d, message %q", tse.Data, err)
	}
	// fit (and the automatic choice) shrinks the ext4 onto 64 MiB; not
	// onto 16 MiB, and says by how much.
	for _, kind := range []layout.Kind{"", layout.Fit} {
		p, err := PlanRestore(im, layout.Target{Size: 64 * MiB, SectorSize: 512}, layout.Options{Kind: kind})
		if err != nil || p.Kind != layout.Fit || len(p.Shrunk()) != 1 {
			t.Fatalf("layout %q onto 64 MiB: %v %+v", kind, err, p)
		}
		_, err = PlanRestore(im, layout.Target{Size: 16 * MiB, SectorSize: 512}, layout.Options{Kind: kind})
		if !errors.As(err, &tse) || !tse.Shrunk || tse.Need <= 16*MiB || tse.Need > 64*MiB || !strings.Contains(err.Error(), "short") {
			t.Errorf("layout %q onto 16 MiB: %v", kind, err)
		}
	}
	if _, err := PlanRestore(im, layout.Target{Size: 64 * MiB, SectorSize: 512}, layout.Options{Kind: layout.Grow}); err == nil {
		t.Error("grow onto a smaller disk planned")
	}
	if testutil.HashFile(t, small, -1) != before {
		t.Error("planning wrote the target")
	}
}

// TestLayoutFitFAT restores a GPT disk with a FAT32 EFI system partition
// and a FAT16 partition, each with its files near its end, onto a disk
// smaller than the partitions: the fit layout shrinks both (moving their
// clusters); the checkers are clean, the files equal, and nothing larger
// than the target is written. The ext4 and NTFS shrinks, which need the
// device mapper, run in the rescue environment's tests.
func TestLayoutFitFAT(t *testing.T) {
	testutil.Root(t)
	esp, _, _, fat16 := layoutCases()
	esp.mkfs = []string{"mkfs.vfat", "-F", "32", "-s", "1"}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	snaps := layoutDisk(t, src, "gpt", 200*MiB, []partSpec{
		{start: MiB, size: 100 * MiB, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", name: "EFI system", c: &esp, filler: 80 * MiB},
		{start: 101 * MiB, size: 64 * MiB, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", name: "data", c: &fat16, filler: 50 * MiB},
	})
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")

	dst := filepath.Join(dir, "dst.img")
	const size = 96 * MiB
	d := garbledTarget(t, dst, size)
	for _, kind := range []layout.Kind{layout.Keep, layout.Grow, layout.Scale} {
		if _, err := PlanRestore(im, layout.Target{Size: size, SectorSize: 512}, layout.Options{Kind: kind}); err == nil {
			t.Errorf("%s onto a disk smaller than the partitions planned", kind)
		}
	}
	plan, err := PlanRestore(im, layout.Target{Size: size, SectorSize: 512}, layout.Options{})
	if err != nil || plan.Kind != layout.Fit {
		t.Fatalf("plan onto %d bytes: %v %+v", size, err, plan)
	}
	if len(plan.Shrunk()) != 2 || len(plan.Spill) != 2 {
		t.Fatalf("plan shrinks %d file systems with %d spill stores: %+v", len(plan.Shrunk()), len(plan.Spill), plan.Parts)
	}
	for _, sp := range plan.Spill {
		if sp.Used < MiB {
			t.Errorf("partition %d: %d bytes past its new end; the test wants files there", sp.Part, sp.Used)
		}
	}
	for _, p := range plan.Parts {
		t.Logf("partition %d: %d MiB at %d MiB: %s", p.Number, p.Size/MiB, p.Start/MiB, p.Note)
	}
	if _, err := Restore(context.Background(), im, d, RestoreOptions{Layout: plan}); err == nil {
		t.Fatal("a restore that shrinks ran without scratch space")
	}
	if _, err := NewSpill([]string{"/proc"}, plan); err == nil || !strings.Contains(err.Error(), "scratch space") {
		t.Errorf("scratch space on /proc: %v", err)
	}
	restoreFit(t, im, d, dst, plan, []string{"/proc", t.TempDir()})
	if st, _ := os.Stat(dst); st.Size() != size {
		t.Errorf("target is %d bytes after the restore, was %d", st.Size(), size)
	}
	if out := testutil.Run(t, "sgdisk", "-v", dst); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	checkLayout(t, dst, plan, map[int]*fsCase{1: &esp, 2: &fat16}, snaps)
}

// TestLayoutExFATGrow restores a GPT disk with an exFAT partition onto
// larger disks with the grow layout: exFAT grows while it is restored. At
// 1.5 times the size its allocation bitmap still fits its cluster; at 6
// times it moves to the first new clusters (drivers read it as one run);
// at 18 times the FAT outgrows the room before the cluster heap, and the
// heap moves. fsck.exfat is clean, the files are equal, and a file larger
// than the whole old volume fits in the grown one.
func TestLayoutExFATGrow(t *testing.T) {
	testutil.Root(t)
	ex := fsCaseNamed(t, "exFAT")
	ex.dataMiB = 12
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 66 * MiB
	snaps := layoutDisk(t, src, "gpt", size, []partSpec{
		{start: MiB, size: 64 * MiB, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", name: "data", c: &ex},
	})
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	for _, grow := range []int64{3, 12, 36} {
		t.Run(fmt.Sprintf("x%d/2", grow), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.img")
			plan := restoreLayout(t, im, dst, size*grow/2, layout.Grow)
			p := plan.Parts[0]
			t.Log(p.Note)
			if !strings.Contains(p.Note, "exFAT grown from 64.0 MiB") {
				t.Fatalf("plan: %s", p.Note)
			}
			if heap, bitmap := strings.Contains(p.Note, "heap moves"), strings.Contains(p.Note, "bitmap moves"); heap != (grow == 36) || bitmap != (grow >= 12) {
				t.Errorf("growing %d/2 times: heap moved %v, bitmap moved %v", grow, heap, bitmap)
			}
			checkLayout(t, dst, plan, map[int]*fsCase{1: &ex}, snaps)
			writeExfat(t, dst, p.Partition, 72*MiB)
		})
	}
}

// TestLayoutFitExFAT restores a GPT disk with an exFAT partition whose
// files lie near its end onto a disk smaller than the partition: the fit
// layout shrinks exFAT (moving its clusters, chains, entry sets and
// bitmap). fsck.exfat is clean, the files equal, and the volume takes new
// files.
func TestLayoutFitExFAT(t *testing.T) {
	testutil.Root(t)
	ex := fsCaseNamed(t, "exFAT")
	ex.dataMiB = 12
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	snaps := layoutDisk(t, src, "gpt", 100*MiB, []partSpec{
		{start: MiB, size: 96 * MiB, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", name: "data", c: &ex, filler: 70 * MiB},
	})
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")

	dst := filepath.Join(dir, "dst.img")
	const size = 40 * MiB
	d := garbledTarget(t, dst, size)
	plan, err := PlanRestore(im, layout.Target{Size: size, SectorSize: 512}, layout.Options{})
	if err != nil || plan.Kind != layout.Fit || len(plan.Spill) != 1 || plan.Spill[0].Used < 4*MiB {
		t.Fatalf("plan onto %d bytes: %v %+v", size, err, plan)
	}
	t.Log(plan.Parts[0].Note)
	restoreFit(t, im, d, dst, plan, []string{t.TempDir()})
	checkLayout(t, dst, plan, map[int]*fsCase{1: &ex}, snaps)
	writeExfat(t, dst, plan.Parts[0].Partition, 8*MiB)
}

// TestLayoutBtrfsGrow restores a disk with btrfs onto a disk 2.5 times
// larger with the grow layout (btrfs resizes nothing to under 256 MiB):
// btrfs is mounted and grown, as no other disk holds its UUID; btrfs check
// is clean and the files are equal. With the source attached as well,
// growing the copy is refused.
func TestLayoutBtrfsGrow(t *testing.T) {
	testutil.Root(t)
	testutil.Tool(t, "btrfs")
	bt := fsCaseNamed(t, "btrfs")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 130 * MiB
	snaps := layoutDisk(t, src, "gpt", size, []partSpec{
		{start: MiB, size: 128 * MiB, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", name: "home", c: &bt},
	})
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	dst := filepath.Join(dir, "dst.img")
	plan := restoreLayout(t, im, dst, size*5/2, layout.Grow)
	if p := plan.Parts[0]; !p.GrowFS || !strings.Contains(p.Note, "btrfs filesystem resize max") {
		t.Fatalf("plan: %+v", p)
	}
	checkLayout(t, dst, plan, map[int]*fsCase{1: &bt}, snaps)

	// Its source attached too: the copy is not mounted.
	twin := loopPart(t, src, MiB, 128*MiB)
	defer detach(t, twin)
	p := plan.Parts[0]
	dev := loopPart(t, dst, p.Start, p.Size)
	defer detach(t, dev)
	if _, err := fsresize.Grow(context.Background(), dev, "btrfs"); err == nil || !strings.Contains(err.Error(), twin+" also holds a btrfs") {
		t.Errorf("growing a btrfs copy beside its source: %v", err)
	}
}

// fsCaseNamed is the file system case of fsCases with that name.
func fsCaseNamed(t *testing.T, name string) fsCase {
	t.Helper()
	for _, c := range fsCases() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no file system case %q", name)
	return fsCase{}
}

// restoreFit carries out a plan that shrinks file systems onto d (the
// file dst), as a restore job does: spill stores in the first of dirs
// with room, the data, the comparison of disk and stores with the image,
// the shrinks, the table last. Until then the disk has no table.
func restoreFit(t *testing.T, im *repo.Image, d *disk.Disk, dst string, plan *layout.Plan, dirs []string) {
	t.Helper()
	spill, err := NewSpill(dirs, plan)
	if err != nil {
		t.Fatal(err)
	}
	defer spill.Close()
	if _, err := Restore(context.Background(), im, d, RestoreOptions{Layout: plan, Spill: spill, Progress: &progress.Tracker{}}); err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{Layout: plan, Spill: spill}); err != nil {
		t.Fatalf("restored disk and spill stores against the image and plan: %v %v", err, rep.Problems)
	}
	if tbl, err := ptable.Read(d, d.Size(), d.LogicalSectorSize()); err == nil && tbl.Type != ptable.TypeNone {
		t.Errorf("before the shrink the disk has a %s table", tbl.Type)
	}
	changes, err := ShrinkFileSystems(context.Background(), dst, plan, spill, &progress.Tracker{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DropCache(); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(d, plan); err != nil {
		t.Fatal(err)
	}
	t.Logf("%q", changes)
}

// writeExfat writes a file of n bytes into the exFAT of partition p of
// the disk image dst, and checks the volume with fsck.exfat after.
func writeExfat(t *testing.T, dst string, p ptable.Partition, n int64) {
	t.Helper()
	dev := loopPart(t, dst, p.Start, p.Size)
	defer detach(t, dev)
	mnt := mount(t, "exfat-fuse", dev, false)
	err := os.WriteFile(filepath.Join(mnt, "new"), make([]byte, n), 0o644)
	unmount(t, mnt)
	if err != nil {
		t.Fatalf("a file of %d bytes in the resized exFAT: %v", n, err)
	}
	if out, err := exec.Command("fsck.exfat", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("fsck.exfat -n after writing into the resized volume: %v\n%s", err, out)
	}
}

// TestLayoutSectorConversion restores a 512-byte-sector GPT disk with a
// FAT32 EFI system partition and ext4 onto a disk with 4096-byte sectors,
// and that disk back onto 512-byte sectors: the table is converted, the
// FAT's boot sector counts the new sectors, ext4 mounts on a 4Kn loop
// device, the checkers are clean and the files equal. File systems that
// cannot live on 4096-byte sectors are refused, saying why.
func TestLayoutSectorConversion(t *testing.T) {
	testutil.Root(t)
	esp, ext4, _, _ := layoutCases()
	// 4 KiB clusters, as installers make EFI system partitions; big
	// enough for a FAT32 that mtools accepts (65525 clusters or more).
	esp.mkfs = []string{"mkfs.vfat", "-F", "32", "-s", "8"}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 328 * MiB
	snaps := layoutDisk(t, src, "gpt", size, []partSpec{
		{start: MiB, size: 260 * MiB, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", name: "EFI system", c: &esp},
		{start: 261 * MiB, size: 64 * MiB, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", name: "root", c: &ext4},
	})
	cases := map[int]*fsCase{1: &esp, 2: &ext4}
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})

	restoreOnto := func(name, path string, lss int) *layout.Plan {
		t.Helper()
		im := openImage(t, r, name)
		mk(t, path, size)
		garbage(t, path, 0, size, 5)
		d, err := disk.Open(path, disk.Options{Write: true, SectorSize: lss})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		plan, err := PlanRestore(im, layout.Target{Size: size, SectorSize: lss}, layout.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if plan.Kind != layout.Keep || !plan.Rewritten {
			t.Fatalf("plan onto %d-byte sectors: %s, rewritten %v", lss, plan.Kind, plan.Rewritten)
		}
		if _, err := Restore(context.Background(), im, d, RestoreOptions{Layout: plan, Progress: &progress.Tracker{}}); err != nil {
			t.Fatal(err)
		}
		if rep, err := VerifyTarget(context.Background(), im, d, VerifyOptions{Layout: plan}); err != nil {
			t.Fatalf("verify: %v %v", err, rep.Problems)
		}
		return plan
	}
	check := func(path string, lss int, plan *layout.Plan) {
		t.Helper()
		dev := testutil.Loop(t, path, lss)
		if out := testutil.Run(t, "sgdisk", "-v", dev); !strings.Contains(out, "No problems found") {
			t.Errorf("sgdisk -v on %d-byte sectors:\n%s", lss, out)
		}
		got := tableOf(t, dev, lss)
		for i, p := range plan.Parts {
			if g := got.Partitions[i]; g.Start != p.Src.Start || g.Size != p.Src.Size || g.GUID != p.Src.GUID || g.Name != p.Src.Name {
				t.Errorf("partition %d on %d-byte sectors: %+v, was %+v", p.Number, lss, g, p.Src)
			}
		}
		checkLayout(t, path, plan, cases, snaps)
		// The kernel mounts ext4 from a disk with these sectors.
		p := got.Partitions[1]
		loop := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-b", fmt.Sprint(lss), "-o", fmt.Sprint(p.Start), "--sizelimit", fmt.Sprint(p.Size), path))
		defer exec.Command("losetup", "-d", loop).Run()
		mnt := mount(t, "mount", loop, true)
		diffSnapshots(t, snaps[2], walkTree(t, mnt, true))
		unmount(t, mnt)
		// The FAT counts the disk's sectors.
		b := make([]byte, 512)
		f, _ := os.Open(path)
		f.ReadAt(b, got.Partitions[0].Start)
		f.Close()
		if bps := binary.LittleEndian.Uint16(b[11:13]); int(bps) < lss {
			t.Errorf("FAT32 on %d-byte sectors says %d bytes per sector", lss, bps)
		}
	}
	big := filepath.Join(dir, "4kn.img")
	plan := restoreOnto("img", big, 4096)
	check(big, 4096, plan)

	// And back: the 4Kn disk captured and restored onto 512-byte sectors.
	bigDev := testutil.Loop(t, big, 4096)
	capture(t, r, bigDev, "img4k", CaptureOptions{})
	back := filepath.Join(dir, "back.img")
	plan = restoreOnto("img4k", back, 512)
	check(back, 512, plan)

	// What cannot live on 4096-byte sectors is refused, saying why.
	for _, c := range []struct {
		mkfs []string
		why  string
	}{
		{[]string{"mkfs.vfat", "-F", "32", "-s", "1"}, "its clusters are 512 bytes, smaller than a 4096-byte sector"},
		{[]string{"mkfs.ext4", "-q", "-F", "-b", "1024"}, "its blocks are 1024 bytes"},
		{[]string{"mkfs.ntfs", "-q", "-f", "-F"}, "Lifeboat does not convert NTFS"},
	} {
		p := filepath.Join(t.TempDir(), "bad.img")
		mk(t, p, 64*MiB)
		partitionDisk(t, p, MiB, 48*MiB)
		dev := loopPart(t, p, MiB, 48*MiB)
		testutil.Run(t, c.mkfs[0], append(c.mkfs[1:], dev)...)
		detach(t, dev)
		name := filepath.Base(filepath.Dir(p))
		capture(t, r, p, name, CaptureOptions{})
		_, err := PlanRestore(openImage(t, r, name), layout.Target{Size: 64 * MiB, SectorSize: 4096}, layout.Options{})
		if !errors.Is(err, ErrSectorSize) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s onto 4096-byte sectors: %v, want it refused because %q", c.mkfs[0], err, c.why)
		}
	}
}

// TestNewIdentity restores a GPT disk (FAT32 EFI system partition, ext4
// root, swap, NTFS) with new identities: every identifier blkid and the
// table show is new, the ext4 root's fstab and GRUB configuration name
// the new ones, and the file systems still check clean with their files.
func TestNewIdentity(t *testing.T) {
	testutil.Root(t)
	esp, ext4, ntfs, _ := layoutCases()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 200 * MiB
	parts := []partSpec{
		{start: MiB, size: 48 * MiB, typ: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", name: "EFI system", c: &esp},
		{start: 49 * MiB, size: 64 * MiB, typ: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", name: "root", c: &ext4},
		{start: 113 * MiB, size: 16 * MiB, typ: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", name: "swap"},
		{start: 129 * MiB, size: 48 * MiB, typ: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", name: "data", c: &ntfs},
	}
	snaps := layoutDisk(t, src, "gpt", size, parts)
	swap := loopPart(t, src, 113*MiB, 16*MiB)
	testutil.Run(t, "mkswap", swap)
	detach(t, swap)
	ids := map[int]string{}
	for i, p := range parts {
		dev := loopPart(t, src, p.start, p.size)
		ids[i+1] = strings.TrimSpace(testutil.Run(t, "blkid", "-p", "-s", "UUID", "-o", "value", dev))
		detach(t, dev)
	}
	srcTable := tableOf(t, src, 512)
	partuuid := strings.ToLower(srcTable.Partitions[2].GUID)
	fstab := fmt.Sprintf("UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /boot/efi vfat umask=0077 0 1\nPARTUUID=%s none swap sw 0 0\nUUID=%s /data ntfs-3g defaults 0 0\n", ids[2], ids[1], partuuid, ids[4])
	grub := fmt.Sprintf("search --no-floppy --fs-uuid --set=root %s\nlinux /boot/vmlinuz root=UUID=%s resume=UUID=%s ro\n", ids[2], ids[2], ids[3])
	root := loopPart(t, src, 49*MiB, 64*MiB)
	mnt := mount(t, "mount", root, false)
	os.MkdirAll(filepath.Join(mnt, "etc"), 0o755)
	os.MkdirAll(filepath.Join(mnt, "boot/grub"), 0o755)
	os.WriteFile(filepath.Join(mnt, "etc/fstab"), []byte(fstab), 0o644)
	os.WriteFile(filepath.Join(mnt, "boot/grub/grub.cfg"), []byte(grub), 0o444)
	unmount(t, mnt)
	snaps[2] = snapshot(t, ext4, root)
	detach(t, root)
	// The EFI system partition names the root too, as Debian's and
	// systemd-boot's files do.
	espFiles := fmt.Sprintf("%s@@%d", src, MiB)
	efiGrub := fmt.Sprintf("search.fs_uuid %s root hd0,gpt2\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n", ids[2])
	entry := fmt.Sprintf("title Demo\nlinux /vmlinuz\noptions root=PARTUUID=%s rw\n", strings.ToLower(srcTable.Partitions[1].GUID))
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "grub.cfg"), []byte(efiGrub), 0o644)
	os.WriteFile(filepath.Join(tmp, "demo.conf"), []byte(entry), 0o644)
	testutil.Run(t, "mmd", "-i", espFiles, "::/EFI", "::/EFI/debian", "::/loader", "::/loader/entries")
	testutil.Run(t, "mcopy", "-i", espFiles, filepath.Join(tmp, "grub.cfg"), "::/EFI/debian/grub.cfg")
	testutil.Run(t, "mcopy", "-i", espFiles, filepath.Join(tmp, "demo.conf"), "::/loader/entries/demo.conf")
	snaps[1] = snapshot(t, esp, espFiles)

	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	im := openImage(t, r, "img")
	dst := filepath.Join(dir, "dst.img")
	mk(t, dst, size)
	d, err := disk.Open(dst, disk.Options{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := PlanRestore(im, layout.Target{Size: size, SectorSize: 512}, layout.Options{NewIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Kind != layout.Keep || !plan.Rewritten || len(plan.IDs) != 9 {
		t.Fatalf("plan %s, rewritten %v, %d new identifiers: %+v", plan.Kind, plan.Rewritten, len(plan.IDs), plan.IDs)
	}
	if _, err := Restore(context.Background(), im, d, RestoreOptions{Layout: plan, Progress: &progress.Tracker{}}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	changes, warnings, err := ApplyIdentity(context.Background(), dst, plan, &progress.Tracker{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changes:\n%s\nwarnings:\n%s", strings.Join(changes, "\n"), strings.Join(warnings, "\n"))
	all := strings.Join(changes, "\n")
	for _, want := range []string{"partition 2 (ext4): /etc/fstab: 4 references rewritten", "partition 2 (ext4): /boot/grub/grub.cfg: 3 references rewritten", "(with tune2fs)",
		"partition 1 (vfat): /EFI/debian/grub.cfg: 1 references rewritten", "partition 1 (vfat): /loader/entries/demo.conf: 1 references rewritten"} {
		if !strings.Contains(all, want) {
			t.Errorf("changes do not say %q", want)
		}
	}

	// Every identifier is new, and is what the plan said.
	got := tableOf(t, dst, 512)
	if got.DiskID == srcTable.DiskID {
		t.Error("the disk GUID is the source's")
	}
	newIDs := map[int]string{}
	for _, id := range plan.IDs {
		if id.Partition > 0 && id.What != "partition GUID" {
			newIDs[id.Partition] = id.New
		}
	}
	for i, p := range parts {
		if got.Partitions[i].GUID == srcTable.Partitions[i].GUID {
			t.Errorf("partition %d keeps its GUID", i+1)
		}
		dev := loopPart(t, dst, p.start, p.size)
		id := strings.TrimSpace(testutil.Run(t, "blkid", "-p", "-s", "UUID", "-o", "value", dev))
		if id == ids[i+1] || !strings.EqualFold(id, newIDs[i+1]) {
			t.Errorf("partition %d: blkid says UUID %s, was %s, the plan said %s", i+1, id, ids[i+1], newIDs[i+1])
		}
		detach(t, dev)
	}
	// The references name the new identifiers; the file systems are clean
	// and hold the same files (but the two rewritten ones).
	root = loopPart(t, dst, 49*MiB, 64*MiB)
	gotFstab := testutil.Run(t, "debugfs", "-R", "cat /etc/fstab", root)
	gotGrub := testutil.Run(t, "debugfs", "-R", "cat /boot/grub/grub.cfg", root)
	newPart := strings.ToLower(got.Partitions[2].GUID)
	wantFstab := strings.NewReplacer(ids[2], newIDs[2], ids[1], newIDs[1], partuuid, newPart, ids[4], newIDs[4]).Replace(fstab)
	wantGrub := strings.NewReplacer(ids[2], newIDs[2], ids[3], newIDs[3]).Replace(grub)
	if !strings.Contains(gotFstab, wantFstab) || !strings.Contains(gotGrub, wantGrub) {
		t.Errorf("fstab:\n%s\nwant:\n%s\ngrub.cfg:\n%s\nwant:\n%s", gotFstab, wantFstab, gotGrub, wantGrub)
	}
	detach(t, root)
	dstESP := fmt.Sprintf("%s@@%d", dst, MiB)
	gotEFI := testutil.Run(t, "mtype", "-i", dstESP, "::/EFI/debian/grub.cfg")
	gotEntry := testutil.Run(t, "mtype", "-i", dstESP, "::/loader/entries/demo.conf")
	if want := strings.ReplaceAll(efiGrub, ids[2], newIDs[2]); gotEFI != want {
		t.Errorf("EFI/debian/grub.cfg:\n%s\nwant:\n%s", gotEFI, want)
	}
	if want := strings.ReplaceAll(entry, strings.ToLower(srcTable.Partitions[1].GUID), strings.ToLower(got.Partitions[1].GUID)); gotEntry != want {
		t.Errorf("loader entry:\n%s\nwant:\n%s", gotEntry, want)
	}
	for _, f := range []string{"EFI/debian/grub.cfg", "loader/entries/demo.conf"} {
		delete(snaps[1], f)
	}
	cases := map[int]*fsCase{1: &esp, 2: &ext4, 4: &ntfs}
	for _, n := range []int{1, 4} {
		p := plan.Parts[n-1]
		dev := loopPart(t, dst, p.Start, p.Size)
		c := cases[n]
		if out, err := exec.Command(c.check[0], append(c.check[1:], dev)...).CombinedOutput(); err != nil {
			t.Errorf("%s on partition %d: %v\n%s", strings.Join(c.check, " "), n, err, out)
		}
		files := dev
		if c.snap == "mtools" {
			files = fmt.Sprintf("%s@@%d", dst, p.Start)
		}
		after := snapshot(t, *c, files)
		if n == 1 {
			delete(after, "EFI/debian/grub.cfg")
			delete(after, "loader/entries/demo.conf")
		}
		diffSnapshots(t, snaps[n], after)
		detach(t, dev)
	}
	root = loopPart(t, dst, 49*MiB, 64*MiB)
	if out, err := exec.Command("e2fsck", "-fn", root).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the root: %v\n%s", err, out)
	}
	after := snapshot(t, ext4, root)
	for _, f := range []string{"etc/fstab", "boot/grub/grub.cfg"} {
		if after[f] == snaps[2][f] {
			t.Errorf("%s did not change", f)
		}
		delete(after, f)
		delete(snaps[2], f)
	}
	diffSnapshots(t, snaps[2], after)
}
