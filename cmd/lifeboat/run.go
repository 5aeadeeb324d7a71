package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/lifeboat-dev/lifeboat/pkg/boot"
	"github.com/lifeboat-dev/lifeboat/pkg/claim"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/safety"
	"github.com/lifeboat-dev/lifeboat/pkg/unattended"
)

// version is set at build time by go build -X; inside the rescue
// environment's initramfs, where -X does not reach a command of u-root's
// busybox, it is read from /etc/lifeboat-version.
var version = "dev"

func init() {
	if version != "dev" {
		return
	}
	if b, err := os.ReadFile("/etc/lifeboat-version"); err == nil {
		if v := strings.TrimSpace(string(b)); v != "" && len(v) < 64 {
			version = v
		}
	}
}

// Exit codes, documented in `lifeboat help`.
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitDamaged   = 3
	exitRefused   = 4
	exitTooSmall  = 5
	exitCancelled = 130
)

const usage = `lifeboat: capture disks into images, restore them, verify them.

Usage:
  lifeboat disks   [--json]
  lifeboat capture --repo DIR --name NAME [options] SOURCE
  lifeboat restore --repo DIR --name NAME [--yes] [options] TARGET
  lifeboat clone   [--yes] [options] SOURCE TARGET
  lifeboat verify  --repo DIR --name NAME [--target DISK] [--json]
  lifeboat images  --repo DIR [--sort name|date|size] [--filter TEXT] [--json]
  lifeboat delete  --repo DIR --name NAME [--yes] [--dry-run] [--json]
  lifeboat prune   --repo DIR [--dry-run] [--json]
  lifeboat note    --repo DIR --name NAME [TEXT | --clear] [--json]
  lifeboat mount   --repo DIR --name NAME [--background] MOUNTDIR
  lifeboat umount  MOUNTDIR
  lifeboat files   ls --repo DIR --name NAME [--part N] [PATH]
  lifeboat files   cp --repo DIR --name NAME [--part N] [-r] PATH... DEST
  lifeboat tui     [--repo DIR]... [--disk FILE]...
  lifeboat version [--json]
  lifeboat help [COMMAND]

SOURCE and TARGET are block devices (/dev/sdb, /dev/nvme0n1, a
/dev/disk/by-id/ link) or regular files holding disk images. A TARGET file
that does not exist is created with the image's disk size.

--repo defaults to $LIFEBOAT_REPO. A repository is a directory; capture
creates it when it does not exist.

Exit codes:
  0    success
  1    failed (an I/O error, a full destination, a missing device...)
  2    wrong usage
  3    the image is damaged or incomplete, or a restored disk differs from it
       (a cloned one from what was read)
  4    refused: the disk is in use, is the boot disk, holds the repository,
       is the source of a clone, or the confirmation was not given
  5    the target cannot hold the image (too small, other sector size)
  130  interrupted (Ctrl-C); a capture leaves no image, a restore leaves the
       target partly written with no partition table (it says how far)
`

