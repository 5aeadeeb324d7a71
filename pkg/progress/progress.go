package progress

import (
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
}

// Snapshot is one sample of a Tracker.
type Snapshot struct {
	Stage   string
	Done    int64
	Total   int64
	Elapsed time.Duration
	// Rate is in bytes per second, smoothed over recent samples.
	Rate float64
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

// Snapshot samples the tracker. It is safe to call from any goroutine; the
// rate is an exponentially smoothed average between calls.
func (t *Tracker) Snapshot() Snapshot {
	if t == nil {
		return Snapshot{}
	}
	s := Snapshot{Done: t.done.Load(), Total: t.total.Load()}
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
