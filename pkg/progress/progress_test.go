package progress

import (
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