var commandHelp = map[string]string{
	"disks": `lifeboat disks [--json]

Lists the machine's disks: name, size, model, serial, transport, partition
table, partitions, and what makes a disk unsafe to write (the boot disk,
mounted, swap, held by LVM or RAID).`,
	"capture": `lifeboat capture --repo DIR --name NAME [options] SOURCE

Reads SOURCE into a new image NAME in the repository DIR. Of each partition
holding ext2/3/4, FAT12/16/32, exFAT, NTFS or swap, only what the file
system uses is read (its allocation map says which blocks); everything
else (other partitions, boot code, gaps between partitions) is read whole.
A file system that was not shut down cleanly (an ext4 journal to recover, a
dirty or hibernated NTFS) is read whole too, with a warning. Extents with
nothing used, or all zeros, are stored as holes; every other extent is
hashed and compressed, and stored only if the repository does not hold it.

Options:
  --repo DIR          repository (default $LIFEBOAT_REPO); created if missing
  --name NAME         image name: letters, digits, '.', '_', '+', '-'
  --log-dir DIR       where the job's log goes (default: DIR/logs, or when the
                      repository cannot be written, lifeboat-logs in $TMPDIR)
  --level LEVEL       compression: fastest, fast, better, best (default "better")
  --extent-size SIZE  extent size, a power of two from 64K to 64M (default 4M)
  --workers N         compression workers (default: one per CPU)
  --sector-size N     logical sector size of a SOURCE file (default 512)
  --allow-mounted     capture a mounted disk anyway (the image may be inconsistent)
  --all-sectors       read and store every sector, used by a file system or not
                      (a forensic copy; deleted files stay recoverable)
  --note TEXT         a description kept with the image (lifeboat note
                      changes it later)
  --json              print the result as JSON
  --quiet             no progress`,
	"restore": `lifeboat restore --repo DIR --name NAME [--yes] [options] TARGET

Writes image NAME onto TARGET. Without --yes, shows the plan and what will
be destroyed, and asks you to type the target's name. Every chunk is
checked before it is written; a damaged chunk stops the restore and is
named.

The partitions are laid out on the target by the first of these layouts
that works, or the one --layout names:
  keep    every partition where it was (the target may be larger, or
          smaller when the partitions end before the target does)
  grow    the last partition (or the one --grow N names) grows to fill the
          target, and its file system grows to match; partitions after a
          chosen one move to the end of the disk
  scale   every partition moves and grows in proportion (aligned to 1 MiB),
          and their file systems grow
  fit     onto a smaller disk: partitions packed from the first one's start,
          and those too large shrunk, each giving up the same share of its
          free space; a target too small even then is refused with the
          shortfall
Grow, scale and fit write a new partition table (numbers, type GUIDs,
GUIDs, names and attributes kept). File systems grow with resize2fs
(ext2/3/4), ntfsresize (NTFS), xfs_growfs and btrfs filesystem resize
(mounted; btrfs only when no other disk holds its UUID); swap gets a new
header; FAT and exFAT grow while they are restored. They shrink with resize2fs and ntfsresize (on a
device-mapper device joining the partition and a scratch file that holds
what lies past its new end meanwhile), and FAT and exFAT by moving their
clusters; XFS and btrfs do not shrink.

Options:
  --repo DIR          repository (default $LIFEBOAT_REPO)
  --name NAME         image to restore
  --log-dir DIR       where the job's log goes (default: DIR/logs, or when the
                      repository cannot be written, lifeboat-logs in $TMPDIR)
  --plan              print the plan and write nothing
  --layout LAYOUT     keep, grow, scale or fit (default: the first that works)
  --grow N            the partition the grow layout enlarges (default: the last)
  --new-identity      give the target a new disk GUID (or MBR signature), new
                      partition GUIDs and new file-system UUIDs (ext2/3/4, FAT,
                      exFAT, NTFS, swap), and rewrite the references to them in
                      fstab, crypttab and GRUB and systemd-boot configuration;
                      for one image deployed to many machines (a restore keeps
                      identities by default, so the machine boots as before)
  --scratch DIR       where the fit layout keeps what lies past the new end of
                      file systems it shrinks, until they are shrunk (default
                      $TMPDIR or /tmp, else the repository when it is writable;
                      --plan says how much; not on the target)
  --boot-entry        give this machine's UEFI firmware a boot entry for the
                      restored disk, first in the boot order: the entries the
                      image's machine had (recorded at capture) whose loaders
                      are on the disk, else one for its best loader (shim,
                      systemd-boot, Windows Boot Manager, GRUB); the rescue
                      environment always does this
  --yes               do not ask for confirmation
  --verify            read the disk back afterwards and compare it with the image
  --skip-holes        leave the target's bytes where the image has nothing used
                      (holes, space file systems do not use) as they are;
                      by default that space is zeroed or discarded
  --workers N         workers (default: one per CPU)
  --sector-size N     logical sector size of a TARGET file (default: the image's)
  --json              print the result (or with --plan, the plan) as JSON
  --quiet             no progress`,
	"clone": `lifeboat clone [--yes] [options] SOURCE TARGET

Copies the disk SOURCE onto TARGET directly, with no repository in
between: SOURCE is read as capture reads it (only what file systems use,
the rest of TARGET zeroed), and written as restore writes an image, with
the same layouts, checks and steps after the data (file systems grown or
shrunk, new identities, the boot check). Reading and writing overlap. A
TARGET file that does not exist is created with SOURCE's size. Without
--yes, shows the plan and what will be destroyed, and asks you to type
the target's name. SOURCE is refused while mounted (unless
--allow-mounted); TARGET as for restore, and when it is SOURCE, a
partition of it, a loop device over it, or the disk SOURCE's file is on.

Options:
  --plan              print the plan and write nothing
  --layout LAYOUT     keep, grow, scale or fit (default: the first that works)
  --grow N            the partition the grow layout enlarges (default: the last)
  --new-identity      new disk, partition and file-system identifiers, the
                      references to them rewritten (as for restore)
  --verify            hash each extent as it is read, then read TARGET back
                      and compare it with what was read
  --all-sectors       copy every sector, used by a file system or not
  --allow-mounted     copy a mounted SOURCE anyway (the copy may be inconsistent)
  --scratch DIR       where the fit layout keeps the ends of file systems it
                      shrinks until they are shrunk (default $TMPDIR or /tmp)
  --boot-entry        give this machine's UEFI firmware a boot entry for TARGET
  --yes               do not ask for confirmation
  --workers N         extents read and written at once (default: one per CPU,
                      at least 4)
  --source-sector-size N  logical sector size of a SOURCE file (default 512)
  --sector-size N     logical sector size of a TARGET file (default: SOURCE's)
  --json              print the result (or with --plan, the layout) as JSON
  --quiet             no progress`,
	"verify": `lifeboat verify --repo DIR --name NAME [--target DISK] [--json]

Checks that every chunk of image NAME is present and matches its hash. With
--target, also reads DISK back and compares it with the image. A log of
the check goes to DIR/logs (--log-dir DIR2 for another directory;
lifeboat-logs in $TMPDIR when the repository cannot be written).`,
	"images": `lifeboat images --repo DIR [--sort name|date|size] [--filter TEXT] [--json]

Lists the images in a repository: name, capture date, disk size, data,
ON DISK (the stored size of the image's distinct chunks), UNIQUE (the
stored size of the chunks no other image uses: what deleting it
reclaims), partition table, source disk and note. Every manifest is read
once.

Options:
  --repo DIR       repository (default $LIFEBOAT_REPO)
  --sort KEY       date (newest first, the default), name, or size (largest
                   on disk first)
  --filter TEXT    only images whose name, note, or source model, vendor,
                   serial, WWN or path contain TEXT (any case)
  --json           JSON: each manifest's metadata with id, note,
                   size_on_disk, chunks, unique_size and unique_chunks`,
	"delete": `lifeboat delete --repo DIR --name NAME [--yes] [--dry-run] [--json]

Deletes image NAME and reclaims the chunks no other image uses (and any
other chunks no image uses, left by earlier deletes or interrupted
captures). Shows the image and what deleting it reclaims, and asks you to
type its name unless --yes. Refused while a capture into the repository
runs (on this machine or another sharing it): the message names the
capture, its host, process and start time.

Options:
  --repo DIR              repository (default $LIFEBOAT_REPO)
  --name NAME             the image to delete
  --yes                   do not ask for confirmation
  --dry-run               say what would be reclaimed, delete nothing
  --remove-stale-locks    first remove the locks of operations whose process
                          is gone (same machine) or that were not refreshed
                          for 30 minutes
  --json                  print the result as JSON`,
	"prune": `lifeboat prune --repo DIR [--dry-run] [--json]

Removes the chunks no image uses (left by deleted images and interrupted
captures), temporary files of interrupted writes and notes of deleted
images. Chunks written after the prune began are kept. Refused while a
capture into the repository runs; an image that cannot be read stops it
(the chunks it needs are unknown): delete that image first.

Options:
  --repo DIR              repository (default $LIFEBOAT_REPO)
  --dry-run               say what would be removed, remove nothing
  --remove-stale-locks    first remove the locks of operations whose process
                          is gone (same machine) or that were not refreshed
                          for 30 minutes
  --json                  print the result as JSON`,
	"note": `lifeboat note --repo DIR --name NAME [TEXT | --clear] [--json]

Sets the note of image NAME to TEXT (replacing the note given at capture),
removes it with --clear, or prints it. A note is at most 4096 bytes of
UTF-8 text; newlines and tabs are its only control characters. With
--json, prints {"image", "note", "changed"}.`,
	"mount": `lifeboat mount --repo DIR --name NAME [--background] [options] MOUNTDIR

Mounts image NAME read-only at MOUNTDIR (made when missing; it must be
empty), without restoring it: MOUNTDIR/disk.img is the whole disk
(readable by root only), and each partition's file system is in a folder
named by number, label and type (1-System-ntfs). ext2/3/4, FAT, exFAT,
NTFS, XFS and btrfs are browsable, unclean ones too (nothing is replayed
or written), images of used blocks only as well as of every sector. Only
the pieces read are decoded: opening takes a moment whatever the image's
size. A damaged or missing chunk makes the files over it fail with an I/O
error (logged with the chunk and offset), and nothing else. Runs until
Ctrl-C, or until lifeboat umount MOUNTDIR; with --background it mounts,
prints what is where, and goes on in a process of its own. Needs root and
FUSE; deletes and prunes of the repository wait while it is mounted.

Options:
  --background   serve the mount from a background process
  --cache SIZE   memory for decoded pieces of the image (default 256M)
  --json         print {"dir", "image", "pid", "partitions"} as JSON`,
	"umount": `lifeboat umount MOUNTDIR

Unmounts an image mounted with lifeboat mount: asks its process to
unmount, and removes what is left of a mount whose process is gone (was
killed): the mounts, the loop devices, the process's note. Files still in
use are detached from MOUNTDIR and let go when their programs close them.`,
	"files": `lifeboat files ls --repo DIR --name NAME [--part N] [--json] [PATH]
lifeboat files cp --repo DIR --name NAME [--part N] [-r] [--json] PATH... DEST

Lists or copies files of an image's file systems without restoring it.
ls without --part lists the partitions; with it, the folder PATH ("/" by
default) or the file PATH, as mode, size, date and name. cp copies PATH
(with -r, folders with everything in them) into the folder DEST, or as
DEST when there is one PATH and DEST does not exist, keeping permissions,
times, links and (as root) owners; it checks first that DEST has room and
that nothing is in the way (nothing is overwritten). A file that cannot
be read (a damaged chunk under it) is left out and listed as NOT COPIED;
the rest is copied, and the exit code is 1. --part may be left out when
the image has one partition. As root with FUSE every file system that
lifeboat mount shows is readable; otherwise FAT and exFAT ones only.`,
	"version": `lifeboat version [--json]

Prints Lifeboat's version (with --json, as "version").`,
	"tui": `lifeboat tui [--repo DIR]... [--disk FILE]... [options]

The text UI: disks, repositories and images, capture and restore wizards,
verify, the log and a shell. Works on an 80x24 console with the keyboard;
the bottom line shows the keys.

Options:
  --repo DIR       a repository to list (repeatable; default $LIFEBOAT_REPO)
  --disk FILE      a disk image file to show and use as a disk (repeatable)
  --find=false     do not look for repositories on the attached disks (as
                   root, file systems are mounted read-only to look)
  --mount-root DIR where found file systems are mounted (default /run/lifeboat/mnt)
  --no-color       no colours (also when $NO_COLOR is set)
  --boot           run as the rescue environment's console (kernel messages
                   in the log, reboot and power off)`,
}

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	e := &env{stdin, stdout, stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("no command given")
	}
	cmd, rest := args[0], args[1:]
	defer func() {
		if errors.Is(err, errHelpShown) {
			err = helpFor(stdout, cmd)
		}
		withUsage(err, cmd)
	}()
	switch cmd {
	case "disks":
		return e.disks(ctx, rest)
	case "capture":
		return e.capture(ctx, rest)
	case "restore":
		return e.restore(ctx, rest)
	case "clone":
		return e.clone(ctx, rest)
	case "verify":
		return e.verify(ctx, rest)
	case "images":
		return e.images(ctx, rest)
	case "delete":
		return e.deleteImage(ctx, rest)
	case "prune":
		return e.prune(ctx, rest)
	case "note":
		return e.note(ctx, rest)
	case "mount":
		return e.mount(ctx, rest)
	case "umount", "unmount":
		return e.umount(ctx, rest)
	case "files":
		return e.files(ctx, rest)
	case "tui":
		return e.tui(ctx, rest)
	case "boot":
		return e.boot(ctx, rest)
	case "version", "--version":
		return e.version(rest)
	case "help", "-h", "--help":
		if len(rest) > 0 {
			return helpFor(stdout, rest[0])
		}
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError(fmt.Sprintf("unknown command %q", cmd))
	}
}

