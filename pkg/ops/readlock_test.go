package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestDeleteWaitsForRestore: while a restore runs, deleting or pruning its
// image is refused, naming the restore, so its chunks cannot vanish under
// it; an image deleted after the restore was prepared (its summary shown)
// but before it runs is refused by the restore before it writes. A
// repository reached through a read-only mount takes no lock file, yet a
// delete through a writable path on this machine is still refused (the
// flock), and the read-only restore still runs.
func TestDeleteWaitsForRestore(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := testutil.Sparse(t, "src.img", 32<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+20M", "-t1:8300", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "20M")
	repoDir := filepath.Join(dir, "repo")
	capture := func() {
		t.Helper()
		cj, err := PrepareCapture(Env{Tool: "lifeboat test"}, CaptureRequest{Source: src, Repo: repoDir, Name: "golden"})
		if err != nil {
			t.Fatal(err)
		}
		defer cj.Close()
		if _, err := cj.Run(context.Background(), &progress.Tracker{}); err != nil {
			t.Fatal(err)
		}
	}
	capture()

	var le *repo.LockedError
	ro := filepath.Join(dir, "ro")
	restoreWhile := func(repoDir, target string, during func()) {
		t.Helper()
		rj, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "golden", Target: target})
		if err != nil {
			t.Fatal(err)
		}
		defer rj.Close()
		// Paused from the start: the restore takes its lock, then holds
		// before its first extent until resumed.
		tr := &progress.Tracker{}
		tr.Pause()
		done := make(chan error, 1)
		go func() {
			_, err := rj.Run(context.Background(), tr)
			done <- err
		}()
		locked := func() bool {
			if repoDir != ro {
				// The lock file in place (not the temporary file it is
				// written as first).
				ents, _ := os.ReadDir(filepath.Join(repoDir, "locks"))
				for _, e := range ents {
					if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
						return true
					}
				}
				return false
			}
			// Read-only: the flock alone; a restore holds it once it
			// reads the image, before its first extent.
			return tr.Snapshot().Total > 0
		}
		for i := 0; i < 3000 && !(tr.Snapshot().Held && locked()); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if !tr.Snapshot().Held || !locked() {
			t.Fatal("the restore never took its lock and held at its pause")
		}
		during()
		tr.Resume()
		if err := <-done; err != nil {
			t.Fatalf("restore after a refused delete: %v", err)
		}
	}
	restoreWhile(repoDir, filepath.Join(dir, "a.img"), func() {
		if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); !errors.As(err, &le) || !strings.Contains(err.Error(), "restore of image golden") {
			t.Fatalf("delete while a restore of the image runs: %v, want it refused naming the restore", err)
		}
	})
	if ents, _ := os.ReadDir(filepath.Join(repoDir, "locks")); len(ents) != 0 {
		t.Errorf("lock files left after the restore: %v", ents)
	}

	// The same repository through a read-only bind mount.
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(repoDir, ro, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	if err := unix.Mount("", ro, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	restoreWhile(ro, filepath.Join(dir, "b.img"), func() {
		if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); !errors.As(err, &le) {
			t.Fatalf("delete while a restore from a read-only mount of the repository runs: %v, want it refused", err)
		}
	})

	// Deleted between the restore's preparation and its start: refused
	// before anything is written.
	rj, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "golden", Target: filepath.Join(dir, "a.img")})
	if err != nil {
		t.Fatal(err)
	}
	defer rj.Close()
	before := testutil.HashFile(t, filepath.Join(dir, "a.img"), -1)
	if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); err != nil {
		t.Fatalf("delete of an image whose restore is only prepared: %v", err)
	}
	if _, err := rj.Run(context.Background(), &progress.Tracker{}); !errors.Is(err, repo.ErrNoImage) {
		t.Fatalf("restore of an image deleted since it was prepared: %v, want no such image", err)
	}
	if testutil.HashFile(t, filepath.Join(dir, "a.img"), -1) != before {
		t.Error("the restore of a deleted image wrote to its target")
	}
	capture()
	if _, err := Verify(context.Background(), VerifyRequest{Repo: ro, Name: "golden"}, &progress.Tracker{}); err != nil {
		t.Fatalf("verify of a read-only repository: %v", err)
	}
}
