package repo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	locksDir = "locks"
	lockExt  = ".json"
	maxLock  = 64 << 10
)

// Lock timing (docs/FORMAT.md, "Locks"): a holder touches its lock file
// every LockRefresh; a lock not touched for LockStale is stale.
const (
	LockRefresh = 5 * time.Minute
	LockStale   = 30 * time.Minute
)

// Operations named in lock files.
const (
	OpCapture = "capture"
	OpRestore = "restore"
	OpVerify  = "verify"
	OpBrowse  = "browse" // an image mounted, or files copied out of it
	OpDelete  = "delete"
	OpPrune   = "prune"
)

// LockInfo is the content of a lock file, locks/<id>.json, and what is
// known about it from the file system.
type LockInfo struct {
	Operation string `json:"operation"`
	// Exclusive locks (delete, prune) exclude every other lock; shared
	// ones (capture) exclude only exclusive ones.
	Exclusive bool      `json:"exclusive"`
	Image     string    `json:"image,omitempty"`
	Host      string    `json:"host"`
	BootID    string    `json:"boot_id,omitempty"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`

	// ID is the lock file's name without .json.
	ID string `json:"-"`
	// Refreshed is the lock file's modification time.
	Refreshed time.Time `json:"-"`
	// Stale says why the lock's holder is taken to be gone ("" when it is
	// not): its process is not running on this machine, or it has not
	// refreshed the lock for LockStale.
	Stale string `json:"-"`
	// Err is set when the lock file cannot be read or parsed.
	Err error `json:"-"`
}

// String describes the lock for people.
func (l LockInfo) String() string {
	if l.Err != nil {
		return fmt.Sprintf("lock %s (unreadable: %v)", l.ID, l.Err)
	}
	what := l.Operation
	if l.Image != "" {
		what += " of image " + l.Image
	}
	s := fmt.Sprintf("%s by %s pid %d, started %s", what, l.Host, l.PID, l.Started.Local().Format("2006-01-02 15:04:05"))
	if l.Stale != "" {
		s += " (stale: " + l.Stale + ")"
	}
	return s
}

// LockedError says that the repository is in use by other operations.
type LockedError struct {
	Dir string
	// Op is the operation that was refused.
	Op      string
	Holders []LockInfo
	// Local is set when another process on this machine holds the
	// repository's flock but has no lock file yet (or its file system
	// shows none).
	Local bool
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused: repository %s is in use", e.Op, e.Dir)
	if len(e.Holders) == 0 && e.Local {
		b.WriteString(" by another Lifeboat process on this machine")
	}
	for i, h := range e.Holders {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(h.String())
	}
	return b.String()
}

// AllStale reports whether every holder is stale (and there is at least
// one): removing stale locks would let the operation go ahead.
func (e *LockedError) AllStale() bool {
	if e.Local || len(e.Holders) == 0 {
		return false
	}
	for _, h := range e.Holders {
		if h.Stale == "" {
			return false
		}
	}
	return true
}

// ErrLockLost means an operation's lock file disappeared while it ran
// (someone removed it as stale): what it wrote may have been pruned.
var ErrLockLost = errors.New("the operation's repository lock was removed while it ran")

