package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// seen runs the command line as main does and returns what the user sees:
// stdout, and stderr with the error reported as main reports it.
func seen(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	if err != nil {
		report(&errb, err)
	}
	return result{exitCode(err), out.String(), errb.String(), err}
}

// TestMessages checks what the command line says when it is used wrongly
// or pointed at something that is not there: one error line (and for a
// wrong use of a command, its usage line), no help printed unasked.
func TestMessages(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	src := demoDisk(t, dir)
	for _, name := range []string{"laptop", "desktop"} {
		if r := seen(t, "capture", "--repo", repoDir, "--name", name, "--quiet", src); r.code != 0 {
			t.Fatal(r)
		}
	}
	empty := filepath.Join(dir, "empty")
	if _, err := repo.Create(empty); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.img")
	missing := filepath.Join(dir, "nowhere")
	missing2 := filepath.Join(dir, "nowhere-else")
	var names []string
	for n := range commandHelp {
		names = append(names, n)
	}
	sort.Strings(names)
	commands := strings.Join(names, ", ")
	if !strings.HasPrefix(commands, "capture, ") || !strings.Contains(commands, ", restore, ") || !strings.HasSuffix(commands, ", verify, version") {
		t.Fatalf("the commands with help: %s", commands)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		// stderr is the whole of stderr for a wrong use; otherwise its
		// last line, the only one that is an error (a job's log may be
		// named before it).
		stderr string
		stdout string // a prefix of stdout
	}{
		{"unknown option", []string{"capture", "--bogus", "--repo", repoDir, "--name", "x", src}, exitUsage,
			"lifeboat: unknown option --bogus\nusage: lifeboat capture --repo DIR --name NAME [options] SOURCE (lifeboat help capture lists the options)\n", ""},
		{"option without its value", []string{"verify", "--repo", repoDir, "--name"}, exitUsage,
			"lifeboat: option --name needs a value\nusage: lifeboat verify --repo DIR --name NAME [--target DISK] [--json] (lifeboat help verify lists the options)\n", ""},
		{"bad value", []string{"restore", "--repo", repoDir, "--name", "laptop", "--workers", "many", target}, exitUsage,
			"lifeboat: invalid value \"many\" for --workers: parse error\nusage: lifeboat restore --repo DIR --name NAME [--yes] [options] TARGET (lifeboat help restore lists the options)\n", ""},
		{"wrong arguments", []string{"restore", "--repo", repoDir, "--name", "laptop"}, exitUsage,
			"lifeboat: restore takes one TARGET\nusage: lifeboat restore --repo DIR --name NAME [--yes] [options] TARGET (lifeboat help restore lists the options)\n", ""},
		{"help for an unknown command", []string{"help", "frobnicate"}, exitUsage,
			"lifeboat: help frobnicate: no such command; the commands are " + commands + " and help\n", ""},
		{"help asked of a command", []string{"verify", "--help"}, exitOK, "", "lifeboat verify --repo DIR --name NAME"},
		{"missing repository", []string{"restore", "--repo", missing, "--name", "laptop", target}, exitFailed,
			"lifeboat: open repository " + missing + ": no such directory\n", ""},
		{"missing repository, plan", []string{"restore", "--repo", missing2, "--name", "laptop", "--plan", target}, exitFailed,
			"lifeboat: open repository " + missing2 + ": no such directory\n", ""},
		{"unknown image", []string{"restore", "--repo", repoDir, "--name", "lapotp", target}, exitFailed,
			"lifeboat: image lapotp in " + repoDir + ": no such image; the images are desktop, laptop\n", ""},
		{"unknown image, verify", []string{"verify", "--repo", repoDir, "--name", "lapotp"}, exitFailed,
			"lifeboat: image lapotp in " + repoDir + ": no such image; the images are desktop, laptop\n", ""},
		{"no images", []string{"verify", "--repo", empty, "--name", "laptop"}, exitFailed,
			"lifeboat: image laptop in " + empty + ": no such image (the repository holds no images)\n", ""},
	} {
		r := seen(t, c.args...)
		stderr := r.stderr
		if c.code != exitUsage && strings.Count(stderr, "lifeboat:") == 1 {
			stderr = stderr[strings.Index(stderr, "lifeboat:"):]
		}
		if r.code != c.code || stderr != c.stderr || !strings.HasPrefix(r.stdout, c.stdout) || (c.stdout == "" && r.stdout != "") {
			t.Errorf("%s: lifeboat %q:\nwant exit %d, stderr %q, stdout starting %q\ngot %s", c.name, c.args, c.code, c.stderr, c.stdout, r)
		}
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("a failed restore made its target")
	}
}

