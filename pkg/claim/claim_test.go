package claim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestTakeLiveRelease: claims show in Live, in the order taken, with the
// device numbers of block devices named (files name none); a released
// claim is gone; a claim file whose holder is gone is removed; a claim
// file that cannot be read still counts, as a claim of no device.
func TestTakeLiveRelease(t *testing.T) {
	reg := Registry{Dir: filepath.Join(t.TempDir(), "claims")}
	if live, err := reg.Live(); err != nil || len(live) != 0 {
		t.Fatalf("Live of a registry not made yet: %+v, %v", live, err)
	}
	devs := []string{filepath.Join(t.TempDir(), "disk.img"), "/nonexistent"}
	if err := os.WriteFile(devs[0], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var want Device
	if os.Geteuid() == 0 {
		loop := testutil.Loop(t, testutil.Sparse(t, "l.img", 1<<20), 0)
		devs = append(devs, loop)
		var st unix.Stat_t
		if err := unix.Stat(loop, &st); err != nil {
			t.Fatal(err)
		}
		want = Device{unix.Major(st.Rdev), unix.Minor(st.Rdev)}
	}
	first, err := reg.Take(context.Background(), "capture of a", devs...)
	if err != nil {
		t.Fatal(err)
	}
	second, err := reg.Take(context.Background(), "restore to b")
	if err != nil {
		t.Fatal(err)
	}
	live, err := reg.Live()
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].Job != "capture of a" || live[1].Job != "restore to b" || live[0].PID != os.Getpid() {
		t.Fatalf("live %+v", live)
	}
	if want != (Device{}) && (len(live[0].Devices) != 1 || !live[0].Holds(want)) {
		t.Errorf("claim names %v, want only %v", live[0].Devices, want)
	}
	if len(live[1].Devices) != 0 {
		t.Errorf("a claim of nothing names %v", live[1].Devices)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if live, _ = reg.Live(); len(live) != 1 || live[0].Job != "restore to b" {
		t.Fatalf("after release live %+v", live)
	}

	// A dead holder's claim, and a held claim that cannot be parsed.
	dead := filepath.Join(reg.Dir, "1-1.json")
	if err := os.WriteFile(dead, []byte(`{"job":"dead"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(reg.Dir, "2-1.json")
	if err := os.WriteFile(bad, []byte(`{not json`), 0o600); err != nil {
		t.Fatal(err)
	}
	bf, err := os.Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	if err := unix.Flock(int(bf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	live, err = reg.Live()
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 {
		t.Fatalf("live %+v, want the restore's and the unreadable one", live)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead claim left: %v", err)
	}
	if err := second.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestTakeWaitsForLock: Take does not write its claim while the lock is
// held (a look at the disks under way), and gives up when ctx ends.
func TestTakeWaitsForLock(t *testing.T) {
	reg := Registry{Dir: filepath.Join(t.TempDir(), "claims")}
	unlock, err := reg.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := reg.Take(ctx, "restore to x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take under the lock: %v, want the deadline", err)
	}
	if live, _ := reg.Live(); len(live) != 0 {
		t.Fatalf("claim written under the lock: %+v", live)
	}
	got := make(chan error, 1)
	go func() {
		h, err := reg.Take(context.Background(), "restore to x")
		if err == nil {
			err = h.Release()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
