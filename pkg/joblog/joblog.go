package joblog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// DirName is the directory of a repository that holds job logs.
const DirName = "logs"

// ErrNoPlace begins the error of a Create that found no directory to
// write in.
var ErrNoPlace = errors.New("no directory takes the job's log")

// maxName bounds the image name's part of a log's file name.
const maxName = 64

// Dir is where the job logs of repository repoDir go.
func Dir(repoDir string) string { return filepath.Join(repoDir, DirName) }

// Disk is a disk as a log names it.
type Disk struct {
	Path   string `json:"path"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	WWN    string `json:"wwn,omitempty"`
	Size   int64  `json:"size"`
}

// DiskOf is the Disk of a device path with what the inventory knows about
// it (nil for a file).
func DiskOf(path string, d *inventory.Disk, size int64) Disk {
	out := Disk{Path: path, Size: size}
	if d != nil {
		model := strings.TrimSpace(strings.TrimPrefix(d.Vendor+" "+d.Model, "ATA "))
		out.Model, out.Serial, out.WWN = model, d.Serial, d.WWN
	}
	return out
}

func (d Disk) String() string {
	s := d.Path
	for _, f := range [][2]string{{"model", d.Model}, {"serial", d.Serial}, {"wwn", d.WWN}} {
		if f[1] != "" {
			s += fmt.Sprintf(", %s %q", f[0], f[1])
		}
	}
	return s + fmt.Sprintf(", %s (%d bytes)", units.Bytes(d.Size), d.Size)
}

// Stage is one stage of a job, as the job's progress tracker named it.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
}

// Summary is the last line of a log, in JSON after "summary: ".
type Summary struct {
	Op       string    `json:"op"`
	Image    string    `json:"image,omitempty"`
	ImageID  string    `json:"image_id,omitempty"`
	Repo     string    `json:"repo,omitempty"`
	Source   *Disk     `json:"source,omitempty"`
	Target   *Disk     `json:"target,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Seconds  float64   `json:"seconds"`
	Stages   []Stage   `json:"stages,omitempty"`
	Warnings int       `json:"warnings"`
	Errors   int       `json:"errors"`
	Result   string    `json:"result"` // "ok", "failed", "cancelled"
	Error    string    `json:"error,omitempty"`
}

// Log is the log of one job, written as it goes.
type Log struct {
	path string
	// NotIn says why the log is not in the first directory it was to go
	// to (the repository is read-only), or "".
	NotIn string

	mu    sync.Mutex
	f     *os.File
	werr  error // the first write error; later writes are skipped
	sum   Summary
	stage *Stage    // the stage being timed
	since time.Time // when it started
	base  int64     // the tracker's count when it was first seen
	seen  time.Time // when it was last seen
	stop  chan struct{}
	done  chan struct{}
}

// Create makes a new log for a job op ("capture", "restore", "verify") on
// image in the first of dirs where it can: each is made when missing. A
// directory that cannot be written (a read-only file system, no
// permission, a full disk) is passed over, and why is kept in NotIn; the
// error says why each failed when none could be written.
func Create(dirs []string, op, image string, now time.Time) (*Log, error) {
	if len(dirs) == 0 {
		return nil, errors.New("job log: no directory given")
	}
	name := fmt.Sprintf("%s-%s-%s.log", now.UTC().Format("20060102T150405Z"), op, safeName(image))
	var errs []error
	for _, dir := range dirs {
		f, err := create(dir, name)
		if err != nil {
			// Said of the directory: "/repo/logs: read-only file system".
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				err = fmt.Errorf("%s: %w", dir, pe.Err)
			}
			errs = append(errs, err)
			continue
		}
		l := &Log{path: f.Name(), f: f, sum: Summary{Op: op, Image: image, Start: now}}
		if len(errs) > 0 {
			l.NotIn = errs[0].Error()
		}
		l.printf("Lifeboat job log: %s of %s, started %s", op, image, now.Format(time.RFC3339))
		return l, nil
	}
	return nil, fmt.Errorf("%s: %w", ErrNoPlace, errors.Join(errs...))
}

// create makes dir and a new file name in it, with a number added to the
// name if one is there already.
func create(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(name, ".log")
	for i := 0; i < 100; i++ {
		p := filepath.Join(dir, name)
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s-%d.log", base, i))
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return nil, fmt.Errorf("create a log in %s: too many logs named %s", dir, name)
}

// safeName keeps the letters, digits and ".-_" of an image name, for a
// file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= maxName {
			break
		}
	}
	if b.Len() == 0 {
		return "job"
	}
	return b.String()
}

// Path is the log's file.
func (l *Log) Path() string {
	if l == nil {
		return ""
	}
	return l.path
}

// printf writes one line, with the time, to the file at once; mu held or
// not needed.
func (l *Log) printf(format string, a ...any) {
	if l.werr != nil {
		return
	}
	line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, a...)
	line = strings.ReplaceAll(strings.TrimRight(line, "\n"), "\n", "\n             ")
	if _, err := l.f.WriteString(line + "\n"); err != nil {
		l.werr = fmt.Errorf("write %s: %w", l.path, err)
	}
}