// usageErr is a wrong use of the command line; usage is the command's
// usage line, which report prints after the error.
type usageErr struct{ msg, usage string }

func (u *usageErr) Error() string { return u.msg }

func usageError(msg string) error { return &usageErr{msg: msg} }

// errNotConfirmed is returned when the user does not type the confirmation.
var errNotConfirmed = fmt.Errorf("%w: not confirmed", safety.ErrRefused)

func exitCode(err error) int {
	var ue *usageErr
	var tse *engine.TooSmallError
	var le *repo.LockedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitCancelled
	case errors.Is(err, safety.ErrRefused), errors.Is(err, disk.ErrBusy), errors.As(err, &le):
		return exitRefused
	case errors.As(err, &tse), errors.Is(err, engine.ErrSectorSize):
		return exitTooSmall
	case errors.Is(err, engine.ErrVerifyFailed), repo.IsContentError(err):
		return exitDamaged
	default:
		return exitFailed
	}
}

// parse parses flags that may come before or after the positional
// arguments, and returns the positional ones.
// A wrong flag is a usage error saying what is wrong (flagError); -h is
// errHelpShown. Nothing is printed: stderr is no longer used.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard) // the error is reported once, with the usage line (report)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("lifeboat "+name, flag.ContinueOnError)
	fs.Usage = func() {} // -h: run prints the help to stdout (errHelpShown)
	return fs
}

