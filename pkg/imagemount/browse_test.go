package imagemount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
)

// TestBrowseAndCopy copies every partition's whole tree out of an image
// through Browse and Copy and compares it with what was put there
// (content, times, links); then, as a process that cannot mount, FAT and
// exFAT are still copied by Lifeboat's readers and the others say why not. Copy
// refuses to overwrite, and refuses a destination without room before
// writing anything.
func TestBrowseAndCopy(t *testing.T) {
	testutil.Root(t)
	src, parts := testutil.FilledDisk(t, "filled.img")
	_, im := capture(t, src, false, 0)
	b, err := Browse(context.Background(), im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := t.TempDir()
	for _, p := range parts {
		fsys, err := b.FS(p.Number)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(out, p.FSType)
		tr := &progress.Tracker{}
		sum, err := Copy(context.Background(), fsys, []string{"."}, dst, CopyOptions{Recursive: true, Progress: tr})
		if err != nil {
			t.Fatalf("partition %d: %v", p.Number, err)
		}
		var files int
		var bytes int64
		for _, f := range p.Files {
			if !f.Dir && f.Symlink == "" {
				files++
				bytes += f.Size
			}
		}
		if sum.Files < files || sum.Bytes < bytes || len(sum.Failed) != 0 {
			t.Errorf("partition %d: copied %+v, want at least %d files of %d bytes", p.Number, sum, files, bytes)
		}
		if s := tr.Snapshot(); s.Done != s.Total || s.Total < bytes {
			t.Errorf("partition %d: progress %d of %d", p.Number, s.Done, s.Total)
		}
		testutil.CompareTree(t, p.Files, dst, p.FSType)
	}

	// Nothing is overwritten.
	fsys, _ := b.FS(1)
	var some string
	for _, f := range parts[0].Files {
		if !f.Dir && f.Symlink == "" {
			some = f.Path
			break
		}
	}
	taken := filepath.Join(out, "taken")
	if err := os.WriteFile(taken, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(context.Background(), fsys, []string{some}, taken, CopyOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("copy over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "mine" {
		t.Errorf("existing file overwritten: %q", b)
	}
	// A directory needs Recursive.
	if _, err := Copy(context.Background(), fsys, []string{"."}, filepath.Join(out, "norec"), CopyOptions{}); err == nil || !strings.Contains(err.Error(), "-r") {
		t.Errorf("directory without Recursive: %v", err)
	}
	// Too little room: nothing is written.
	small := t.TempDir()
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small)
	defer testutil.Run(t, "umount", small)
	if _, err := Copy(context.Background(), fsys, []string{"."}, filepath.Join(small, "all"), CopyOptions{Recursive: true}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("copy into 1 MiB: %v, want ErrNoSpace", err)
	}
	if ents, _ := os.ReadDir(small); len(ents) != 0 {
		t.Errorf("written into a destination without room: %v", ents)
	}

	// A process that cannot mount.
	mountable = func() error { return ErrNoMount }
	defer func() { mountable = canMount }()
	nb, err := Browse(context.Background(), im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	if nb.Mounted != nil {
		t.Fatal("mounted while it may not")
	}
	for _, p := range parts {
		fsys, err := nb.FS(p.Number)
		if p.FSType != "vfat" && p.FSType != "exfat" {
			if !errors.Is(err, ErrNoMount) {
				t.Errorf("partition %d (%s) without a mount: %v, want ErrNoMount", p.Number, p.FSType, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(out, "nomount-"+p.FSType)
		if _, err := Copy(context.Background(), fsys, []string{"."}, dst, CopyOptions{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		testutil.CompareTree(t, p.Files, dst, p.FSType)
	}
}
