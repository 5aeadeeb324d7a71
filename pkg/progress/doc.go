// Package progress carries the progress of a long operation from pkg/ to
// whatever shows it.
//
// An operation updates a Tracker with atomic counters (bytes done, bytes in
// total, the current stage); the CLI and the text UI sample it on their own
// ticker with Snapshot. Nothing here blocks, allocates on the hot path, or
// prints. A nil *Tracker is valid and ignores every update, so operations
// never need to check for one.
package progress
