package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recorder is a Reporter that keeps what is reported.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestFilledDisk makes a FilledDisk and reads every partition back: ext4,
// XFS and btrfs mounted read-only by the kernel, exFAT by exfat-fuse and
// NTFS by ntfs-3g, FAT copied out with mtools. Each holds its label and
// exactly the tree FilledDisk says, times included. The image takes far
// less room than its size. CompareTree is then shown to report a byte
// changed, a file missing, one extra, and a time off by more than FAT's
// precision, but not one within it.
func TestFilledDisk(t *testing.T) {
	start := time.Now()
	img, parts := FilledDisk(t, "filled.img")
	t.Logf("FilledDisk took %v", time.Since(start).Round(time.Millisecond))

	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d MiB, %d MiB of it written", img, st.Size>>20, st.Blocks*512>>20)
	if used := st.Blocks * 512; used > 80<<20 {
		t.Errorf("%s takes %d bytes of its %d: not sparse enough", img, used, st.Size)
	}

	wantTypes := []string{"ext4", "vfat", "exfat", "ntfs", "xfs", "btrfs"}
	if len(parts) != len(wantTypes) {
		t.Fatalf("FilledDisk made %d partitions, want %d", len(parts), len(wantTypes))
	}
	table := Run(t, "sgdisk", "-p", img)
	fatCopy := t.TempDir() // the FAT file system's tree, copied out
	for i, p := range parts {
		if p.Number != i+1 || p.FSType != wantTypes[i] {
			t.Fatalf("partition %d is number %d, %s; want %d, %s", i, p.Number, p.FSType, i+1, wantTypes[i])
		}
		// sgdisk -p: number, first and last sector, size, code, name.
		row := fmt.Sprintf("%d %d %d", p.Number, p.Start/512, (p.Start+p.Size)/512-1)
		if !strings.Contains(strings.Join(strings.Fields(table), " "), row) {
			t.Errorf("partition table of %s has no row %q:\n%s", img, row, table)
		}
		var links, files int
		times := map[time.Time]string{}
		for _, f := range p.Files {
			mt := f.ModTime
			if mt.Year() >= 2026 || mt.Nanosecond() != 0 || mt.Unix()%2 != 0 || times[mt] != "" {
				t.Errorf("partition %d: %q has time %v, want a past time on an even second that no other entry has (%q)", p.Number, f.Path, mt, times[mt])
			}
			times[mt] = f.Path
			if f.Symlink != "" {
				links++
			} else if !f.Dir {
				files++
			}
		}
		if wl := map[bool]int{true: 1, false: 0}[keepsSymlinks(p.FSType)]; links != wl || files < 40 {
			t.Errorf("partition %d (%s) holds %d links and %d files, want %d and at least 40", p.Number, p.FSType, links, files, wl)
		}
		t.Run(p.FSType, func(t *testing.T) {
			dev := AttachAt(t, img, p.Start, p.Size)
			defer DetachOver(t, dev, img, p.Start)
			got := strings.TrimSpace(Run(t, "blkid", "-p", "-o", "value", "-s", "TYPE", "-s", "LABEL", dev))
			if want := p.Label + "\n" + p.FSType; got != want && got != p.FSType+"\n"+p.Label {
				t.Errorf("blkid of partition %d: %q, want label %s and type %s", p.Number, got, p.Label, p.FSType)
			}
			switch p.FSType {
			case "vfat":
				runEnv(t, []string{"LC_ALL=C.UTF-8"}, "mcopy", "-s", "-m", "-Q", "-i", img+"@@"+strconv.FormatInt(p.Start, 10), "::/*", fatCopy+"/")
				CompareTree(t, p.Files, fatCopy, p.FSType)
			case "exfat":
				WithFUSE(t, "mount.exfat-fuse", dev, true, func(dir string) { CompareTree(t, p.Files, dir, p.FSType) })
			case "ntfs":
				WithFUSE(t, "ntfs-3g", dev, true, func(dir string) { CompareTree(t, p.Files, dir, p.FSType) })
			default:
				mnt := t.TempDir()
				Run(t, "mount", "-t", p.FSType, "-o", "ro", dev, mnt)
				defer Run(t, "umount", mnt)
				CompareTree(t, p.Files, mnt, p.FSType)
			}
		})
	}
	if t.Failed() {
		return
	}

	t.Run("CompareTreeFails", func(t *testing.T) {
		want := parts[1].Files
		var victim, gone FileInfo
		for _, f := range want {
			if !f.Dir && f.Size > 100 && victim.Path == "" {
				victim = f
			} else if !f.Dir && f.Size > 0 && f.Path != victim.Path {
				gone = f
			}
		}
		flip := func(path string) {
			p := filepath.Join(fatCopy, filepath.FromSlash(path))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x20
			WriteAt(t, p, b[len(b)/2:len(b)/2+1], int64(len(b)/2))
			if err := os.Chtimes(p, victim.ModTime, victim.ModTime); err != nil {
				t.Fatal(err)
			}
		}
		expect := func(what string, wantSubs ...string) {
			t.Helper()
			var r recorder
			CompareTree(&r, want, fatCopy, "vfat")
			if len(r.errs) != len(wantSubs) {
				t.Fatalf("%s: CompareTree reported %d differences, want %d: %q", what, len(r.errs), len(wantSubs), r.errs)
			}
			for i, s := range wantSubs {
				if !strings.Contains(r.errs[i], s) {
					t.Errorf("%s: CompareTree reported %q, want it to say %q", what, r.errs[i], s)
				}
			}
		}

		expect("unchanged copy")
		flip(victim.Path)
		expect("one byte changed", strconv.Quote(victim.Path)+" has other content")
		flip(victim.Path)
		expect("byte changed back")

		p := filepath.Join(fatCopy, filepath.FromSlash(victim.Path))
		if err := os.Chtimes(p, victim.ModTime, victim.ModTime.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		expect("time 1 s off on FAT")
		if err := os.Chtimes(p, victim.ModTime, victim.ModTime.Add(-2*time.Second)); err != nil {
			t.Fatal(err)
		}
		expect("time 2 s off on FAT", strconv.Quote(victim.Path)+" was modified")
		if err := os.Chtimes(p, victim.ModTime, victim.ModTime); err != nil {
			t.Fatal(err)
		}

		g := filepath.Join(fatCopy, filepath.FromSlash(gone.Path))
		if err := os.Rename(g, g+".old"); err != nil {
			t.Fatal(err)
		}
		expect("file renamed", "extra a file "+strconv.Quote(gone.Path+".old"), "missing a file "+strconv.Quote(gone.Path))
	})
}

// TestWalkTreeSkips checks that WalkTree leaves out the file systems' own
// directories at the root but not elsewhere, and describes a link, a
// directory and a file.
func TestWalkTreeSkips(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"lost+found/x", "System Volume Information", "$RECYCLE.BIN", "a/lost+found"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "f"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range WalkTree(t, dir) {
		got = append(got, fmt.Sprintf("%s dir=%v link=%q size=%d sha=%.8s", f.Path, f.Dir, f.Symlink, f.Size, f.SHA256))
	}
	want := []string{
		`a dir=true link="" size=0 sha=`,
		`a/f dir=false link="" size=3 sha=ba7816bf`,
		`a/lost+found dir=true link="" size=0 sha=`,
		`l dir=false link="a/f" size=0 sha=`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("WalkTree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
