package repofind

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/claim"
)

// TestClaimsKeepScanAway: while a job claims a disk, Scan neither mounts
// it nor sets it read-only, nor any loop device (jobs make loop and
// device-mapper devices over the disks they work on); once the claim is
// released, or its process is gone, both are looked at again. A claim
// cannot start while Scan looks at a device.
func TestClaimsKeepScanAway(t *testing.T) {
	testutil.Root(t)
	a := attach(t, ext4File(t, "a.img"), false)
	putRepo(t, a, "")
	b := attach(t, ext4File(t, "b.img"), false)
	putRepo(t, b, "")
	root := mountRoot(t)
	reg := claim.Registry{Dir: filepath.Join(filepath.Dir(root), "claims")}
	f := &Finder{MountRoot: root, Filter: only(a, b)}
	closeAtEnd(t, f)

	held, err := reg.Take(context.Background(), "restore to "+a, a)
	if err != nil {
		t.Fatal(err)
	}
	live, err := reg.Live()
	if err != nil || len(live) != 1 || live[0].Job != "restore to "+a || live[0].PID != os.Getpid() {
		t.Fatalf("live claims %+v, %v; want the restore's", live, err)
	}
	res, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{
		{Device: a, Disk: filepath.Base(a), Reason: "in use by the restore to " + a},
		{Device: b, Disk: filepath.Base(b), Reason: "a loop, device-mapper or network block device, not looked at while the restore to " + a + " runs"},
	}
	if len(res.Found) != 0 {
		t.Errorf("found %+v while a job holds a claim", res.Found)
	}
	if diff := cmp.Diff(want, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	for _, dev := range []string{a, b} {
		if len(mountsOf(t, dev)) != 0 || roFlag(t, dev) != 0 {
			t.Errorf("%s touched under a claim: mounts %v, read-only %d", dev, mountsOf(t, dev), roFlag(t, dev))
		}
	}

	// A claim waits for a look under way.
	var during error
	testHookLook = func(dev, stage string) {
		if stage != "mounted" || during != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		h, err := reg.Take(ctx, "capture of "+dev, dev)
		if err == nil {
			h.Release()
			err = errors.New("claim taken while the device was mounted for a look")
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		during = err
		if during == nil {
			during = errors.New("ok") // seen, and waited
		}
	}
	t.Cleanup(func() { testHookLook = nil })
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	res, err = f.Scan(context.Background())
	testHookLook = nil
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 2 {
		t.Errorf("after the claim's release found %+v, want both repositories", res.Found)
	}
	if during == nil || during.Error() != "ok" {
		t.Errorf("claim during a look: %v", during)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// A claim file nobody holds (its process died) claims nothing, and is
	// removed.
	stale := filepath.Join(reg.Dir, "99999-1.json")
	if err := os.WriteFile(stale, []byte(`{"job":"restore to `+a+`","pid":99999}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f2 := &Finder{MountRoot: root, Filter: only(a, b)}
	closeAtEnd(t, f2)
	if res, err = f2.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 2 {
		t.Errorf("with a dead claim found %+v, want both repositories", res.Found)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead claim file left: %v", err)
	}
}
