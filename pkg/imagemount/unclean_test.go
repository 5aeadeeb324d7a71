package imagemount

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// ext4Shutdown is EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_LOGFLUSH: the
// file system stops as in a crash, with its journal written but not
// checkpointed.
const (
	ext4Shutdown      = 0x8004587d
	ext4GoingLogFlush = 1
)

// TestUncleanFileSystem: a disk whose ext4 was not shut down cleanly (its
// journal needs recovery) is captured whole with a warning, and its image
// mounts all the same (the journal is not replayed, nothing is written):
// the files written before the last checkpoint read as they were.
func TestUncleanFileSystem(t *testing.T) {
	testutil.Root(t)
	src := testutil.Sparse(t, "dirty.img", 64<<20)
	testutil.Run(t, "sgdisk", "-n1:2048:+48M", "-t1:8300", src)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-L", "DIRTY", "-E", "offset=1048576", src, "48M")
	dev := testutil.AttachAt(t, src, 1<<20, 48<<20)
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	want := strings.Repeat("kept before the crash\n", 5000)
	if err := os.WriteFile(filepath.Join(mnt, "kept.txt"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	// A freeze checkpoints the journal: kept.txt is in place on the disk.
	testutil.Run(t, "fsfreeze", "-f", mnt)
	testutil.Run(t, "fsfreeze", "-u", mnt)
	if err := os.WriteFile(filepath.Join(mnt, "late.txt"), []byte("only in the journal"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Syncfs(fd); err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(fd, ext4Shutdown, ext4GoingLogFlush); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	testutil.Run(t, "umount", mnt)
	if out := testutil.Run(t, "dumpe2fs", "-h", dev); !strings.Contains(out, "needs_recovery") {
		t.Fatalf("the file system is not left needing recovery:\n%s", out)
	}
	testutil.DetachOver(t, dev, src, 1<<20)
	before := testutil.HashFile(t, src, -1)

	_, im := capture(t, src, false, 0)
	if !strings.Contains(strings.Join(im.M.Warnings, "\n"), "recover") {
		t.Errorf("the capture did not warn of the unclean file system: %q", im.M.Warnings)
	}
	m, err := Mount(context.Background(), im, filepath.Join(t.TempDir(), "m"), Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount(true)
	if len(m.Parts) != 1 || m.Parts[0].How == "" {
		t.Fatalf("parts %+v (%v)", m.Parts, m.Parts[0].Err)
	}
	got, err := os.ReadFile(filepath.Join(m.Parts[0].Dir(m.Dir), "kept.txt"))
	if err != nil || string(got) != want {
		t.Errorf("kept.txt through the mount: %d bytes, %v", len(got), err)
	}
	if err := m.Unmount(false); err != nil {
		t.Fatal(err)
	}
	if testutil.HashFile(t, src, -1) != before {
		t.Error("the source disk changed")
	}
}
