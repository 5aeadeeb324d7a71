package ops

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// TestRemoteRepository serves a repository with Go's file server on
// loopback and uses it by its URL: the images are listed with their
// notes, an image is restored (the server stopped for 10 s in the middle
// of the restore, then started again on the same port: the restore
// finishes) and the restored disk verifies against the image, the image
// verifies, and what would write to the repository (a capture, a delete,
// a note) is refused as read-only.
func TestRemoteRepository(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := testutil.Sparse(t, "src.img", 96<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n1:2048:+80M", "-t1:8300", src)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=1048576", src, "80M")
	// Data in the file system, so the image has tens of chunks.
	dev := testutil.AttachAt(t, src, 1<<20, 80<<20)
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	testutil.Run(t, "dd", "if=/dev/urandom", "of="+filepath.Join(mnt, "data.bin"), "bs=1M", "count=60", "status=none")
	testutil.Run(t, "umount", mnt)
	testutil.DetachOver(t, dev, src, 1<<20)
	repoDir := filepath.Join(dir, "repo")
	cj, err := PrepareCapture(Env{Tool: "lifeboat test"}, CaptureRequest{Source: src, Repo: repoDir, Name: "golden", Note: "lab image", ExtentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cj.Run(context.Background(), &progress.Tracker{}); err != nil {
		t.Fatal(err)
	}
	cj.Close()

	// A server that can be stopped and started again on one port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	files := http.FileServer(http.Dir(repoDir))
	var chunkGets atomic.Int64
	var stopOnce sync.Once
	stopped := make(chan struct{})
	var mu sync.Mutex
	var srv *http.Server
	serve := func(l net.Listener) {
		s := &http.Server{}
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/chunks/") && r.Method == http.MethodGet && chunkGets.Add(1) == 20 {
				// In the middle of the restore: the server goes away for
				// 10 s (this request with it).
				stopOnce.Do(func() {
					go func() {
						s.Close()
						close(stopped)
						time.Sleep(10 * time.Second)
						l2, err := net.Listen("tcp", addr)
						if err != nil {
							t.Errorf("listen again on %s: %v", addr, err)
							return
						}
						mu.Lock()
						srv = &http.Server{Handler: files}
						s2 := srv
						mu.Unlock()
						go s2.Serve(l2)
					}()
				})
				time.Sleep(100 * time.Millisecond)
			}
			files.ServeHTTP(w, r)
		})
		mu.Lock()
		srv = s
		mu.Unlock()
		s.Serve(l)
	}
	go serve(l)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		srv.Close()
	})
	url := "http://" + addr + "/"

	list, err := ListImages(url)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "golden" || list[0].Note != "lab image" || list[0].Err != nil {
		t.Fatalf("images at %s: %+v", url, list)
	}
	target := filepath.Join(dir, "restored.img")
	rj, err := PrepareRestore(Env{}, RestoreRequest{Repo: url, Name: "golden", Target: target, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := rj.Run(context.Background(), &progress.Tracker{})
	rj.Close()
	if err != nil {
		t.Fatalf("restore from %s: %v", url, err)
	}
	select {
	case <-stopped:
	default:
		t.Fatalf("the server was never stopped (%d chunk requests)", chunkGets.Load())
	}
	if res.Verified == nil {
		t.Error("the restored disk was not verified")
	}
	t.Logf("restored through a 10 s outage in %v", time.Since(start).Round(time.Second))
	vr, err := Verify(context.Background(), VerifyRequest{Repo: url, Name: "golden", Target: target}, &progress.Tracker{})
	if err != nil || vr.Target == nil || len(vr.Target.Problems) != 0 || len(vr.Chunks.Problems) != 0 {
		t.Errorf("verify from %s: %+v, %v", url, vr, err)
	}

	// Writes are refused, saying why.
	if _, err := PrepareCapture(Env{}, CaptureRequest{Source: src, Repo: url, Name: "second"}); !errors.Is(err, repo.ErrReadOnly) {
		t.Errorf("capture to %s: %v", url, err)
	}
	if _, err := DeleteImage(context.Background(), url, "golden", nil); !errors.Is(err, repo.ErrReadOnly) {
		t.Errorf("delete from %s: %v", url, err)
	}
	if err := SetNote(url, "golden", "changed"); !errors.Is(err, repo.ErrReadOnly) {
		t.Errorf("note in %s: %v", url, err)
	}
}
