// Package engine holds Lifeboat's long operations on whole disks: Capture
// a disk into a repository, Restore an image onto a disk, Verify an image's
// chunks, and VerifyTarget a restored disk against its image.
//
// Capture first reads the partition table and, for each partition, the
// file system's allocation map (package fsmap; PlanCapture does this
// ahead, so callers can show its warnings before the capture starts); the disk's used ranges are
// everything outside mapped file systems plus what their maps mark used. A
// partition that is not clean, whose map fails its checks, or that has no
// map reader is used whole, with a warning in the manifest unless that is
// expected (encrypted, LVM, no file system). CaptureOptions.AllSectors
// skips the maps.
//
// It then reads the disk in extents (4 MiB by default) in one reader
// goroutine: an extent with nothing used is not read at all; one partly
// used is read in its used runs (gaps under 256 KiB read through) with
// zeros elsewhere, and keeps its run list in the manifest. It hands them
// to one worker per CPU, which drops all-zero
// extents as holes, hashes the rest (SHA-256), and compresses and stores
// the chunks the repository does not have yet. Only after every chunk is
// stored and the repository synced is the manifest written, so a cancelled
// or failed capture leaves no image behind (chunks it stored are reused by
// the next capture). From before its first chunk look-up until its
// manifest is written, Capture holds the repository's shared lock
// (repo.Repo.LockShared), so a delete or prune, which needs it
// exclusively, never removes chunks it stores or counts on finding; a
// capture whose lock file was removed meanwhile writes no manifest. Memory is bounded by the buffers made before the
// pipeline starts: 2×workers extents in flight, and per worker one
// compression buffer of about one extent plus the zstd encoder's state
// (about 1-4 MiB per worker at the default level); with 4 MiB extents and 2
// workers, about 40 MiB in all.
//
// Restore follows a plan (package layout; PlanRestore makes one, keep on
// a large enough disk): segments say which image bytes go where on the
// target, so partitions can move; ranges to zero are cleared first.
// Workers fetch, decompress and hash-check each chunk and write its
// mapped parts; a chunk that fails its check is never written and stops
// the restore with an error naming the chunk and the disk offset. Holes
// are zeroed (BLKZEROOUT or hole punching) unless the target is known to
// read as zeros; in a partly used extent the used runs are written and the
// gaps zeroed the same way (written as zeros when under 64 KiB).
// RestoreOptions.SkipHoles leaves all unused space as the target had it.
// Before any data, the target's old partition table is cleared: the first
// and last MiB of the disk (MBR entries and signature, both GPT headers
// at either sector size, a whole-disk file system's boot sector or
// superblock, RAID superblocks, ZFS labels), synced.
// While the data is written, whatever lands in those spans (the image's
// backup GPT header, in its last extent) is held in memory; after the
// data they are written, then the first extent, which holds the partition
// table, and the plan's patches (the new or relocated partition table,
// boot-sector fields), from the disk's end to its start. So an
// interrupted restore leaves a disk with no table at all: never the old
// table in front of new data, nor a table that looks whole. The summary
// says how far a restore got (Done, Cleared, DataDone, TableWritten), for
// the caller to say what a stopped one left. VerifyTarget reads the target
// back through the same plan.
//
// Every long loop here is paused by its progress.Tracker: each extent
// read or written is a unit of the tracker's pause gate (Begin, End), so
// a paused operation reads and writes nothing more until resumed or
// cancelled. A cancelled operation's error wraps the context's and says
// what was left ("capture NAME cancelled: no image was written...").
//
// After the data: GrowFileSystems grows what the plan enlarged with the
// file systems' own tools (package fsresize), and ApplyIdentity sets the
// new UUIDs that need a tool and rewrites references to the old
// identifiers in configuration files, each on a loop device over its
// partition.
//
// A clone copies a disk onto another with nothing stored in between: a
// DiskImage is the source disk seen as an image (NewDiskImage makes the
// manifest a capture would, from PlanCapture's used ranges, without
// reading the data), and Restore, VerifyTarget and PlanRestore take any
// Image, so the clone follows the same plan and writing as a restore.
// DiskImage.Extent reads an extent's used runs from the source when the
// restore's worker asks for it, so reading and writing overlap across the
// workers, each with its one extent buffer (no compression buffers). With
// DiskImageOptions.Hash it records each extent's SHA-256 as it is read,
// which VerifyTarget compares the target with; an extent read again for
// the comparison that no longer matches its hash is reported as the source
// having changed.
//
// Progress goes to a progress.Tracker; nothing here prints.
package engine
