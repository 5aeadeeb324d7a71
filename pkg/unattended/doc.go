// Package unattended runs Lifeboat's jobs without a person at the keyboard,
// as the kernel command line of the rescue environment says: for scripted
// recovery, and for deploying one image to many machines from a USB stick
// or the network.
//
// # Parameters
//
// Parse reads these from the kernel command line (values may be quoted):
//
//	lifeboat.job=JOB[,JOB...]   capture, verify, restore, in the order given
//	lifeboat.repo=WHERE         LABEL=name, UUID=uuid (of a file system), a
//	                            device path (/dev/sdb1), or a directory
//	lifeboat.repodir=DIR        the repository's directory inside that file
//	                            system (default: the one found there)
//	lifeboat.image=NAME         the image to capture, verify or restore
//	lifeboat.source=DISK        the disk to capture
//	lifeboat.target=DISK        the disk to restore onto
//	lifeboat.layout=LAYOUT      keep, grow, scale or fit (default: the first
//	                            that works, keep on a large enough disk)
//	lifeboat.identity=new       new disk, partition and file-system
//	                            identifiers on the target (keep: the default)
//	lifeboat.after=ACTION       poweroff, reboot or shell (the text UI; the
//	                            default)
//
// DISK is serial:SERIAL, wwn:WWN or a device path (/dev/nvme0n1). Naming
// the target disk on the command line is the confirmation a restore needs;
// the safety rules of the interactive restore still apply (never the disk
// Lifeboat booted from, the disk holding the repository, or a mounted one).
// A restore gives the firmware of the machine it runs on UEFI boot
// entries for the restored disk (ops.RestoreRequest.BootEntries).
// An unknown lifeboat.* parameter is an error, so that a misspelt
// lifeboat.traget does not quietly turn a restore into nothing.
//
// # Running
//
// Run resolves the disks by serial or WWN in the inventory, finds the
// repository's file system by label or UUID, mounts it with repofind
// (read-write, so that a capture and the job logs can be written; a
// restore or a verification goes on with it read-only when it cannot be
// made writable), and runs the jobs with pkg/ops, reporting each step
// through Config.Logf and the bytes through a progress.Tracker. Each job
// keeps a log (pkg/joblog) in the repository's logs directory, or in the
// first of Config.LogDirs that takes it, and says where. Run stops at the
// first failure, with an error that says which job and what went wrong.
package unattended
