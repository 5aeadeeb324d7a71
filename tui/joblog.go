package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
)

// bootLogDir is where the rescue environment keeps a job's log when no
// repository can be written: in memory, until the machine restarts.
const bootLogDir = "/run/lifeboat/logs"

// loggedFunc is the work of a job that keeps a log.
type loggedFunc func(ctx context.Context, tr *progress.Tracker, lg *joblog.Log) (summary string, err error)

// logged makes a job's work keep a log: start opens it (given the
// directories to try) in the repository repoDir, or elsewhere when that
// cannot be written (jobLog); the log times the job's stages and ends with
// its result. Where it went is in Lifeboat's log and on the job's summary
// or error screen. A log that cannot be kept anywhere does not stop the
// job.
func (u *UI) logged(title, repoDir string, start func(dirs []string) (*joblog.Log, error), fn loggedFunc) jobFunc {
	return func(ctx context.Context, tr *progress.Tracker) (string, error) {
		lg, err := u.jobLog(repoDir, start)
		if err != nil {
			u.logf("%s: %v; the job runs without a log", title, err)
		}
		lg.Follow(tr)
		summary, jobErr := fn(ctx, tr, lg)
		if lg == nil {
			return summary, jobErr
		}
		where, err := lg.Finish(jobErr)
		note := "The job's log is in " + where + "."
		if err != nil {
			// A drive that filled up, or went away: the file has the
			// beginning of the log at most.
			u.logf("%s: the job's log %s is incomplete: %v", title, where, err)
			note = "The job's log could not be written whole to " + where + ": " + err.Error() + "."
		} else {
			u.logf("%s: log saved in %s", title, where)
		}
		if lg.NotIn != "" {
			note += " (Not in the repository: " + lg.NotIn + ".)"
		}
		if jobErr != nil {
			return summary, &loggedError{err: jobErr, note: note}
		}
		return summary + "\n" + clean(note), nil
	}
}

// loggedError is a job's error with where its log is.
type loggedError struct {
	err  error
	note string
}

func (e *loggedError) Error() string { return e.err.Error() + "\n\n" + e.note }
func (e *loggedError) Unwrap() error { return e.err }

// jobLog opens a job's log, off the UI goroutine: in the repository's
// logs directory (a repository the finder mounted read-only is made
// writable for it, as for a capture); when that fails, in a repository on
// the medium Lifeboat booted from (the stick's data partition); else in
// memory (bootLogDir) at boot, or the system's temporary directory.
func (u *UI) jobLog(repoDir string, start func(dirs []string) (*joblog.Log, error)) (*joblog.Log, error) {
	found, stick := u.logPlaces(repoDir)
	if found != nil {
		if err := u.makeWritable(found); err != nil {
			u.logf("the log cannot go to %s: %v", repoDir, err)
		}
	}
	var lg *joblog.Log
	var why string
	if repo.IsRemote(repoDir) {
		why = "the repository is on a web server, read-only"
	} else {
		var err error
		if lg, err = start([]string{joblog.Dir(repoDir)}); err == nil {
			return lg, nil
		}
		why = strings.TrimPrefix(err.Error(), joblog.ErrNoPlace.Error()+": ")
	}
	for i := range stick {
		if u.makeWritable(&stick[i]) != nil {
			continue
		}
		if lg, err := start([]string{joblog.Dir(stick[i].Dir)}); err == nil {
			lg.NotIn = why
			return lg, nil
		}
	}
	dir := filepath.Join(os.TempDir(), "lifeboat-logs")
	if u.cfg.Boot {
		dir = bootLogDir
	}
	lg, err := start([]string{dir})
	if err != nil {
		return nil, fmt.Errorf("%s; %w", why, err)
	}
	lg.NotIn = why
	if u.cfg.Boot {
		lg.NotIn += "; it is kept in memory only, until the machine restarts"
	}
	return lg, nil
}

// logPlaces returns the found repository at repoDir, if it is one, and
// the repositories found on the medium Lifeboat booted from.
func (u *UI) logPlaces(repoDir string) (found *repofind.Found, stick []repofind.Found) {
	u.mu.Lock()
	defer u.mu.Unlock()
	boot := map[string]bool{}
	for _, d := range u.disks {
		if d.Boot {
			boot[d.Name] = true
		}
	}
	for _, f := range u.found {
		if f.Dir == repoDir {
			c := f
			found = &c
		} else if boot[f.Disk] && f.Err == nil {
			stick = append(stick, f)
		}
	}
	return found, stick
}

// writable makes repoDir writable when it is a repository the finder
// mounted read-only (a delete, a note or a prune writes to it), off the
// UI goroutine.
func (u *UI) writable(repoDir string) error {
	found, _ := u.logPlaces(repoDir)
	if found == nil {
		return nil
	}
	if err := u.makeWritable(found); err != nil {
		return fmt.Errorf("make %s writable: %w", repoDir, err)
	}
	return nil
}

// makeWritable mounts a repository the finder mounted read-only again
// read-write.
func (u *UI) makeWritable(f *repofind.Found) error {
	if u.cfg.Find == nil || !f.ReadOnly {
		return nil
	}
	if f.DeviceReadOnly {
		return repofind.ErrReadOnlyDevice
	}
	if !u.lockFind(time.Minute) {
		return errors.New("the search for repositories on the attached disks has not finished in a minute (a failing drive?); try again, or restart the search with F5")
	}
	defer u.findMu.Unlock()
	return u.cfg.Find.MakeWritable(f)
}
