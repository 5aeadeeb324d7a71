package ops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

const miB = 1 << 20

// TestPartialErrorSays: the message of a stopped restore follows what the
// engine reported, cancelled or failed.
func TestPartialErrorSays(t *testing.T) {
	const tgt = "/dev/sdb (QEMU HARDDISK, serial DEMO-TARGET)"
	cancelled := fmt.Errorf("restore of laptop cancelled: %w", context.Canceled)
	failed := errors.New("restore of laptop stopped: write at offset 1048576 of /dev/sdb: input/output error")
	cases := []struct {
		name string
		e    PartialError
		want string
	}{
		{"cancelled before writing", PartialError{Target: tgt, Err: cancelled, Total: 3 << 30},
			"restore cancelled before anything was written: " + tgt + " is unchanged"},
		{"cancelled part way", PartialError{Target: tgt, Err: cancelled, Done: 1288490189, Total: 3650722202, Cleared: true},
			"restore cancelled at 1.2 GiB of 3.4 GiB: " + tgt + " is partly written and holds no valid partition table; it will not boot. Restore again to finish (the image is unchanged)."},
		{"cancelled at the start", PartialError{Target: tgt, Err: cancelled, Total: 64 * miB, Cleared: true},
			"restore cancelled at 0 B of 64.0 MiB: no data was written, but the partition table of " + tgt + " was cleared: it holds no valid partition table and will not boot. Restore again to finish (the image is unchanged)."},
		{"failed part way", PartialError{Target: tgt, Err: failed, Done: 512 * miB, Total: 1 << 30, Cleared: true},
			failed.Error() + "\nrestore stopped at 512.0 MiB of 1.0 GiB: " + tgt + " is partly written and holds no valid partition table; it will not boot. Fix the cause and restore again."},
		{"cancelled while shrinking", PartialError{Target: tgt, Err: cancelled, Done: 1 << 30, Total: 1 << 30, Cleared: true, DataDone: true, Step: "shrinking its file systems"},
			"restore cancelled while shrinking its file systems: " + tgt + " holds all the data of the image but no valid partition table yet; it will not boot. Restore again to finish (the image is unchanged)."},
		{"failed while growing", PartialError{Target: tgt, Err: failed, Done: 1 << 30, Total: 1 << 30, Cleared: true, DataDone: true, TableWritten: true, Step: "growing its file systems"},
			failed.Error() + "\nrestore stopped while growing its file systems: " + tgt + " holds all of the image and its partition table, but growing its file systems failed. Fix the cause and restore again."},
		{"differs when read back", PartialError{Target: tgt, Err: fmt.Errorf("verify of /dev/sdb: %w: 2 extents differ", engine.ErrVerifyFailed), Done: 1 << 30, Total: 1 << 30, Cleared: true, DataDone: true, TableWritten: true, Step: "reading it back"},
			"verify of /dev/sdb: " + engine.ErrVerifyFailed.Error() + ": 2 extents differ\nrestore wrote all of the image and its partition table to " + tgt + ", but read back the disk differs from it (see above): do not trust it. Check the disk's health (a failing disk or cable), then restore again."},
		{"clone cancelled part way", PartialError{Op: "clone", Target: tgt, Err: cancelled, Done: 2 << 30, Total: 4 << 30, Cleared: true},
			"clone cancelled at 2.0 GiB of 4.0 GiB: " + tgt + " is partly written and holds no valid partition table; it will not boot. Clone again to finish (the source disk is unchanged)."},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestCancelledRestoreClearsTable: a restore onto a loop device that held
// another GPT disk, paused before its first extent and then cancelled,
// leaves no partition table on it and says so; one cancelled before it
// runs leaves the disk as it was.
func TestCancelledRestoreClearsTable(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	mkSparse(t, src, 64*miB)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+40M", "-t1:8300", "-n2:0:0", "-t2:0700", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "40M")
	repoDir := filepath.Join(dir, "repo")
	cj, err := PrepareCapture(Env{}, CaptureRequest{Source: src, Repo: repoDir, Name: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cj.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cj.Close()

	oldFile := filepath.Join(dir, "old.img")
	mkSparse(t, oldFile, 64*miB)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+20M", "-n2:0:+20M", "-n3:0:0", oldFile)
	dev := testutil.Loop(t, oldFile, 0)
	before := testutil.HashFile(t, dev, -1)
	tableOn := func() *ptable.Table {
		t.Helper()
		d, err := disk.Open(dev, disk.Options{})
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
	if tb := tableOn(); len(tb.Partitions) != 3 {
		t.Fatalf("the old disk: %+v", tb)
	}

	run := func(ctx context.Context, tr *progress.Tracker, wait func()) error {
		t.Helper()
		job, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "src", Target: dev})
		if err != nil {
			t.Fatal(err)
		}
		defer job.Close()
		errc := make(chan error, 1)
		go func() {
			_, err := job.Run(ctx, tr)
			errc <- err
		}()
		wait()
		return <-errc
	}

	// Cancelled before it runs: nothing written.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = run(ctx, nil, func() {})
	var pe *PartialError
	if !errors.As(err, &pe) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before anything was written") {
		t.Fatalf("restore with an ended context: %v", err)
	}
	if testutil.HashFile(t, dev, -1) != before {
		t.Fatal("a restore cancelled before it ran wrote the disk")
	}

	// Paused from the start, then cancelled.
	tr := &progress.Tracker{}
	tr.Pause()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	err = run(ctx, tr, func() {
		for i := 0; ; i++ {
			if s := tr.Snapshot(); s.Held && s.Stage != "" {
				break
			}
			if i == 3000 {
				t.Error("the paused restore never held")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	})
	if !errors.As(err, &pe) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled restore: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"restore cancelled at 0 B of 64.0 MiB", "partition table of " + dev, "holds no valid partition table and will not boot", "Restore again to finish"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "context canceled") {
		t.Errorf("the message %q speaks of the context", msg)
	}
	if tb := tableOn(); tb.Type != ptable.TypeNone {
		t.Errorf("after the cancelled restore the disk has a %s table with %d partitions", tb.Type, len(tb.Partitions))
	}
}

// TestWriteErrorSaysWhatIsLeft: a restore that fails part way on a write
// error (the target is a disk image file on a file system that fills up)
// says the cause, how far it got and what state the target is in, which
// holds no partition table.
func TestWriteErrorSaysWhatIsLeft(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	// The image: data in every extent, so that every extent is written.
	src := filepath.Join(dir, "src.img")
	mkSparse(t, src, 64*miB)
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 64<<10)
	for off := int64(4 * miB); off < 64*miB; off += 4 * miB {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		testutil.WriteAt(t, src, buf, off)
	}
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:0", src)
	repoDir := filepath.Join(dir, "repo")
	cj, err := PrepareCapture(Env{}, CaptureRequest{Source: src, Repo: repoDir, Name: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cj.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cj.Close()

	// The target: an old GPT disk in a file on a 24 MiB tmpfs.
	small := filepath.Join(dir, "small")
	os.Mkdir(small, 0o755)
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", small)
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	target := filepath.Join(small, "old.img")
	mkSparse(t, target, 64*miB)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+20M", "-n2:0:0", target)

	job, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "src", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Run(context.Background(), &progress.Tracker{})
	job.Close()
	var pe *PartialError
	if !errors.As(err, &pe) || errors.Is(err, context.Canceled) {
		t.Fatalf("restore onto a file system that fills up: %v", err)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	for _, want := range []string{"no space left on device", "\nrestore stopped at ", " of 64.0 MiB: " + target + " is partly written and holds no valid partition table; it will not boot. Fix the cause and restore again."} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not say %q", want)
		}
	}
	if pe.Done <= 0 || pe.Done >= 64*miB {
		t.Errorf("done %d of %d", pe.Done, pe.Total)
	}
	d, err := disk.Open(target, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if tb, err := ptable.Read(d, d.Size(), d.LogicalSectorSize()); err != nil || tb.Type != ptable.TypeNone {
		t.Errorf("the failed restore left the table %+v (%v)", tb, err)
	}
}

func mkSparse(t *testing.T, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}
