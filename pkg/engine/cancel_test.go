package engine

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// oldDisk makes the disk a restore overwrites: a partition table of its
// own (GPT or MBR) with an ext4 file system, unlike the image's.
func oldDisk(t *testing.T, dir, kind string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, "old-"+kind+".img")
	mk(t, p, size)
	switch kind {
	case "gpt":
		testutil.Run(t, "sgdisk", "-n1:2048:+50M", "-t1:8300", "-c1:old root", "-n2:0:0", "-t2:8300", p)
	case "mbr":
		testutil.Run(t, "sh", "-c", "printf 'label: dos\\nstart=2048, size=50MiB, type=83\\nsize=20MiB, type=83\\n' | sfdisk -q "+p)
	case "btrfs":
		// A whole-disk btrfs: its superblock is at 64 KiB, past the MBR
		// and GPT headers.
		testutil.Run(t, testutil.Tool(t, "mkfs.btrfs"), "-q", "-f", "-M", "-L", "OLDROOT", p)
		return p
	}
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-L", "OLDROOT", "-E", "offset=1048576", p, "50M")
	if tb := tableOf(t, p, 512); tb.Type == ptable.TypeNone || len(tb.Partitions) != 2 {
		t.Fatalf("the old disk's table: %+v", tb)
	}
	return p
}

// cancelOnWrite is a target that cancels the restore once a write ends
// at or past from (data writes only: the table spans are not counted).
type cancelOnWrite struct {
	*disk.Disk
	from   int64
	cancel func()
	once   sync.Once
}

func (c *cancelOnWrite) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.Disk.WriteAt(p, off)
	if off >= tableSpan && off < c.Size()-tableSpan && off+int64(len(p)) >= c.from {
		c.once.Do(c.cancel)
	}
	return n, err
}

// TestInterruptedRestoreLeavesNoTable: a restore cancelled part way, onto
// a disk that held another partitioned disk, leaves no partition table at
// all (neither the old one in front of new data, nor the image's backup
// GPT header from its last extent), says so in its summary, and a restore
// run again makes the disk whole.
func TestInterruptedRestoreLeavesNoTable(t *testing.T) {
	testutil.Root(t)
	const size = 96 * MiB
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, size)
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	for _, c := range []struct {
		name, old string
		from      int64 // cancel once a data write reaches this offset
		skipHoles bool
	}{
		{"gpt a quarter in", "gpt", size / 4, false},
		{"mbr a quarter in, skip holes", "mbr", size / 4, true},
		{"gpt at the last extent", "gpt", size - DefaultExtentSize, false},
		{"whole-disk btrfs a quarter in", "btrfs", size / 4, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := oldDisk(t, t.TempDir(), c.old, size)
			d, err := disk.Open(target, disk.Options{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dst := &cancelOnWrite{Disk: d, from: c.from, cancel: cancel}
			sum, err := Restore(ctx, openImage(t, r, "img"), dst, RestoreOptions{SkipHoles: c.skipHoles, Progress: &progress.Tracker{}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want cancelled", err)
			}
			if strings.Contains(err.Error(), "context canceled") {
				t.Errorf("the error repeats the context's: %q", err)
			}
			if !sum.Cleared || sum.DataDone || sum.TableWritten || sum.Total != size || sum.Done <= 0 || sum.Done >= size {
				t.Errorf("summary %+v: want cleared, data not done, 0 < done < %d", sum, size)
			}
			if tb := tableOf(t, target, 512); tb.Type != ptable.TypeNone || len(tb.Partitions) != 0 {
				t.Errorf("the interrupted restore left a %s table with %d partitions", tb.Type, len(tb.Partitions))
			}
			// blkid sees neither a partition table nor the old file system.
			out, err := exec.Command(testutil.Tool(t, "blkid"), "-p", "-o", "export", target).CombinedOutput()
			if err == nil || bytes.Contains(out, []byte("PTTYPE")) || bytes.Contains(out, []byte("OLDROOT")) {
				t.Errorf("blkid -p finds something on the interrupted disk (%v):\n%s", err, out)
			}

			// Restored again, the disk is the source.
			sum, err = Restore(context.Background(), openImage(t, r, "img"), d, RestoreOptions{SkipHoles: c.skipHoles})
			if err != nil {
				t.Fatal(err)
			}
			if !sum.DataDone || !sum.TableWritten || sum.Done != size {
				t.Errorf("a whole restore's summary %+v", sum)
			}
			if tb := tableOf(t, target, 512); tb.Type != ptable.TypeGPT || len(tb.Partitions) != 3 {
				t.Errorf("after restoring again: %s table, %d partitions", tb.Type, len(tb.Partitions))
			}
			if !c.skipHoles {
				if got, want := testutil.HashFile(t, target, size), testutil.HashFile(t, src, size); got != want {
					t.Error("the disk restored again differs from the source")
				}
			}
		})
	}
}

// TestPausedRestoreWritesNothing: while the tracker is paused, a restore
// writes nothing more once held, and cancelled then it says where it
// stopped; a restore cancelled before it starts writes nothing at all.
func TestPausedRestoreWritesNothing(t *testing.T) {
	testutil.Root(t)
	const size = 96 * MiB
	dir := t.TempDir()
	src := makeGPTDisk(t, dir, size)
	r := newRepo(t)
	capture(t, r, src, "img", CaptureOptions{})
	target := oldDisk(t, dir, "gpt", size)
	before := testutil.HashFile(t, target, size)

	d, err := disk.Open(target, disk.Options{Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Restore(ctx, openImage(t, r, "img"), d, RestoreOptions{})
	if !errors.Is(err, context.Canceled) || sum.Cleared || !strings.Contains(err.Error(), "before anything was written") {
		t.Fatalf("restore with an ended context: %+v, %v", sum, err)
	}
	if testutil.HashFile(t, target, size) != before {
		t.Fatal("a restore cancelled before it started wrote the target")
	}

	// Paused from the start: the old table is cleared, then nothing.
	tr := &progress.Tracker{}
	tr.Pause()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum RestoreSummary
		err error
	}
	res := make(chan result, 1)
	go func() {
		sum, err := Restore(ctx, openImage(t, r, "img"), d, RestoreOptions{Workers: 2, Progress: tr})
		res <- result{sum, err}
	}()
	// Held: no extent is being written, and none will be.
	for i := 0; ; i++ {
		if s := tr.Snapshot(); s.Held && s.Stage != "" {
			break
		}
		if i == 3000 {
			t.Fatal("the paused restore never held")
		}
		select {
		case got := <-res:
			t.Fatalf("a paused restore returned: %+v, %v", got.sum, got.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	held := testutil.HashFile(t, target, size)
	if s := tr.Snapshot(); s.Done != 0 {
		t.Fatalf("paused before its first extent, the restore has done %d bytes", s.Done)
	}
	cancel()
	got := <-res
	if !errors.Is(got.err, context.Canceled) || !got.sum.Cleared || got.sum.Done != 0 {
		t.Fatalf("cancelled while paused: %+v, %v", got.sum, got.err)
	}
	if testutil.HashFile(t, target, size) != held {
		t.Fatal("the restore wrote while it was held")
	}
	if tb := tableOf(t, target, 512); tb.Type != ptable.TypeNone {
		t.Fatalf("the old table is still there while paused: %+v", tb)
	}
}
