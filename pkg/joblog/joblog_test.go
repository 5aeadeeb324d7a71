package joblog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

var start = time.Date(2026, 12, 7, 10, 15, 0, 0, time.UTC)

// TestLogAsItGoes: each line is in the file as soon as it is written; a
// second log of the same job and second gets a number; the stage the
// tracker is in is timed with the bytes it counted; the summary reads back.
func TestLogAsItGoes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	l, err := Create([]string{dir}, "restore", "laptop", start)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Path(), filepath.Join(dir, "20261207T101500Z-restore-laptop.log"); got != want {
		t.Errorf("log at %s, want %s", got, want)
	}
	l.Target(Disk{Path: "/dev/sdb", Model: "Samsung SSD 980", Serial: "S64DNX0R123456", WWN: "eui.0025385b1234", Size: 500107862016})
	b, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if want := `target: /dev/sdb, model "Samsung SSD 980", serial "S64DNX0R123456", wwn "eui.0025385b1234", 465.8 GiB (500107862016 bytes)`; !strings.Contains(string(b), want) {
		t.Errorf("the log holds, before it is finished:\n%s\nwant a line %q", b, want)
	}
	again, err := Create([]string{dir}, "restore", "laptop", start)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "20261207T101500Z-restore-laptop-1.log"); again.Path() != want {
		t.Errorf("second log at %s, want %s", again.Path(), want)
	}
	again.Finish(nil)

	tr := &progress.Tracker{}
	tr.Start("writing", 1000)
	l.Follow(tr)
	tr.Add(1000)
	l.Warn("the target's old partition table could not be read")
	l.Error("differs: chunk 3 at offset 12582912")
	p, err := l.Finish(errors.New("verify failed"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSummary(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Op != "restore" || s.Image != "laptop" || s.Result != "failed" || s.Error != "verify failed" || s.Warnings != 1 || s.Errors != 2 ||
		s.Target == nil || s.Target.Serial != "S64DNX0R123456" || len(s.Stages) != 1 || s.Stages[0].Name != "writing" || s.Stages[0].Bytes != 1000 {
		t.Errorf("summary %+v", s)
	}
}

// TestNilLog: a job whose log could not be made calls a nil *Log.
func TestNilLog(t *testing.T) {
	var l *Log
	l.Printf("x")
	l.Warn("x")
	l.Error("x")
	l.Repo("x")
	l.Source(Disk{})
	l.Target(Disk{})
	l.ImageID("x")
	l.Follow(&progress.Tracker{})
	if p, err := l.Finish(nil); p != "" || err != nil {
		t.Errorf("Finish of a nil log: %q, %v", p, err)
	}
}

// TestFallback: a directory that cannot be made passes the log on to the
// next, and NotIn says why.
func TestFallback(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Create([]string{filepath.Join(file, "logs"), filepath.Join(dir, "other")}, "verify", "a/b c", start)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Finish(nil)
	if filepath.Dir(l.Path()) != filepath.Join(dir, "other") || filepath.Base(l.Path()) != "20261207T101500Z-verify-a_b_c.log" {
		t.Errorf("log at %s", l.Path())
	}
	if want := filepath.Join(file, "logs") + ": not a directory"; l.NotIn != want {
		t.Errorf("NotIn %q, want %q", l.NotIn, want)
	}
}
