package progress

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker holds the progress of one operation. The zero value is ready to
// use; a nil *Tracker ignores updates.
type Tracker struct {
	done  atomic.Int64
	total atomic.Int64
	stage atomic.Pointer[string]

	mu      sync.Mutex
	started time.Time
	// samples for the rate: the last few (time, done) pairs.
	lastT    time.Time
	lastDone int64
	rate     float64

	// The pause gate: paused is set between Pause and Resume, resume is
	// closed by Resume; busy counts units of work under way.
	paused atomic.Bool
	busy   atomic.Int64
	resume chan struct{} // under mu
}

// Snapshot is one sample of a Tracker.
type Snapshot struct {
	Stage   string
	Done    int64
	Total   int64
	Elapsed time.Duration
	// Rate is in bytes per second, smoothed over recent samples.
	Rate float64
	// Paused is set between Pause and Resume; Held once no unit of work
	// is under way any more, so nothing is read or written until Resume.
	Paused, Held bool
}

// Start resets the tracker for a new stage with the given total bytes.
func (t *Tracker) Start(stage string, total int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.started.IsZero() {
		t.started = time.Now()
	}
	t.lastT = time.Now()
	t.lastDone = 0
	t.rate = 0
	t.mu.Unlock()
	t.done.Store(0)
	t.total.Store(total)
	t.stage.Store(&stage)
}

// SetStage names the current stage without resetting the counters.
func (t *Tracker) SetStage(stage string) {
	if t == nil {
		return
	}
	t.stage.Store(&stage)
}

// Add records n more bytes done.
func (t *Tracker) Add(n int64) {
	if t == nil {
		return
	}
	t.done.Add(n)
}

// Pause asks the operation to stop before its next unit of work (an
// extent, a step): Begin waits until Resume. Units under way finish; the
// snapshot's Held says when none is left.
func (t *Tracker) Pause() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.paused.Load() {
		t.resume = make(chan struct{})
		t.paused.Store(true)
	}
}

// Resume lets a paused operation go on.
func (t *Tracker) Resume() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.paused.Load() {
		t.paused.Store(false)
		close(t.resume)
		t.resume = nil
	}
}

// Begin starts a unit of work: it waits while the tracker is paused, and
// returns ctx's error if ctx ends first (then no unit is started).
// Every Begin that returns nil needs an End.
func (t *Tracker) Begin(ctx context.Context) error {
	if t == nil {
		return ctx.Err()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !t.paused.Load() {
			t.busy.Add(1)
			if !t.paused.Load() {
				return nil
			}
			// Paused meanwhile: this unit waits too.
			t.busy.Add(-1)
		}
		t.mu.Lock()
		ch := t.resume
		t.mu.Unlock()
		if ch == nil {
			continue // resumed meanwhile
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// End ends a unit of work that Begin started.
func (t *Tracker) End() {
	if t == nil {
		return
	}
	t.busy.Add(-1)
}

// Snapshot samples the tracker. It is safe to call from any goroutine; the
// rate is an exponentially smoothed average between calls.
func (t *Tracker) Snapshot() Snapshot {
	if t == nil {
		return Snapshot{}
	}
	var s Snapshot
	if t.paused.Load() {
		// busy is read before done: units add to done before they end,
		// and none starts while paused, so done is final when held.
		s.Paused = true
		s.Held = t.busy.Load() == 0
	}
	s.Done, s.Total = t.done.Load(), t.total.Load()
	if p := t.stage.Load(); p != nil {
		s.Stage = *p
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started.IsZero() {
		s.Elapsed = now.Sub(t.started)
	}
	if dt := now.Sub(t.lastT).Seconds(); dt >= 0.2 && !t.lastT.IsZero() {
		inst := float64(s.Done-t.lastDone) / dt
		if t.rate == 0 {
			t.rate = inst
		} else {
			t.rate = 0.7*t.rate + 0.3*inst
		}
		t.lastT, t.lastDone = now, s.Done
	}
	s.Rate = t.rate
	return s
}

// Remaining estimates the time left at the current rate; zero when unknown.
func (s Snapshot) Remaining() time.Duration {
	if s.Rate <= 0 || s.Total <= s.Done {
		return 0
	}
	return time.Duration(float64(s.Total-s.Done) / s.Rate * float64(time.Second))
}
