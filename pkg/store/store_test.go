package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fill writes a small repository's worth of objects under dir.
func fill(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	objs := map[string][]byte{
		"lifeboat-repo.json":                 []byte(`{"format":"lifeboat-repository"}`),
		"images/laptop 2026.lbi":             bytes.Repeat([]byte("m"), 5000),
		"images/server.lbi":                  []byte("manifest"),
		"chunks/3fa/3fa9aa.zst":              bytes.Repeat([]byte{1, 2, 3}, 100000),
		"chunks/b00/b00c1e.zst":              []byte("chunk"),
		"notes/laptop 2026 & café.note.json": []byte("{}"),
	}
	for k, v := range objs {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return objs
}

// checkStore reads every object back through s and lists its directories.
func checkStore(t *testing.T, s Store, objs map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	for k, v := range objs {
		got, err := s.Get(ctx, k, nil, 1<<20)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("get %s: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
		buf := make([]byte, 0, 1<<20)
		if got, err := s.Get(ctx, k, buf, 1<<20); err != nil || !bytes.Equal(got, v) || (len(got) > 0 && &got[0] != &buf[:1][0]) {
			t.Errorf("get %s into a buffer: %d bytes, %v", k, len(got), err)
		}
		if n, err := s.Stat(ctx, k); err != nil || n != int64(len(v)) {
			t.Errorf("stat %s: %d, %v; want %d", k, n, err, len(v))
		}
	}
	if _, err := s.Get(ctx, "chunks/3fa/3fa9aa.zst", nil, 1000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("get beyond the bound: %v", err)
	}
	if _, err := s.Get(ctx, "images/missing.lbi", nil, 1000); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("get of a missing object: %v", err)
	}
	if _, err := s.Stat(ctx, "images/missing.lbi"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat of a missing object: %v", err)
	}
	for prefix, want := range map[string][]string{
		"":         {"chunks/", "images/", "lifeboat-repo.json", "notes/"},
		"images/":  {"laptop 2026.lbi", "server.lbi"},
		"chunks/":  {"3fa/", "b00/"},
		"notes/":   {"laptop 2026 & café.note.json"},
		"missing/": nil,
	} {
		got, err := s.List(ctx, prefix)
		if err != nil {
			t.Errorf("list %q: %v", prefix, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("list %q (-want +got):\n%s", prefix, diff)
		}
	}
}

// TestHTTP serves a directory with Go's file server on loopback and reads
// it through HTTP: objects, sizes, listings (from the server's index
// pages), missing objects.
func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	objs := fill(t, dir)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	h, err := NewHTTP(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	checkStore(t, h, objs)
	if h.Location() != srv.URL {
		t.Errorf("location %q", h.Location())
	}
	// A repository below the server's root.
	sub := httptest.NewServer(http.StripPrefix("/repos/lab", http.FileServer(http.Dir(dir))))
	defer sub.Close()
	hs, err := NewHTTP(sub.URL + "/repos/lab")
	if err != nil {
		t.Fatal(err)
	}
	checkStore(t, hs, objs)
	for _, bad := range []string{"ftp://x/y", "http://", "https://user:secret@host/repo"} {
		if _, err := NewHTTP(bad); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("NewHTTP(%q): %v", bad, err)
		}
	}
}

// TestHTTPRetries: answers that may pass (503, a server down and back up
// on the same port) are tried again until they do; ones that cannot (404,
// 403) fail at once and say what failed; a server that stays down fails
// after RetryFor with "connection refused".
func TestHTTPRetries(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir)
	files := http.FileServer(http.Dir(dir))
	var mu sync.Mutex
	fail := map[string]int{} // path -> answers of 503 left
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mu.Lock()
		n := fail[r.URL.Path]
		if n > 0 {
			fail[r.URL.Path] = n - 1
		}
		mu.Unlock()
		switch {
		case n > 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case strings.HasPrefix(r.URL.Path, "/secret/"):
			http.Error(w, "no", http.StatusForbidden)
		default:
			files.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	h, err := NewHTTP(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h.RetryFor = 20 * time.Second
	ctx := context.Background()

	mu.Lock()
	fail["/images/server.lbi"] = 2
	mu.Unlock()
	requests.Store(0)
	if b, err := h.Get(ctx, "images/server.lbi", nil, 100); err != nil || string(b) != "manifest" {
		t.Errorf("get through two 503s: %q, %v", b, err)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	requests.Store(0)
	if _, err := h.Get(ctx, "images/none.lbi", nil, 100); !errors.Is(err, fs.ErrNotExist) || requests.Load() != 1 {
		t.Errorf("404: %v after %d requests, want not-exist after 1", err, requests.Load())
	}
	requests.Store(0)
	if _, err := h.Get(ctx, "secret/x", nil, 100); err == nil || !strings.Contains(err.Error(), "access denied") || requests.Load() != 1 {
		t.Errorf("403: %v after %d requests", err, requests.Load())
	}

	// A server that goes away and comes back on the same port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	hd, err := NewHTTP("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	hd.RetryFor = 30 * time.Second
	got := make(chan error, 1)
	go func() {
		b, err := hd.Get(ctx, "chunks/b00/b00c1e.zst", nil, 100)
		if err == nil && string(b) != "chunk" {
			err = errors.New("other bytes")
		}
		got <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	back := &http.Server{Handler: files}
	go back.Serve(l)
	defer back.Close()
	if err := <-got; err != nil {
		t.Errorf("get across a server restart: %v", err)
	}

	// Down for good.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	down := l2.Addr().String()
	l2.Close()
	hx, _ := NewHTTP("http://" + down)
	hx.RetryFor = 500 * time.Millisecond
	if _, err := hx.Get(ctx, "lifeboat-repo.json", nil, 100); err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), down) {
		t.Errorf("server down: %v", err)
	}
	// A name that does not resolve fails at once, saying so.
	hn, _ := NewHTTP("http://lifeboat-no-such-host.invalid/repo")
	start := time.Now()
	if _, err := hn.Get(ctx, "lifeboat-repo.json", nil, 100); err == nil || !strings.Contains(err.Error(), "DNS") {
		t.Errorf("unknown host: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("unknown host retried for %v", time.Since(start))
	}
}

// TestParseIndex reads the index pages of the web servers repositories
// are put on: nginx's autoindex (HTML and JSON) and Apache's mod_autoindex,
// as those servers write them.
func TestParseIndex(t *testing.T) {
	nginx := `<html>
<head><title>Index of /lab/images/</title></head>
<body>
<h1>Index of /lab/images/</h1><hr><pre><a href="../">../</a>
<a href="old/">old/</a>                                               07-Dec-2026 10:15       -
<a href="laptop%202026.lbi">laptop 2026.lbi</a>                                    07-Dec-2026 10:15    5000
<a href="server.lbi">server.lbi</a>                                         07-Dec-2026 10:16       8
</pre><hr></body>
</html>`
	apache := `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /lab/images</title></head><body>
<h1>Index of /lab/images</h1>
<table>
<tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/lab/">Parent Directory</a></td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="laptop%202026.lbi">laptop 2026.lbi</a></td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="old/">old/</a></td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="server.lbi">server.lbi</a></td></tr>
</table></body></html>`
	json := `[
{ "name":"old", "type":"directory", "mtime":"Mon, 07 Dec 2026 10:15:00 GMT" },
{ "name":"laptop 2026.lbi", "type":"file", "mtime":"Mon, 07 Dec 2026 10:15:00 GMT", "size":5000 },
{ "name":"server.lbi", "type":"file", "mtime":"Mon, 07 Dec 2026 10:16:00 GMT", "size":8 }
]`
	want := []string{"laptop 2026.lbi", "old/", "server.lbi"}
	for name, c := range map[string]struct{ page, ct string }{
		"nginx": {nginx, "text/html"}, "apache": {apache, "text/html;charset=UTF-8"}, "nginx json": {json, "application/json"},
	} {
		if diff := cmp.Diff(want, ParseIndex([]byte(c.page), c.ct)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// FuzzParseIndex: whatever the page, the names are plain entries of the
// directory: no separators inside, no parent, nothing empty.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`<a href="../">../</a><a href="x%2Fy">x</a><a href="a.lbi">a</a>`), "text/html")
	f.Add([]byte(`[{"name":"a/b","type":"file"},{"name":"..","type":"directory"}]`), "application/json")
	f.Fuzz(func(t *testing.T, page []byte, ct string) {
		for _, n := range ParseIndex(page, ct) {
			base := strings.TrimSuffix(n, "/")
			if base == "" || base == "." || base == ".." || strings.Contains(base, "/") {
				t.Fatalf("name %q from %q", n, page)
			}
		}
	})
}
