// Package claim lets the jobs of the rescue environment (a capture,
// restore or clone, from the text UI on any console or from the command
// line) keep the repository finder away from the disks they work on.
//
// The finder (package repofind) looks at every disk every few seconds: it
// mounts each file system for a moment and sets the device read-only while
// it does. A job that checks its disk at that moment would find it mounted
// and refuse; a job that writes to a partition, or to the loop and
// device-mapper devices it makes to shrink a file system, would have its
// writes refused by the read-only flag.
//
// A Registry is a directory (DefaultDir in the rescue environment) shared
// by every process. Before it checks its disks a job Takes a claim naming
// them: Take waits until no look is under way (the scan lock, which the
// finder holds for each look, see Registry.Lock), then writes a claim file
// and keeps an exclusive flock(2) on it for as long as the job holds the
// claim. Live returns the claims whose files are still locked; a claim
// whose process died is unlocked by the kernel, and Live removes its file.
// While any claim is live the finder passes over the claimed disks, their
// partitions, and every loop, device-mapper and network block device.
//
// Take never fails for want of rights to the directory when the caller is
// not root: such a process cannot share the disks with a finder, which
// must be root to mount, and it gets a claim that holds nothing.
package claim