func (e *env) opsEnv() ops.Env {
	// Jobs claim their disks so that a repository finder (the text UI's,
	// on another console) stays off them.
	return ops.Env{Tool: "lifeboat " + version, Inventory: mediaSource(), Claims: &claim.Registry{}}
}

// rescueEnv is opsEnv, for the rescue environment when rescue is set.
func (e *env) rescueEnv(rescue bool) ops.Env {
	env := e.opsEnv()
	env.Rescue = rescue
	return env
}

// mediaSource is the inventory source, with the medium Lifeboat booted
// from marked as a boot disk when the boot menu named it on the kernel
// command line (lifeboat.media: the stick's GPT disk GUID, the ISO's MBR
// signature), so that nothing is ever restored onto it by mistake. It is
// looked for at each scan: its driver may load after the UI starts.
var mediaSource = sync.OnceValue(func() inventory.Source {
	src := inventory.DefaultSource()
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return src
	}
	id := unattended.Params(string(b))[unattended.Prefix+"media"]
	if id == "" {
		return src
	}
	src.BootMedia = func(disks []string) []string { return boot.MediaDisks(src.DevRoot, disks, id) }
	return src
})

func repoFlag(fs *flag.FlagSet) *string {
	return fs.String("repo", os.Getenv("LIFEBOAT_REPO"), "repository directory")
}

func needRepoName(repoDir, name string, needName bool) error {
	if repoDir == "" {
		return usageError("no repository: give --repo DIR or set LIFEBOAT_REPO")
	}
	if needName {
		if name == "" {
			return usageError("no image name: give --name NAME")
		}
		if err := image.ValidName(name); err != nil {
			return usageError(err.Error())
		}
	}
	return nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}} {
		if strings.HasSuffix(s, u.suf) {
			mult, s = u.m, strings.TrimSuffix(s, u.suf)
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional K or M suffix", s)
	}
	return n * mult, nil
}
