// Package progress carries the progress of a long operation from pkg/ to
// whatever shows it.
//
// An operation updates a Tracker with atomic counters (bytes done, bytes in
// total, the current stage); the CLI and the text UI sample it on their own
// ticker with Snapshot. Nothing here allocates on the hot path or prints.
// A nil *Tracker is valid and ignores every update, so operations never
// need to check for one.
//
// A Tracker is also a pause gate: an operation wraps each unit of work
// (an extent read or written, a step run by a tool) in Begin and End, and
// Begin waits while the tracker is paused (Pause, Resume), or returns the
// context's error when it ends. Units under way finish; Snapshot.Held says
// when none is left, so that whoever paused knows nothing more is read or
// written. This is how the text UI holds a job while it asks whether to
// cancel it.
package progress
