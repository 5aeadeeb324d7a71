package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteRepositoryCLI: a repository served by a web server on
// loopback is used by its URL: images lists it, restore writes the image
// from it, verify compares the restored disk with it, files lists a
// partition's files; capture and delete say it is read-only.
func TestRemoteRepositoryCLI(t *testing.T) {
	dir := t.TempDir()
	src := demoDisk(t, dir)
	repoDir := filepath.Join(dir, "repo")
	if r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "golden", src); r.code != 0 {
		t.Fatal(r)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	defer srv.Close()
	url := srv.URL + "/"
	if r := lifeboat(t, "", "images", "--repo", url); r.code != 0 || !strings.Contains(r.stdout, "golden") {
		t.Errorf("images: %v", r)
	}
	target := filepath.Join(dir, "restored.img")
	if r := lifeboat(t, "", "restore", "--repo", url, "--name", "golden", "--yes", target); r.code != 0 {
		t.Fatalf("restore: %v", r)
	}
	if r := lifeboat(t, "", "verify", "--repo", url, "--name", "golden", "--target", target); r.code != 0 || !strings.Contains(r.stdout, "identical to the image") {
		t.Errorf("verify: %v", r)
	}
	if r := lifeboat(t, "", "files", "ls", "--repo", url, "--name", "golden", "--part", "2"); r.code != 0 || !strings.Contains(r.stdout, "lost+found") {
		t.Errorf("files ls: %v", r)
	}
	for _, args := range [][]string{
		{"capture", "--repo", url, "--name", "second", src},
		{"delete", "--repo", url, "--name", "golden", "--yes"},
	} {
		if r := lifeboat(t, "", args...); r.code == 0 || r.err == nil || !strings.Contains(r.err.Error(), "read-only") {
			t.Errorf("%s: %v", args[0], r)
		}
	}
}
