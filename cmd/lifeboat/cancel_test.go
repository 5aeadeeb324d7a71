package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestCancelledRestoreSays: a restore interrupted (as by Ctrl-C) onto a
// disk that held another GPT disk exits 130 and says what state the disk
// is in and what to do; the disk holds no partition table.
func TestCancelledRestoreSays(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	const size = 512 * MiB
	// Random bytes in every extent: every extent is written.
	src := filepath.Join(dir, "src.img")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64<<10)
	for off := int64(4 * MiB); off < size; off += 4 * MiB {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		f.WriteAt(buf, off)
	}
	f.Close()
	testutil.Run(t, "sgdisk", "-n1:2048:0", "-t1:8300", src)
	repoDir := filepath.Join(dir, "repo")
	if res := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "big", "--quiet", src); res.code != 0 {
		t.Fatal(res)
	}

	tgt := filepath.Join(dir, "old.img")
	f, _ = os.Create(tgt)
	f.Truncate(size)
	f.Close()
	testutil.Run(t, "sgdisk", "-n1:2048:+100M", "-n2:0:0", tgt)
	gptHeader := func() bool {
		t.Helper()
		b := make([]byte, 8)
		f, err := os.Open(tgt)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.ReadAt(b, 512)
		return string(b) == "EFI PART"
	}
	if !gptHeader() {
		t.Fatal("the old disk has no GPT")
	}

	// Interrupted once the restore has written its first data extent
	// (the image's second: the first, with the table, goes last).
	at := func(p string) []byte {
		b := make([]byte, 16)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.ReadAt(b, 4*MiB)
		return b
	}
	want := at(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 0; i < 30000 && !bytes.Equal(at(tgt), want); i++ {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	var out, errb bytes.Buffer
	err = run(ctx, []string{"restore", "--repo", repoDir, "--name", "big", "--yes", "--quiet", tgt}, strings.NewReader(""), &out, &errb)
	if code := exitCode(err); code != exitCancelled {
		t.Fatalf("exit %d, want %d: %v\n%s", code, exitCancelled, err, errb.String())
	}
	msg := err.Error()
	t.Logf("lifeboat: %s", msg)
	for _, want := range []string{"restore cancelled at ", " of 512.0 MiB: ", tgt, "is partly written and holds no valid partition table; it will not boot.", "Restore again to finish (the image is unchanged)."} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not say %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "context canceled") {
		t.Errorf("the message speaks of the context: %s", msg)
	}
	if gptHeader() {
		t.Error("the interrupted restore left the old GPT header")
	}
	out2, err := exec.Command("blkid", "-p", "-o", "export", tgt).CombinedOutput()
	if err == nil || bytes.Contains(out2, []byte("PTTYPE")) {
		t.Errorf("blkid -p finds a partition table on the interrupted disk (%v):\n%s", err, out2)
	}
}