// Lock is a held repository lock: a lock file refreshed in the background,
// and a flock of lifeboat-repo.json where the file system has flock.
type Lock struct {
	r     *Repo
	path  string
	info  LockInfo
	flock *os.File
	// since is the lock file's modification time when it was made, by the
	// file system's clock: objects newer than it were written after the
	// lock was taken.
	since time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Since is the time the lock was taken, as the repository's file system
// stamped the lock file.
func (l *Lock) Since() time.Time { return l.since }

// Info is what the lock file says.
func (l *Lock) Info() LockInfo { return l.info }

// LockShared takes a shared lock for a capture of image: it is refused
// while a delete or prune holds the repository. Hold it from before the
// first chunk is looked up until the manifest is written.
func (r *Repo) LockShared(op, image string) (*Lock, error) {
	return r.lock(op, image, false)
}

// LockRead takes a shared lock for an operation that reads image (a
// restore, a verify), so that a delete or prune cannot remove its chunks
// while it runs. On a repository this process cannot write (a read-only
// mount, no permission), no lock file can be left: the lock is then the
// flock alone, which keeps this machine's deletes and prunes away, and
// nothing can be deleted through this mount anyway.
func (r *Repo) LockRead(op, image string) (*Lock, error) {
	if r.remote != nil {
		// Nothing can be locked on a web server, and nothing can be
		// deleted through it either.
		host, _ := os.Hostname()
		info := LockInfo{Operation: op, Image: image, Host: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)}
		l := &Lock{r: r, info: info, since: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
		close(l.done)
		return l, nil
	}
	l, err := r.lock(op, image, false)
	if err == nil || !errors.Is(err, errReadOnly) {
		return l, err
	}
	fl, local, ferr := r.flock(unix.LOCK_SH)
	if ferr != nil {
		return nil, ferr
	}
	if local {
		return nil, &LockedError{Dir: r.dir, Op: op, Local: true}
	}
	host, _ := os.Hostname()
	info := LockInfo{Operation: op, Image: image, Host: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)}
	l = &Lock{r: r, info: info, flock: fl, since: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	close(l.done)
	return l, nil
}

// errReadOnly marks a lock file that could not be written because the
// repository cannot be written by this process.
var errReadOnly = errors.New("repository not writable")

func readOnly(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// LockExclusive takes an exclusive lock for a delete or a prune: it is
// refused while any other lock exists, stale or not (RemoveStaleLocks
// removes stale ones).
func (r *Repo) LockExclusive(op string) (*Lock, error) {
	return r.lock(op, "", true)
}

func (r *Repo) lock(op, image string, exclusive bool) (_ *Lock, err error) {
	if r.remote != nil {
		return nil, r.readOnly(op)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	fl, local, err := r.flock(how)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && fl != nil {
			fl.Close()
		}
	}()
	if local {
		all, _ := r.Locks()
		return nil, &LockedError{Dir: r.dir, Op: op, Holders: conflicting(all, "", exclusive), Local: true}
	}
	dir := filepath.Join(r.dir, locksDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if readOnly(err) {
			err = fmt.Errorf("%w: %w", errReadOnly, err)
		}
		return nil, fmt.Errorf("%s: make %s: %w", op, dir, err)
	}
	host, _ := os.Hostname()
	info := LockInfo{Operation: op, Exclusive: exclusive, Image: image, Host: host, BootID: bootID(), PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)}
	var rnd [8]byte
	rand.Read(rnd[:])
	info.ID = hex.EncodeToString(rnd[:])
	b, _ := json.MarshalIndent(info, "", "  ")
	p := filepath.Join(dir, info.ID+lockExt)
	if err := writeFileAtomic(p, append(b, '\n'), true); err != nil {
		if readOnly(err) {
			err = fmt.Errorf("%w: %w", errReadOnly, err)
		}
		return nil, fmt.Errorf("%s: write lock %s: %w", op, p, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		os.Remove(p)
		return nil, fmt.Errorf("%s: lock %s: %w", op, p, err)
	}
	// Written first, then looked at: of two writers that lock at the same
	// time, at least one sees the other.
	all, err := r.Locks()
	if err != nil {
		os.Remove(p)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if holders := conflicting(all, info.ID, exclusive); len(holders) > 0 {
		os.Remove(p)
		return nil, &LockedError{Dir: r.dir, Op: op, Holders: holders}
	}
	l := &Lock{r: r, path: p, info: info, flock: fl, since: st.ModTime(), stop: make(chan struct{}), done: make(chan struct{})}
	go l.refresh()
	return l, nil
}

// conflicting is the locks of all, other than own, that keep a lock of
// the given kind from being taken.
func conflicting(all []LockInfo, own string, exclusive bool) []LockInfo {
	var out []LockInfo
	for _, h := range all {
		if h.ID != own && (exclusive || h.Exclusive || h.Err != nil) {
			out = append(out, h)
		}
	}
	return out
}

// flock takes a non-blocking flock on lifeboat-repo.json. local is set
// when another process (or another Lock of this one) holds a conflicting
// one. File systems without flock give (nil, false, nil): the lock files
// alone then keep writers apart.
func (r *Repo) flock(how int) (f *os.File, local bool, err error) {
	f, err = os.Open(filepath.Join(r.dir, configName))
	if err != nil {
		return nil, false, fmt.Errorf("lock repository %s: %w", r.dir, err)
	}
	err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
	switch {
	case err == nil:
		return f, false, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, true, nil
	case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL),
		errors.Is(err, unix.EBADF): // NFS emulates flock with byte-range locks, and an exclusive one needs a file open for writing
		f.Close()
		return nil, false, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("lock repository %s: %w", r.dir, err)
	}
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			now := time.Now()
			os.Chtimes(l.path, now, now)
		}
	}
}

