package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Tool returns the path of a command the test needs, failing the test
// when it is not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("this test needs %s; install the test dependencies with `make deps`", name)
	}
	return p
}

// Run runs a command and fails the test when it fails; it returns stdout.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	Tool(t, name)
	cmd := exec.Command(name, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// Root fails the test unless it runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices); run `make test` as root")
	}
}

// Sparse creates a sparse file of the given size in the test's temp dir.
func Sparse(t testing.TB, name string, size int64) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// Loop attaches a file as a loop device with the given logical sector size
// (0 for the default 512) and detaches it when the test ends.
func Loop(t testing.TB, file string, sectorSize int) string {
	t.Helper()
	Root(t)
	args := []string{"-f", "--show"}
	if sectorSize != 0 {
		args = append(args, "--sector-size", strconv.Itoa(sectorSize))
	}
	args = append(args, file)
	dev := strings.TrimSpace(Run(t, "losetup", args...))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// HashFile returns the SHA-256 of a file's or device's first n bytes (the
// whole file when n < 0).
func HashFile(t testing.TB, path string, n int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteAt writes data into a file at off.
func WriteAt(t testing.TB, path string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Copy copies a file, keeping holes.
func Copy(t testing.TB, src, dst string) {
	t.Helper()
	Run(t, "cp", "--sparse=always", src, dst)
}
