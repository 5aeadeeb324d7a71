package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
)

// logDirFlag adds --log-dir: where the job's log goes instead of the
// repository's logs directory.
func logDirFlag(fs *flag.FlagSet) *string {
	return fs.String("log-dir", "", "directory for the job's log (default: the repository's logs/)")
}

// logDirs are where a job's log may go: --log-dir when given, else the
// repository's logs directory, then (for a repository that cannot be
// written) lifeboat-logs in the system's temporary directory.
func logDirs(repoDir, logDir string) []string {
	if logDir != "" {
		return []string{logDir}
	}
	return ops.LogDirs(repoDir, filepath.Join(os.TempDir(), "lifeboat-logs"))
}

// startLog takes a job's new log. A log that cannot be made is a warning:
// the job runs without (a nil *joblog.Log ignores everything).
func (e *env) startLog(l *joblog.Log, err error) *joblog.Log {
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: %v; the job runs without a log\n", err)
		return nil
	}
	return l
}

// finishLog ends a job's log with the job's error, and says where it is.
func (e *env) finishLog(l *joblog.Log, jobErr error) {
	if l == nil {
		return
	}
	p, err := l.Finish(jobErr)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: the job's log %s is incomplete: %v\n", p, err)
		return
	}
	if l.NotIn != "" {
		fmt.Fprintf(e.stderr, "log: %s (not in the repository: %s)\n", p, l.NotIn)
		return
	}
	fmt.Fprintf(e.stderr, "log: %s\n", p)
}