// Check reports ErrLockLost when the lock file is gone: a writer checks
// before it writes a manifest.
func (l *Lock) Check() error {
	if l.path == "" {
		return nil // a flock alone (LockRead on a read-only repository)
	}
	if _, err := os.Stat(l.path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (%s)", ErrLockLost, l.path)
		}
		return fmt.Errorf("check lock %s: %w", l.path, err)
	}
	return nil
}

// Unlock removes the lock file and releases the flock. It may be called
// more than once.
func (l *Lock) Unlock() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		if l.path == "" {
			// a flock alone: nothing to remove
		} else if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("remove lock %s: %w", l.path, rerr)
		}
		if l.flock != nil {
			l.flock.Close()
		}
	})
	return err
}

// Locks lists the repository's lock files, oldest first, each marked
// stale or not. A lock file that cannot be read is listed with Err set
// (and is never stale unless it is old).
func (r *Repo) Locks() ([]LockInfo, error) {
	if r.remote != nil {
		return nil, nil
	}
	dir := filepath.Join(r.dir, locksDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list locks in %s: %w", r.dir, err)
	}
	now := time.Now()
	host, _ := os.Hostname()
	boot := bootID()
	var out []LockInfo
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, lockExt) {
			continue
		}
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile
			}
			out = append(out, LockInfo{ID: strings.TrimSuffix(n, lockExt), Err: err})
			continue
		}
		l, err := readLock(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		l.ID, l.Refreshed, l.Err = strings.TrimSuffix(n, lockExt), st.ModTime(), err
		l.Stale = staleness(l, now, host, boot)
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Refreshed.Before(out[j].Refreshed) })
	return out, nil
}

func readLock(p string) (LockInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return LockInfo{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLock+1))
	if err != nil {
		return LockInfo{}, err
	}
	return ParseLock(b)
}

// ParseLock parses a lock file's content.
func ParseLock(b []byte) (LockInfo, error) {
	var l LockInfo
	if len(b) > maxLock {
		return l, fmt.Errorf("lock file larger than %d bytes", maxLock)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return LockInfo{}, fmt.Errorf("lock file: %w", err)
	}
	if l.Operation == "" {
		return LockInfo{}, errors.New("lock file: no operation")
	}
	return l, nil
}

// staleness says why a lock's holder is gone, or "".
func staleness(l LockInfo, now time.Time, host, boot string) string {
	if age := now.Sub(l.Refreshed); age > LockStale {
		return fmt.Sprintf("not refreshed for %s", age.Round(time.Minute))
	}
	if l.Err != nil || l.PID <= 0 || l.Host != host {
		return ""
	}
	if l.BootID != "" && boot != "" && l.BootID != boot {
		// Another machine of the same name, or this one before a restart:
		// only its age can tell.
		return ""
	}
	if err := unix.Kill(l.PID, 0); errors.Is(err, unix.ESRCH) {
		return fmt.Sprintf("process %d is not running on this machine", l.PID)
	}
	return ""
}

// RemoveStaleLocks removes the lock files whose holders are gone and
// returns them.
func (r *Repo) RemoveStaleLocks() ([]LockInfo, error) {
	all, err := r.Locks()
	if err != nil {
		return nil, err
	}
	var removed []LockInfo
	for _, l := range all {
		if l.Stale == "" {
			continue
		}
		p := filepath.Join(r.dir, locksDir, l.ID+lockExt)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("remove stale lock %s: %w", p, err)
		}
		removed = append(removed, l)
	}
	return removed, nil
}

// bootID identifies this boot of this machine (Linux's random boot_id),
// so that a lock of another machine with the same host name ("localhost"
// in many rescue systems) is not taken for one of ours.
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})
