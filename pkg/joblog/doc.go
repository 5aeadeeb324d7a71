// Package joblog writes the log of one Lifeboat job (a capture, a restore,
// a verification) as a text file a technician can read later: what was
// done, to which disk by path, model, serial, WWN and size, with which
// image and repository, the options, the plan, warnings and errors, how
// long each stage took at what throughput, and the result. Its last line
// is "summary: " and the same facts as one JSON object (Summary), for
// tools; ReadSummary reads it back.
//
// # Where a log goes
//
// Create takes the directories to try in order: a repository's logs
// directory (Dir, "logs" under it; docs/FORMAT.md lists it as an optional
// part of the layout that readers of images ignore), then places for when
// the repository cannot be written. Each is made when missing; one that
// cannot take a new file (a read-only file system, no permission, no
// space) is passed over, and why the first was is kept in Log.NotIn for
// the user to see. The file is named after the job's start in UTC, the
// operation and the image ("20261207T101500Z-restore-laptop.log", a
// number added when taken), and created with O_EXCL: a log is never
// written over.
//
// # Writing
//
// Every line is written to the file as it happens, each starting with the
// local time to the millisecond, so a job that crashes or a machine that
// loses power leaves the beginning of its log. Follow samples the job's
// progress.Tracker four times a second and writes each stage as it is
// first seen, and its time, bytes and throughput when the next one comes:
// the times are as close as a sample, and bytes counted before a stage was
// first seen are never put down to it. Finish writes the result ("ok",
// "FAILED" or "CANCELLED" with the error), the summary, syncs the file and
// closes it.
//
// A nil *Log ignores every call, so a job whose log could not be made runs
// without one. A write error stops the writing and is returned by Finish;
// it never fails the job.
package joblog
