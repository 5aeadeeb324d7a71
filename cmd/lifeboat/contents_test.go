package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// labelledParts are the partitions of testutil.LabelledDisk: number, file
// system as listed, label.
var labelledParts = [][3]string{{"1", "ext4", "LBROOT"}, {"2", "FAT", "LBBOOT"}, {"3", "ntfs", "LBDATA"}}

// isAmount reports whether f ends in an amount as human prints it, more
// than zero: "1.9 MiB".
func isAmount(f []string) bool {
	if len(f) < 2 || !strings.HasSuffix(f[len(f)-1], "iB") && f[len(f)-1] != "B" {
		return false
	}
	v, err := strconv.ParseFloat(f[len(f)-2], 64)
	return err == nil && v > 0
}

// TestRestoreShowsTargetContents: before a restore overwrites a block
// device, the confirmation lists each of its partitions with file system,
// label, size and the space in use, read from the device itself; a wrong
// answer writes nothing. The device is a loop device over a disk whose
// file systems were made by mkfs.ext4, mkfs.vfat and mkfs.ntfs.
func TestRestoreShowsTargetContents(t *testing.T) {
	testutil.Root(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	if r := lifeboat(t, "", "capture", "--repo", repoDir, "--name", "demo", demoDisk(t, dir)); r.code != 0 {
		t.Fatal(r)
	}
	tgt := testutil.Loop(t, testutil.LabelledDisk(t, "labelled.img"), 0)
	before := testutil.HashFile(t, tgt, -1)
	r := lifeboat(t, "nope\n", "restore", "--repo", repoDir, "--name", "demo", tgt)
	if r.code != exitRefused || !strings.Contains(r.err.Error(), "nothing was written") {
		t.Fatal(r)
	}
	if testutil.HashFile(t, tgt, -1) != before {
		t.Fatal("a wrong answer changed the target")
	}
	_, listing, ok := strings.Cut(r.stderr, "TARGET")
	listing, _, ok2 := strings.Cut(listing, "IMAGE")
	if !ok || !ok2 || !strings.Contains(listing, "gpt partition table, 3 partitions") {
		t.Fatalf("no listing of the target:\n%s", r.stderr)
	}
	t.Logf("confirmation:\n%s", r.stderr)
	for _, want := range labelledParts {
		found := false
		for _, l := range strings.Split(listing, "\n") {
			f := strings.Fields(l)
			if len(f) < 8 || f[0] != want[0] {
				continue
			}
			found = true
			// # SIZE START TYPE FS LABEL USED, sizes in two fields.
			if f[1] != "30.0" || f[2] != "MiB" || !strings.Contains(l, " "+want[1]) || !strings.Contains(l, " "+want[2]+" ") || !isAmount(f) {
				t.Errorf("partition %s is listed as %q, want size 30.0 MiB, %s, %s and the space in use", want[0], l, want[1], want[2])
			}
		}
		if !found {
			t.Errorf("partition %s is not listed:\n%s", want[0], listing)
		}
	}
}

// TestDisksShowsFileSystems: lifeboat disks lists a block device's
// partitions with file system, label and space in use, in its table and
// in --json.
func TestDisksShowsFileSystems(t *testing.T) {
	testutil.Root(t)
	tgt := testutil.Loop(t, testutil.LabelledDisk(t, "labelled.img"), 0)
	r := lifeboat(t, "", "disks")
	if r.code != 0 {
		t.Fatal(r)
	}
	_, rows, ok := strings.Cut(r.stdout, tgt+" ")
	if !ok {
		t.Fatalf("%s is not listed:\n%s", tgt, r.stdout)
	}
	lines := strings.Split(rows, "\n")
	if len(lines) < 4 {
		t.Fatalf("%s has no partition rows:\n%s", tgt, r.stdout)
	}
	t.Logf("lifeboat disks, from %s:\n%s", tgt, strings.Join(lines[:4], "\n"))
	for i, want := range labelledParts {
		l := lines[1+i]
		if !strings.Contains(l, "30.0 MiB") || !strings.Contains(l, " "+want[1]) || !strings.Contains(l, `"`+want[2]+`"`) || !strings.Contains(l, " used") {
			t.Errorf("partition %s of %s is listed as %q, want 30.0 MiB, %s %q and the space in use", want[0], tgt, l, want[1], want[2])
		}
	}

	r = lifeboat(t, "", "disks", "--json")
	if r.code != 0 {
		t.Fatal(r)
	}
	var disks []struct {
		Path  string
		Table *struct {
			Partitions []struct {
				Number    int    `json:"number"`
				Size      int64  `json:"size"`
				FS        string `json:"fs"`
				FSVersion string `json:"fs_version"`
				FSLabel   string `json:"fs_label"`
				UsedBytes int64  `json:"used_bytes"`
			} `json:"partitions"`
		} `json:"table"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &disks); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	for _, d := range disks {
		if d.Path != tgt {
			continue
		}
		if d.Table == nil || len(d.Table.Partitions) != 3 {
			t.Fatalf("%s in JSON: %+v", tgt, d)
		}
		for i, p := range d.Table.Partitions {
			want := labelledParts[i]
			fs := p.FS
			if fs == "vfat" {
				fs = p.FSVersion
			}
			if strconv.Itoa(p.Number) != want[0] || !strings.HasPrefix(fs, want[1]) || p.FSLabel != want[2] ||
				p.Size != 30<<20 || p.UsedBytes <= 0 || p.UsedBytes >= p.Size {
				t.Errorf("partition %d in JSON: %+v, want %s %s, 30 MiB, some of it in use", i+1, p, want[1], want[2])
			}
		}
		return
	}
	t.Fatalf("%s is not in the JSON:\n%s", tgt, r.stdout)
}
