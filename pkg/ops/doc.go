// Package ops holds Lifeboat's user-level operations as the command line
// and the text UI run them: a capture or a restore is first prepared (the
// safety rules checked, the disks opened and locked, the target's current
// contents read, the plan made) and shown to the user, and only then run.
// Verify, ListImages (each manifest read once, with the image's note and
// its size on disk and unique size), DeleteImage, Prune and SetNote are
// single calls. Each job can keep a log (pkg/joblog) in the repository's
// logs directory: StartLog of a prepared capture or restore, or
// StartVerifyLog, writes what the job is about to do, and LogCaptured,
// LogRestored and LogVerified what it did.
//
// A prepared job holds its disks open until Close, so the disk that was
// checked is the disk that is written. With Env.Claims set it also claims
// them (package claim) before the checks, waiting up to two minutes for a
// look at the disks under way to end, and until Close: the repository
// finder then leaves them, and the loop and device-mapper devices a
// restore makes, alone. A restore that fails removes the
// target file it created; on an existing disk it returns a PartialError,
// made from what the engine reported (how far it got, whether the old
// table was cleared and the new one written, which step after the data
// was under way), whose message says what state the disk is in and what
// to do; on a block device the kernel is then told to re-read the table,
// so that it no longer lists the old partitions. The steps after the data
// (shrinking, growing, new identities) each wait while the tracker is
// paused. Nothing here prints or asks:
// the confirmation word (ConfirmWord: the target's serial, else its name)
// is the caller's to ask for.
//
// A clone (PrepareClone) is a restore whose image is the source disk
// itself (engine.DiskImage): the source gets a capture's checks and is
// read as a capture reads it, the target a restore's, and CloneJob runs
// the RestoreJob that writes it, with every step after the data.
//
// Describe and RestoreJob.CurrentParts say what each partition holds
// (ProbeParts): file system and label from fsprobe, and the space in use
// from fsmap.Used, which reads a superblock or a bounded allocation map,
// never the whole partition. The restore's target is read through the
// job's own handle, so what is shown is what will be overwritten.
package ops
