package progress

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestNilTrackerIgnoresUpdates(t *testing.T) {
	var tr *Tracker
	tr.Start("x", 10)
	tr.Add(5)
	tr.SetStage("y")
	if s := tr.Snapshot(); s != (Snapshot{}) {
		t.Fatalf("nil tracker snapshot = %+v, want zero", s)
	}
}

func TestCountsFromManyGoroutines(t *testing.T) {
	var tr Tracker
	tr.Start("reading", 1000)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				tr.Add(1)
			}
		}()
	}
	wg.Wait()
	s := tr.Snapshot()
	if s.Done != 1000 || s.Total != 1000 || s.Stage != "reading" {
		t.Fatalf("snapshot = %+v", s)
	}
	tr.SetStage("syncing")
	if got := tr.Snapshot().Stage; got != "syncing" {
		t.Fatalf("stage = %q", got)
	}
}

func TestRemaining(t *testing.T) {
	s := Snapshot{Done: 100, Total: 300, Rate: 100}
	if got := s.Remaining(); got != 2*time.Second {
		t.Fatalf("remaining = %v, want 2s", got)
	}
	if got := (Snapshot{Done: 1, Total: 2}).Remaining(); got != 0 {
		t.Fatalf("remaining with no rate = %v", got)
	}
}

// TestPauseHoldsWork: a paused tracker holds Begin until Resume, says it is
// held only once the unit under way has ended, and lets a cancelled
// context out.
func TestPauseHoldsWork(t *testing.T) {
	var tr Tracker
	ctx := context.Background()
	if err := tr.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	tr.Pause()
	if s := tr.Snapshot(); !s.Paused || s.Held {
		t.Fatalf("paused with a unit under way: %+v, want paused, not held", s)
	}
	tr.Add(7)
	tr.End()
	if s := tr.Snapshot(); !s.Paused || !s.Held || s.Done != 7 {
		t.Fatalf("paused with nothing under way: %+v, want held at 7", s)
	}
	began := make(chan error, 1)
	go func() { began <- tr.Begin(ctx) }()
	// The waiting Begin has not started a unit: still held.
	if s := tr.Snapshot(); !s.Held {
		t.Fatalf("a waiting Begin counts as work: %+v", s)
	}
	select {
	case err := <-began:
		t.Fatalf("Begin returned %v while paused", err)
	default:
	}
	tr.Resume()
	if err := <-began; err != nil {
		t.Fatalf("Begin after Resume: %v", err)
	}
	tr.End()
	if s := tr.Snapshot(); s.Paused || s.Held {
		t.Fatalf("after Resume: %+v", s)
	}

	// Cancelled while waiting: Begin returns the context's error.
	tr.Pause()
	cctx, cancel := context.WithCancel(ctx)
	go func() { began <- tr.Begin(cctx) }()
	cancel()
	if err := <-began; !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin cancelled while paused = %v", err)
	}
	if err := tr.Begin(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin with an ended context = %v", err)
	}
	var nilTr *Tracker
	nilTr.Pause()
	if err := nilTr.Begin(ctx); err != nil {
		t.Fatalf("nil tracker Begin = %v", err)
	}
	nilTr.End()
}

// TestPauseFromManyGoroutines: workers that Begin and End units while the
// tracker is paused and resumed over and over never run a unit while held.
func TestPauseFromManyGoroutines(t *testing.T) {
	var tr Tracker
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := tr.Begin(ctx); err != nil {
					t.Error(err)
					return
				}
				tr.Add(1)
				tr.End()
			}
		}()
	}
	for i := 0; i < 100; i++ {
		tr.Pause()
		for k := 0; k < 1000 && !tr.Snapshot().Held; k++ {
			runtime.Gosched()
		}
		if s := tr.Snapshot(); s.Held {
			if s2 := tr.Snapshot(); s2.Done != s.Done {
				t.Fatalf("done moved from %d to %d while held", s.Done, s2.Done)
			}
		}
		tr.Resume()
	}
	wg.Wait()
	if got := tr.Snapshot().Done; got != 1600 {
		t.Fatalf("done = %d, want 1600", got)
	}
}
