// Package boot holds what the rescue environment does between the kernel
// starting it and the technician seeing the text UI: keep kernel messages
// off the screen, load the modules for the hardware present (pkg/kmod),
// wait for the disks to settle, and run the UI on every console the kernel
// was given (the screen and the serial line), starting it again whenever
// it exits, so that the environment never ends in a kernel panic. Each
// run of the UI is a session of its own with its console as controlling
// terminal; one that exits at once is started again only after a pause,
// and ending Supervise's context ends the UI too.
//
// Every step that fails is logged and passed over: a rescue environment
// with a missing driver still has to come up and say so.
package boot
