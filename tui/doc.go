// Package tui is Lifeboat's text UI, on tview: the disks, the
// repositories and their images, the capture, restore and clone wizards, job
// progress, the log, a shell, and (in the rescue environment) reboot and
// power off. It works on an 80x24 console, keyboard only, with key hints
// always on the bottom line and colour optional.
//
// It is a thin shell over pkg/ops: every check and every byte written is
// the same as with the command line. Disk discovery, repository discovery
// and jobs run off the UI goroutine and report through
// Application.QueueUpdateDraw, so a slow disk never freezes the screen.
// Strings that come from disks (models, serials, labels, file names) are
// stripped of control characters and escaped before display.
//
// Every capture, restore and verification keeps a log (pkg/joblog) in its
// repository's logs directory, made writable for it when the finder
// mounted it read-only; else in a repository on the medium Lifeboat booted
// from, else in memory. The job's summary or error says where. The log
// screen shows Lifeboat's own lines; k switches to the kernel's messages,
// kept in a list of their own and limited (repeats counted, 20 a second),
// so that they never push Lifeboat's lines out. Scrolled back, the log
// stays put as lines come in, until End.
//
// The capture wizard offers, after the repositories, the file systems the
// finder reports as room for a new repository (repofind.Space), except
// those on the disk being captured; choosing one shows what will be made
// (a lifeboat directory at the file system's root, nothing else touched)
// and on Enter makes it (repofind.Finder.CreateRepo). The restore and
// verify lists never offer them.
//
// A restore shows exactly what it will destroy (the target's partitions
// and file systems) and what it will write, and runs only after the user
// types the target's serial number (or its name when it has none). The disk
// Lifeboat booted from and the disk holding the repository are not offered
// as targets. A clone shows and confirms the same way; the disk being
// copied is not offered as its target.
//
// Esc on a running job pauses it (progress.Tracker's pause gate: no more
// extents are read or written) while it asks whether to cancel, and shows
// where the job stopped once nothing is under way; no resumes it. A
// cancelled job's screen shows the operation's own message, which says
// what was left (no image; a target with no partition table, and how far
// the restore got).
//
// The images screen deletes an image only after its name is typed, showing
// first what deleting it reclaims (the chunks no other image uses); it
// edits an image's note and prunes the repository. Deletes and prunes
// are refused, with the capture named, while a capture writes into the
// same repository.
//
// o on an image opens it for browsing (ops.OpenImage, whose read lock
// keeps deletes and prunes away, and imagemount.Browse, a private
// read-only mount), off the UI goroutine: its partitions are listed, each
// with the reason when it cannot be read; Enter lists one's folders
// (each folder read off the UI goroutine), Space marks entries, c copies
// the marked ones (or the highlighted one) onto a chosen drive: a found
// repository's file system (made writable), a typed repository's folder's
// file system, or a file system without a repository (mounted read-write
// by repofind.Finder.MountSpace), into lifeboat-files/<image> <time>
// there, after a confirmation with the size and the free space, as a job
// (imagemount.Copy: no overwrite, room checked first, unreadable files
// left out and listed). Esc from the partitions unmounts and releases the
// image; an image still open when the UI stops is closed before the
// finder unmounts the drives.
package tui