// TestSizesAndPlanWording restores a 48 MiB image onto a 10 MiB file and
// plans it onto a larger one: the shortfall is in human units with the
// exact bytes after them, and a plan never says that anything was written.
func TestSizesAndPlanWording(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if r := seen(t, "capture", "--repo", repoDir, "--name", "demo", "--quiet", demoDisk(t, dir)); r.code != 0 {
		t.Fatal(r)
	}
	small := testutil.Sparse(t, "small.img", 10*MiB)
	r := seen(t, "restore", "--repo", repoDir, "--name", "demo", "--yes", small)
	want := "target is 10.0 MiB (10485760 bytes); with every file system that can shrink made as small as it can be, the image's partitions need "
	if r.code != exitTooSmall || !strings.Contains(r.stderr, want) || !regexp.MustCompile(`: \d+\.\d MiB \(\d+ bytes\) short`).MatchString(r.stderr) {
		t.Errorf("restore onto 10 MiB: want %q and the shortfall in MiB and bytes, got %s", want, r)
	}
	big := testutil.Sparse(t, "big.img", 72*MiB)
	for _, layout := range []string{"keep", "grow", "scale"} {
		r := seen(t, "restore", "--repo", repoDir, "--name", "demo", "--plan", "--layout", layout, big)
		if r.code != 0 || strings.Contains(r.stdout, "wrote") || strings.Contains(r.stdout, "moved the") {
			t.Errorf("restore --plan --layout %s says something was done:\n%s", layout, r)
		}
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonKeys decodes s as one JSON object and returns every key in it, at
// any depth.
func jsonKeys(t *testing.T, what, s string) (map[string]any, []string) {
	t.Helper()
	var top any
	if err := json.Unmarshal([]byte(s), &top); err != nil {
		t.Fatalf("%s: not one JSON value: %v\n%s", what, err, s)
	}
	// An object, or a list of objects (disks, images): the first one's
	// keys are the ones asked for.
	v, _ := top.(map[string]any)
	if l, ok := top.([]any); ok && len(l) > 0 {
		v, _ = l[0].(map[string]any)
	}
	if v == nil {
		t.Fatalf("%s: neither an object nor a list of objects:\n%s", what, s)
	}
	var keys []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				keys = append(keys, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(top)
	return v, keys
}

// TestJSONEverywhere runs every command with --json (capture, restore
// planned and done, verify, version, disks, images, note, clone, delete
// and prune dry runs): each prints one JSON value on stdout, nothing else
// there, and every key at every depth is snake_case.
func TestJSONEverywhere(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	src := demoDisk(t, dir)
	out := filepath.Join(dir, "out.img")
	for _, c := range []struct {
		args []string
		want []string // top-level keys
	}{
		{[]string{"capture", "--repo", repoDir, "--name", "demo", "--json", src},
			[]string{"image", "id", "repo", "source", "disk", "table", "stats", "warnings"}},
		{[]string{"restore", "--repo", repoDir, "--name", "demo", "--plan", "--json", out},
			[]string{"image", "id", "target", "layout", "planned_only", "plan", "changes"}},
		{[]string{"restore", "--repo", repoDir, "--name", "demo", "--verify", "--json", out},
			[]string{"image", "id", "target", "layout", "plan", "bytes_written", "hole_bytes", "verified", "changes", "boot", "warnings"}},
		{[]string{"verify", "--repo", repoDir, "--name", "demo", "--target", out, "--json"},
			[]string{"image", "id", "chunks", "target", "ok"}},
		{[]string{"version", "--json"}, []string{"version"}},
		{[]string{"disks", "--json"}, []string{"name", "path", "size", "serial", "in_use"}},
		{[]string{"images", "--repo", repoDir, "--json"}, []string{"name", "id", "size_on_disk", "unique_size"}},
		{[]string{"note", "--repo", repoDir, "--name", "demo", "--json", "golden"}, []string{"image", "note", "changed"}},
		{[]string{"note", "--repo", repoDir, "--name", "demo", "--json"}, []string{"image", "note"}},
		{[]string{"clone", "--yes", "--json", src, filepath.Join(dir, "clone.img")}, nil},
		{[]string{"delete", "--repo", repoDir, "--name", "demo", "--dry-run", "--json"}, nil},
		{[]string{"prune", "--repo", repoDir, "--dry-run", "--json"}, nil},
	} {
		r := seen(t, c.args...)
		if r.code != 0 {
			t.Fatalf("lifeboat %q: %s", c.args, r)
		}
		v, keys := jsonKeys(t, strings.Join(c.args, " "), r.stdout)
		for _, k := range keys {
			if !snakeCase.MatchString(k) {
				t.Errorf("lifeboat %q: key %q is not snake_case", c.args, k)
			}
		}
		for _, k := range c.want {
			if _, ok := v[k]; !ok {
				t.Errorf("lifeboat %q: no %q in\n%s", c.args, k, r.stdout)
			}
		}
		switch c.args[0] {
		case "capture":
			if v["image"] != "demo" || v["stats"].(map[string]any)["bytes_read"].(float64) <= 0 {
				t.Errorf("capture --json: %s", r.stdout)
			}
		case "restore":
			plan := v["plan"].(map[string]any)
			if len(plan["partitions"].([]any)) != 2 || plan["target_size"].(float64) != 48*MiB {
				t.Errorf("restore --json plan: %s", r.stdout)
			}
			if v["planned_only"] == nil && (v["bytes_written"].(float64) <= 0 || v["boot"] == nil) {
				t.Errorf("restore --json result: %s", r.stdout)
			}
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
