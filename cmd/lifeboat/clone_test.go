package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestCloneCommand runs `lifeboat clone`: the plan alone writes nothing;
// onto an existing disk a wrong answer is refused and writes nothing, the
// right one copies the disk (read back and compared with --verify); a new
// file is created without asking, and --json says what was done; a disk
// onto itself and onto a disk too small are refused with their exit codes.
func TestCloneCommand(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	src := demoDisk(t, dir)
	dst := filepath.Join(dir, "dst.img")
	if err := os.WriteFile(dst, bytes.Repeat([]byte{0xee}, 48*MiB), 0o644); err != nil {
		t.Fatal(err)
	}
	before := testutil.HashFile(t, dst, -1)

	r := lifeboat(t, "", "clone", "--plan", src, dst)
	if r.code != exitOK || !strings.Contains(r.stdout, "PLAN    keep layout") || !strings.Contains(r.stdout, "SOURCE") || !strings.Contains(r.stdout, "nothing was written") {
		t.Fatalf("clone --plan: %s", r)
	}
	r = lifeboat(t, "sdz\n", "clone", src, dst)
	if r.code != exitRefused || !strings.Contains(r.stderr, `Type "dst.img" to continue`) {
		t.Fatalf("clone with a wrong answer: %s", r)
	}
	if testutil.HashFile(t, dst, -1) != before {
		t.Fatal("a refused clone wrote the target")
	}
	r = lifeboat(t, "dst.img\n", "clone", "--verify", "--quiet", src, dst)
	if r.code != exitOK || !strings.Contains(r.stdout, "cloned "+src) || !strings.Contains(r.stdout, "verified:") {
		t.Fatalf("clone --verify: %s", r)
	}
	// The ext4's free space is zeros, the other partition read whole: the
	// copy is the source byte for byte.
	if testutil.HashFile(t, dst, -1) != testutil.HashFile(t, src, -1) {
		t.Error("the copy differs from the source")
	}

	created := filepath.Join(dir, "new.img")
	r = lifeboat(t, "", "clone", "--json", "--new-identity", src, created)
	if r.code != exitOK {
		t.Fatalf("clone --json onto a new file: %s", r)
	}
	var res cloneResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("clone --json: %v\n%s", err, r.stdout)
	}
	if res.Target != created || res.Layout != "keep" || res.Read == 0 || res.Read >= 48*MiB || len(res.Changes) == 0 {
		t.Errorf("clone --json: %+v", res)
	}
	testutil.Run(t, "sgdisk", "-v", created)
	if a, b := strings.TrimSpace(testutil.Run(t, "sgdisk", "-p", src)), strings.TrimSpace(testutil.Run(t, "sgdisk", "-p", created)); a == b {
		t.Error("--new-identity kept the disk GUID")
	}

	for _, c := range []struct {
		target string
		code   int
	}{
		{src, exitRefused},
		{testutil.Sparse(t, "tiny.img", 4*MiB), exitTooSmall},
	} {
		r = lifeboat(t, "", "clone", "--yes", src, c.target)
		if r.code != c.code {
			t.Errorf("clone %s onto %s: want exit %d, got %s", src, c.target, c.code, r)
		}
	}
	if r := lifeboat(t, "", "clone", src); r.code != exitUsage {
		t.Errorf("clone with one disk: %s", r)
	}
	if r := lifeboat(t, "", "help", "clone"); r.code != exitOK || !strings.Contains(r.stdout, "lifeboat clone [--yes] [options] SOURCE TARGET") {
		t.Errorf("help clone: %s", r)
	}
}
