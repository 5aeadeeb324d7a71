package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestDeleteWaitsForRestore: while a restore job is open (from its summary
// to its end), deleting or pruning its image is refused, naming the
// restore, so its chunks cannot vanish under it; once the job closes the
// delete goes ahead. A repository reached through a read-only mount takes
// no lock file, yet a delete through a writable path on this machine is
// still refused (the flock), and the read-only restore still runs.
func TestDeleteWaitsForRestore(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := testutil.Sparse(t, "src.img", 32<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+20M", "-t1:8300", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "20M")
	repoDir := filepath.Join(dir, "repo")
	cj, err := PrepareCapture(Env{Tool: "lifeboat test"}, CaptureRequest{Source: src, Repo: repoDir, Name: "golden"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cj.Run(context.Background(), &progress.Tracker{}); err != nil {
		t.Fatal(err)
	}
	cj.Close()

	rj, err := PrepareRestore(Env{}, RestoreRequest{Repo: repoDir, Name: "golden", Target: filepath.Join(dir, "a.img")})
	if err != nil {
		t.Fatal(err)
	}
	var le *repo.LockedError
	if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); !errors.As(err, &le) || !strings.Contains(err.Error(), "restore of image golden") {
		t.Fatalf("delete while a restore of the image is open: %v, want it refused naming the restore", err)
	}
	if _, err := rj.Run(context.Background(), &progress.Tracker{}); err != nil {
		t.Fatalf("restore after a refused delete: %v", err)
	}
	if err := rj.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(repoDir, "locks")); len(ents) != 0 {
		t.Errorf("lock files left after the restore: %v", ents)
	}

	// The same repository through a read-only bind mount.
	ro := filepath.Join(dir, "ro")
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
	rj, err = PrepareRestore(Env{}, RestoreRequest{Repo: ro, Name: "golden", Target: filepath.Join(dir, "b.img")})
	if err != nil {
		t.Fatalf("restore from a read-only repository: %v", err)
	}
	if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); !errors.As(err, &le) {
		t.Fatalf("delete while a restore from a read-only mount of the repository is open: %v, want it refused", err)
	}
	if _, err := rj.Run(context.Background(), &progress.Tracker{}); err != nil {
		t.Fatalf("restore from a read-only repository: %v", err)
	}
	rj.Close()
	if _, err := Verify(context.Background(), VerifyRequest{Repo: ro, Name: "golden"}, &progress.Tracker{}); err != nil {
		t.Fatalf("verify of a read-only repository: %v", err)
	}
	if _, err := DeleteImage(context.Background(), repoDir, "golden", nil); err != nil {
		t.Fatalf("delete once the restores are done: %v", err)
	}
}