// Printf adds a line. A nil *Log ignores it, as do all its methods.
func (l *Log) Printf(format string, a ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.printf(format, a...)
}

// Warn adds a warning.
func (l *Log) Warn(msg string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Warnings++
	l.printf("WARNING: %s", msg)
}

// Error adds an error that does not end the job (a damaged chunk).
func (l *Log) Error(msg string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Errors++
	l.printf("ERROR: %s", msg)
}

// Repo records the repository.
func (l *Log) Repo(dir string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Repo = dir
	l.printf("repository: %s", dir)
}

// Source records the disk read.
func (l *Log) Source(d Disk) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Source = &d
	l.printf("source: %s", d)
}

// Target records the disk written or compared.
func (l *Log) Target(d Disk) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Target = &d
	l.printf("target: %s", d)
}

// ImageID records the image's id (a capture knows it at the end).
func (l *Log) ImageID(id string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.ImageID = id
	l.printf("image id: %s", id)
}

// Follow times the stages tr goes through, sampling it four times a
// second until Finish: each stage's start is written as it is seen, and
// its time, bytes and rate when it ends. Times are as close as a sample:
// a stage shorter than a quarter of a second may be missed.
func (l *Log) Follow(tr *progress.Tracker) {
	if l == nil || tr == nil {
		return
	}
	l.mu.Lock()
	if l.stop != nil {
		l.mu.Unlock()
		return
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	l.mu.Unlock()
	l.sample(tr) // the stage the job is in as it starts
	go func() {
		defer close(l.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				l.sample(tr)
				return
			case <-t.C:
				l.sample(tr)
			}
		}
	}()
}

// sample notes a change of stage. A stage's bytes are those the tracker
// counted between the first and the last sample that saw the stage, so
// that bytes done before a stage was first seen are never put down to it.
func (l *Log) sample(tr *progress.Tracker) {
	s := tr.Snapshot()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Stage == "" {
		return
	}
	if l.stage == nil || l.stage.Name != s.Stage {
		l.endStage(now)
		l.stage = &Stage{Name: s.Stage}
		l.since, l.base = now, s.Done
		l.printf("stage: %s", s.Stage)
	}
	if s.Done < l.base {
		l.base = 0 // the tracker was restarted for a stage of the same name
	}
	l.stage.Bytes = s.Done - l.base
	l.seen = now
}

// endStage writes the stage being timed, with its time and the rate of
// the bytes counted while it was seen.
func (l *Log) endStage(now time.Time) {
	if l.stage == nil {
		return
	}
	st := *l.stage
	st.Seconds = now.Sub(l.since).Seconds()
	l.sum.Stages = append(l.sum.Stages, st)
	l.stage = nil
	if seen := l.seen.Sub(l.since).Seconds(); st.Bytes > 0 && seen > 0 {
		l.printf("stage done: %s in %s, %s at %s", st.Name, units.Duration(now.Sub(l.since)), units.Bytes(st.Bytes), units.Rate(st.Bytes, seen))
	} else {
		l.printf("stage done: %s in %s", st.Name, units.Duration(now.Sub(l.since)))
	}
}

// Finish writes the result (err nil for success), the time taken and the
// summary line, syncs the file and closes it. It returns the log's path,
// and an error if any line could not be written.
func (l *Log) Finish(jobErr error) (string, error) {
	if l == nil {
		return "", nil
	}
	l.mu.Lock()
	stop := l.stop
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.endStage(now)
	l.sum.End = now
	l.sum.Seconds = now.Sub(l.sum.Start).Seconds()
	switch {
	case jobErr == nil:
		l.sum.Result = "ok"
		l.printf("result: ok, in %s", units.Duration(now.Sub(l.sum.Start)))
	case errors.Is(jobErr, context.Canceled):
		l.sum.Result, l.sum.Error = "cancelled", jobErr.Error()
		l.printf("result: CANCELLED after %s: %v", units.Duration(now.Sub(l.sum.Start)), jobErr)
	default:
		l.sum.Errors++
		l.sum.Result, l.sum.Error = "failed", jobErr.Error()
		l.printf("result: FAILED after %s: %v", units.Duration(now.Sub(l.sum.Start)), jobErr)
	}
	if b, err := json.Marshal(l.sum); err == nil {
		l.printf("summary: %s", b)
	}
	err := l.werr
	if serr := l.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync %s: %w", l.path, serr)
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", l.path, cerr)
	}
	return l.path, err
}

// ReadSummary reads the summary line of a finished log.
func ReadSummary(path string) (Summary, error) {
	var s Summary
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	i := strings.LastIndex(string(b), " summary: ")
	if i < 0 {
		return s, fmt.Errorf("%s: no summary line (the job did not finish)", path)
	}
	line, _, _ := strings.Cut(string(b[i+len(" summary: "):]), "\n")
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return s, fmt.Errorf("%s: summary: %w", path, err)
	}
	return s, nil
}
