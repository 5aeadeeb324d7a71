package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/pkg/joblog"
)

// TestCommandsKeepLogs: capture, restore and verify each leave a log in
// the repository's logs directory and say where; --log-dir puts it
// elsewhere; a failed job's log says it failed.
func TestCommandsKeepLogs(t *testing.T) {
	dir := t.TempDir()
	src := demoDisk(t, dir)
	repoDir := filepath.Join(dir, "repo")
	logPath := regexp.MustCompile(`(?m)^log: (\S+)$`)
	logOf := func(r result) joblog.Summary {
		t.Helper()
		m := logPath.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("no log named: %s", r)
		}
		s, err := joblog.ReadSummary(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m[1], filepath.Join(repoDir, "logs")+"/") && !strings.HasPrefix(m[1], filepath.Join(dir, "elsewhere")+"/") {
			t.Errorf("log %s is neither in the repository's logs nor in --log-dir", m[1])
		}
		return s
	}
	r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "demo", src)
	if r.code != 0 {
		t.Fatal(r)
	}
	if s := logOf(r); s.Op != "capture" || s.Result != "ok" || s.Source == nil || s.Source.Path != src || s.ImageID == "" {
		t.Errorf("capture log summary %+v", s)
	}
	out := filepath.Join(dir, "out.img")
	r = lifeboat(t, "", "restore", "--repo", repoDir, "--name", "demo", out)
	if r.code != 0 {
		t.Fatal(r)
	}
	if s := logOf(r); s.Op != "restore" || s.Result != "ok" || s.Target == nil || s.Target.Path != out {
		t.Errorf("restore log summary %+v", s)
	}
	r = lifeboat(t, "", "verify", "--repo", repoDir, "--name", "demo", "--log-dir", filepath.Join(dir, "elsewhere"))
	if r.code != 0 {
		t.Fatal(r)
	}
	if s := logOf(r); s.Op != "verify" || s.Result != "ok" {
		t.Errorf("verify log summary %+v", s)
	}
	// A verify that fails: a chunk of the image removed.
	chunks, _ := filepath.Glob(filepath.Join(repoDir, "chunks", "*", "*"))
	if len(chunks) == 0 {
		t.Fatalf("no chunk files under %s/chunks", repoDir)
	}
	if err := os.Remove(chunks[0]); err != nil {
		t.Fatal(err)
	}
	r = lifeboat(t, "", "verify", "--repo", repoDir, "--name", "demo")
	if r.code == 0 {
		t.Fatal(r)
	}
	if s := logOf(r); s.Result != "failed" || s.Errors == 0 {
		t.Errorf("failed verify log summary %+v", s)
	}
	logs, _ := os.ReadDir(filepath.Join(repoDir, "logs"))
	if len(logs) != 3 {
		t.Errorf("the repository holds %d logs, want 3 (capture, restore, the failed verify)", len(logs))
	}
}
