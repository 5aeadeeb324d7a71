package ops

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/claim"
)

// TestJobsClaimTheirDisks: a capture, restore or clone started while the
// repository finder has a file system of its disk mounted for a look (it
// holds the claims lock meanwhile) waits for the look to end instead of
// refusing the disk as mounted; the prepared job holds a claim naming its
// disks until Close.
func TestJobsClaimTheirDisks(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	// A disk holding one file system, with no partition table: the
	// kernel of the test machines does not scan loop devices for
	// partitions, and the finder mounts such a disk whole.
	srcFile := testutil.Sparse(t, "src.img", 32<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", srcFile)
	src := testutil.Loop(t, srcFile, 0)

	dstFile := testutil.Sparse(t, "dst.img", 40<<20)
	dst := testutil.Loop(t, dstFile, 0)
	reg := &claim.Registry{Dir: filepath.Join(dir, "claims")}
	env := Env{Tool: "lifeboat test", Claims: reg}
	repoDir := filepath.Join(dir, "repo")

	// look mounts the source as the finder does, under the
	// claims lock, runs start, and ends the look after a while.
	look := func(start func() error) error {
		t.Helper()
		unlock, err := reg.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mnt := t.TempDir()
		if err := unix.Mount(src, mnt, "ext4", unix.MS_RDONLY, "noload"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- start() }()
		select {
		case err := <-done:
			unix.Unmount(mnt, 0)
			unlock()
			t.Fatalf("the job did not wait for the look: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Fatal(err)
		}
		unlock()
		return <-done
	}
	holds := func(job string, devs ...string) {
		t.Helper()
		live, err := reg.Live()
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 1 || live[0].Job != job {
			t.Fatalf("live claims %+v, want one for the %s", live, job)
		}
		for _, d := range devs {
			var st unix.Stat_t
			if err := unix.Stat(d, &st); err != nil {
				t.Fatal(err)
			}
			if !live[0].Holds(claim.Device{Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev)}) {
				t.Errorf("the %s's claim %+v does not name %s", job, live[0], d)
			}
		}
	}
	released := func() {
		t.Helper()
		if live, err := reg.Live(); err != nil || len(live) != 0 {
			t.Errorf("claims left after Close: %+v, %v", live, err)
		}
	}

	var cj *CaptureJob
	if err := look(func() (err error) {
		cj, err = PrepareCapture(env, CaptureRequest{Source: src, Repo: repoDir, Name: "golden"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	holds("capture of "+src, src)
	if _, err := cj.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := cj.Close(); err != nil {
		t.Fatal(err)
	}
	released()

	var rj *RestoreJob
	if err := look(func() (err error) {
		rj, err = PrepareRestore(env, RestoreRequest{Repo: repoDir, Name: "golden", Target: dst})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	holds("restore to "+dst, dst)
	if err := rj.Close(); err != nil {
		t.Fatal(err)
	}
	released()

	var kj *CloneJob
	if err := look(func() (err error) {
		kj, err = PrepareClone(env, CloneRequest{Source: src, Target: dst})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	holds("clone of "+src+" to "+dst, src, dst)
	if err := kj.Close(); err != nil {
		t.Fatal(err)
	}
	released()

	// A job refused by its checks leaves no claim.
	if _, err := PrepareRestore(env, RestoreRequest{Repo: repoDir, Name: "golden", Target: filepath.Join(dir, "missing", "x")}); err == nil {
		t.Fatal("restore onto a file in a missing directory accepted")
	}
	released()
	if _, err := os.Stat(reg.Dir); err != nil {
		t.Fatal(err)
	}
}
