package claim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir is the registry every process of the rescue environment
// shares.
const DefaultDir = "/run/lifeboat/claims"

// maxClaimFile bounds what Live reads of one claim file.
const maxClaimFile = 64 << 10

// Registry is a directory of claims. The zero value uses DefaultDir.
type Registry struct {
	Dir string
}

// Device is a block device by its device number.
type Device struct {
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
}

func (d Device) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// Claim is a job's hold on its disks, as Live reports it.
type Claim struct {
	Job     string    `json:"job"`     // "restore to /dev/vdb"
	PID     int       `json:"pid"`     // of the process holding it
	Since   time.Time `json:"since"`   // when it was taken
	Devices []Device  `json:"devices"` // whole disks and partitions named, with the disks they are on
}

// Holds reports whether c names d.
func (c Claim) Holds(d Device) bool { return slices.Contains(c.Devices, d) }

// Held is a claim this process holds; Release gives it up.
type Held struct {
	f    *os.File // locked; nil for a claim that holds nothing
	path string
}

// Release removes the claim. It may be called more than once.
func (h *Held) Release() error {
	if h == nil || h.f == nil {
		return nil
	}
	err := os.Remove(h.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if cerr := h.f.Close(); err == nil {
		err = cerr // closing releases the lock
	}
	h.f = nil
	if err != nil {
		return fmt.Errorf("release claim %s: %w", h.path, err)
	}
	return nil
}

func (r Registry) dir() string {
	if r.Dir == "" {
		return DefaultDir
	}
	return r.Dir
}

// lockPath is the scan lock: held by the finder for each look, and for a
// moment by Take.
func (r Registry) lockPath() string { return filepath.Join(r.dir(), "scan.lock") }

// Lock takes the scan lock, waiting while another process or Finder has
// it, until ctx ends. The repository finder holds it while it looks at the
// disks; Take holds it while it writes a claim, so that a claim never
// starts in the middle of a look.
func (r Registry) Lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(r.dir(), 0o700); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	p := r.lockPath()
	lf, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	for {
		err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { lf.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			lf.Close()
			return nil, fmt.Errorf("claims: lock %s: %w", p, err)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("claims: waiting for the look at the disks to finish: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var seq atomic.Uint64

// Take claims devices (paths of block devices; regular files and missing
// paths are left out) for job, once no look at the disks is under way. A
// partition's claim names its disk too, and a disk's names its
// partitions, since a job on either touches both. The claim lasts until
// Release, or until the process ends.
func (r Registry) Take(ctx context.Context, job string, devices ...string) (*Held, error) {
	c := Claim{Job: job, PID: os.Getpid(), Since: time.Now().UTC()}
	for _, p := range devices {
		for _, d := range related(p) {
			if !c.Holds(d) {
				c.Devices = append(c.Devices, d)
			}
		}
	}
	unlock, err := r.Lock(ctx)
	if err != nil {
		if os.Geteuid() != 0 && errors.Is(err, fs.ErrPermission) {
			return &Held{}, nil
		}
		return nil, fmt.Errorf("claim the disks for the %s: %w", job, err)
	}
	defer unlock()
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d-%d.json", c.PID, seq.Add(1))
	tmp := filepath.Join(r.dir(), ".new-"+name)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("claim the disks for the %s: %w", job, err)
	}
	fail := func(err error) (*Held, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("claim the disks for the %s: %w", job, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(fmt.Errorf("lock %s: %w", tmp, err))
	}
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	path := filepath.Join(r.dir(), name)
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return &Held{f: f, path: path}, nil
}

// Live returns the claims held now, oldest first. It removes the files of
// claims whose process has ended. Call it under Lock to see the claims
// that cannot change until unlock.
func (r Registry) Live() ([]Claim, error) {
	ents, err := os.ReadDir(r.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	var out []Claim
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") {
			continue
		}
		c, live, err := r.read(filepath.Join(r.dir(), n))
		if err != nil {
			return out, err
		}
		if live {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b Claim) int { return a.Since.Compare(b.Since) })
	return out, nil
}

// read reads one claim file; live is false when no process holds it.
func (r Registry) read(path string) (c Claim, live bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil // released meanwhile
	}
	if err != nil {
		return c, false, fmt.Errorf("claims: %w", err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		// Nobody holds it: its process ended without releasing it.
		os.Remove(path)
		return c, false, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return c, false, fmt.Errorf("claims: lock %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxClaimFile))
	if err != nil {
		return c, false, fmt.Errorf("claims: read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		// A claim we cannot read still holds: its owner is alive. It
		// claims nothing by number, but every claim keeps the finder off
		// the devices jobs make.
		return Claim{Job: "job (claim " + filepath.Base(path) + " unreadable)"}, true, nil
	}
	return c, true, nil
}

// related returns the device number of path, if it is a block device, and
// those of its whole disk (for a partition) or of its partitions (for a
// disk), from /sys/dev/block.
func related(path string) []Device {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil
	}
	d := Device{unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))}
	out := []Device{d}
	sys := "/sys/dev/block/" + d.String()
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return out
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		if p, ok := devFile(filepath.Join(filepath.Dir(real), "dev")); ok {
			out = append(out, p)
		}
		return out
	}
	ents, _ := os.ReadDir(real)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(real, e.Name(), "partition")); err != nil {
			continue
		}
		if p, ok := devFile(filepath.Join(real, e.Name(), "dev")); ok {
			out = append(out, p)
		}
	}
	return out
}

// devFile parses a sysfs dev file ("259:3").
func devFile(path string) (Device, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Device{}, false
	}
	ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		return Device{}, false
	}
	a, err1 := strconv.ParseUint(ma, 10, 32)
	b2, err2 := strconv.ParseUint(mi, 10, 32)
	if err1 != nil || err2 != nil {
		return Device{}, false
	}
	return Device{uint32(a), uint32(b2)}, true
}
