package store

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startNginx serves dir with nginx on a loopback port, with its HTML
// autoindex at / and its JSON autoindex at /json/, and stops it when the
// test ends. It returns the server's base URL.
func startNginx(t *testing.T, dir string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Fatal("this test needs nginx; install the test dependencies with `make deps`")
		}
		bin = "/usr/sbin/nginx"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	work := t.TempDir()
	conf := filepath.Join(work, "nginx.conf")
	temp := func(name string) string { return filepath.Join(work, name) }
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
master_process off;
pid %s;
error_log %s;
events {}
http {
	access_log off;
	client_body_temp_path %s;
	proxy_temp_path %s;
	fastcgi_temp_path %s;
	uwsgi_temp_path %s;
	scgi_temp_path %s;
	server {
		listen %s;
		root %s;
		autoindex on;
		location /json/ {
			alias %s/;
			autoindex on;
			autoindex_format json;
		}
	}
}
`, temp("nginx.pid"), temp("error.log"), temp("body"), temp("proxy"), temp("fastcgi"), temp("uwsgi"), temp("scgi"), addr, dir, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-p", work, "-e", temp("error.log"))
	if out, err := exec.Command(bin, "-t", "-c", conf, "-p", work, "-e", temp("error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(temp("error.log"))
	t.Fatalf("nginx did not start on %s:\n%s", addr, b)
	return ""
}

// TestHTTPNginx reads a repository served by nginx, as a shop would put
// one on its file server: objects, sizes and listings from nginx's HTML
// autoindex and from its JSON autoindex.
func TestHTTPNginx(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	objs := fill(t, dir)
	base := startNginx(t, dir)
	for _, u := range []string{base, base + "/json/"} {
		h, err := NewHTTP(u)
		if err != nil {
			t.Fatal(err)
		}
		checkStore(t, h, objs)
	}
}
