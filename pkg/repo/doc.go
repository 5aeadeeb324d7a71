// Package repo is a Lifeboat image repository: a directory of write-once
// objects, chunks and manifests, laid out so that the same tree can be
// served unchanged by a plain HTTP server or an S3 bucket
// (docs/FORMAT.md, "Repository").
//
// Chunks are stored as chunks/<first 3 hex digits>/<64 hex digits>.zst, one
// zstd frame each, named by the SHA-256 of the uncompressed bytes; a chunk
// that is already present is never written again, which is all the
// deduplication there is to it. Manifests are images/<name>.lbi.
//
// Writes go to a temporary name in the same directory and are renamed into
// place, so a name never refers to a partial object. Chunks are not synced
// one by one: before a manifest is written, Sync flushes the whole file
// system (syncfs), and only then is the manifest written, synced and
// renamed, so a manifest never names a chunk that a crash could lose.
//
// An image's note set after its capture is images/<name>.note.json,
// replaced whole (notes.go).
//
// Delete removes a manifest and its note, then prunes: every chunk no
// manifest names and older than the prune's lock file is removed, with
// temporary files of interrupted writes. Captures and prunes keep apart
// through lock files, locks/<id>.json (operation, host, boot id, pid,
// start; refreshed every 5 minutes), and a flock of lifeboat-repo.json
// where the file system has one: a capture holds a shared lock from
// before its first chunk look-up until its manifest is written, a restore
// or verify one while it reads (LockRead: the flock alone when the
// repository cannot be written); a delete or prune holds an exclusive one. Each writes its lock file before it
// lists the others, so of two that start together at least one sees the
// other and gives up with a *LockedError naming it. Stale locks (holder's
// process gone on this machine, or not refreshed for 30 minutes) still
// block until RemoveStaleLocks removes them. A prune refuses to run when a
// manifest cannot be read. The rules are in docs/FORMAT.md ("Locks,
// deleting and pruning") for other writers.
//
// Reading a chunk checks its zstd frame header against the expected size
// before decompressing (so a damaged chunk cannot make us allocate without
// bound) and checks the SHA-256 of the result; the errors say which chunk and
// what is wrong (missing, unreadable, not zstd, wrong size, wrong hash).
// Opening a directory that does not exist says "no such directory"; a
// directory without lifeboat-repo.json is not a repository
// (ErrNotRepository); an image name that is not there (ErrNoImage) is
// answered with the names that are.
//
// A repository at an http:// or https:// URL (IsRemote) is read through
// package store: a web server serving the directory as it is. Its
// objects are read with retries (a server that restarts costs time, not
// the job), its images listed from the server's index pages; everything
// that writes (chunks, manifests, notes, locks, deletes, prunes) fails
// with ErrReadOnly, and LockRead takes no lock (nothing can be deleted
// through a web server).
package repo
