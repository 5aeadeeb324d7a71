package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountInfoLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    MountInfo
		wantErr string
	}{
		{
			name: "proc(5) example",
			line: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			want: MountInfo{ID: 36, ParentID: 35, Major: 98, Minor: 0, Root: "/mnt1", MountPoint: "/mnt/parent",
				Options: "rw,noatime", Optional: []string{"master:1"}, FSType: "ext3", Source: "/dev/root", SuperOptions: "rw,errors=continue"},
		},
		{
			name: "no optional fields, newline",
			line: "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n",
			want: MountInfo{ID: 26, ParentID: 1, Major: 254, Root: "/", MountPoint: "/", Options: "rw,relatime",
				FSType: "ext4", Source: "/dev/vda", SuperOptions: "rw,discard"},
		},
		{
			name: "several optional fields",
			line: "40 21 0:45 /@data /srv rw shared:40 master:2 propagate_from:1 - btrfs /dev/sdc rw,subvol=/@data",
			want: MountInfo{ID: 40, ParentID: 21, Major: 0, Minor: 45, Root: "/@data", MountPoint: "/srv", Options: "rw",
				Optional: []string{"shared:40", "master:2", "propagate_from:1"}, FSType: "btrfs", Source: "/dev/sdc", SuperOptions: "rw,subvol=/@data"},
		},
		{
			name: "escapes",
			line: `32 22 8:1 /a\134b /mnt/data\040disk\011tab\012nl rw - fuse.my\040fs /dev/sd\040a1 rw,x=a\054b`,
			want: MountInfo{ID: 32, ParentID: 22, Major: 8, Minor: 1, Root: `/a\b`, MountPoint: "/mnt/data disk\ttab\nnl", Options: "rw",
				FSType: "fuse.my fs", Source: "/dev/sd a1", SuperOptions: "rw,x=a,b"},
		},
		{
			name: "not an escape",
			line: `1 0 0:1 / /a\9b\0\07\400 rw - tmpfs tmpfs rw`,
			want: MountInfo{ID: 1, Major: 0, Minor: 1, Root: "/", MountPoint: `/a\9b\0\07\400`, Options: "rw", FSType: "tmpfs", Source: "tmpfs", SuperOptions: "rw"},
		},
		{
			name: "empty source",
			line: "50 1 0:50 / /x rw - tmpfs  rw",
			want: MountInfo{ID: 50, ParentID: 1, Minor: 50, Root: "/", MountPoint: "/x", Options: "rw", FSType: "tmpfs", SuperOptions: "rw"},
		},
		{
			name: "a mount point named -",
			line: `50 1 0:50 / - rw - tmpfs t rw`,
			want: MountInfo{ID: 50, ParentID: 1, Minor: 50, Root: "/", MountPoint: "-", Options: "rw", FSType: "tmpfs", Source: "t", SuperOptions: "rw"},
		},
		{name: "too short", line: "1 2 3:4 / /", wantErr: `mountinfo line "1 2 3:4 / /": 5 fields, want at least 9`},
		{name: "no separator", line: "1 2 3:4 / / rw shared:1 ext4 /dev/x rw", wantErr: `mountinfo line "1 2 3:4 / / rw shared:1 ext4 /dev/x rw": no "-" separator`},
		{name: "bad id", line: "x 2 3:4 / / rw - ext4 /dev/x rw", wantErr: `mountinfo line "x 2 3:4 / / rw - ext4 /dev/x rw": mount id: strconv.Atoi: parsing "x": invalid syntax`},
		{name: "bad parent", line: "1 y 3:4 / / rw - ext4 /dev/x rw", wantErr: `mountinfo line "1 y 3:4 / / rw - ext4 /dev/x rw": parent id: strconv.Atoi: parsing "y": invalid syntax`},
		{name: "bad device", line: "1 2 3 / / rw - ext4 /dev/x rw", wantErr: `mountinfo line "1 2 3 / / rw - ext4 /dev/x rw": device number "3" is not MAJ:MIN`},
		{name: "device too big", line: "1 2 3:4294967296 / / rw - ext4 /dev/x rw", wantErr: `mountinfo line "1 2 3:4294967296 / / rw - ext4 /dev/x rw": device number "3:4294967296": strconv.ParseUint: parsing "4294967296": value out of range`},
		{name: "fields missing after separator", line: "1 2 3:4 / / rw a b - ext4", wantErr: `mountinfo line "1 2 3:4 / / rw a b - ext4": 1 fields after "-", want 3`},
		{name: "extra field after separator", line: "1 2 3:4 / / rw - ext4 /dev/x rw extra", wantErr: `mountinfo line "1 2 3:4 / / rw - ext4 /dev/x rw extra": 4 fields after "-", want 3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMountInfoLine(tc.line)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error\n got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseMountInfoLine (-want +got):\n%s", diff)
			}
			back, err := ParseMountInfoLine(got.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", got.String(), err)
			}
			if diff := cmp.Diff(got, back); diff != "" {
				t.Errorf("round trip through %q (-want +got):\n%s", got.String(), diff)
			}
		})
	}
}

func TestMountInfoString(t *testing.T) {
	m := MountInfo{ID: 7, ParentID: 1, Major: 8, Minor: 1, Root: "/", MountPoint: "/mnt/a b\\c\n", Options: "rw",
		Optional: []string{"shared:1", "-"}, FSType: "ext4", Source: "/dev/sda1", SuperOptions: "rw"}
	want := `7 1 8:1 / /mnt/a\040b\134c\012 rw shared:1 \055 - ext4 /dev/sda1 rw`
	if got := m.String(); got != want {
		t.Errorf("String()\n got %s\nwant %s", got, want)
	}
}

func TestParseMountInfoTable(t *testing.T) {
	got, err := ParseMountInfo(strings.NewReader("26 1 254:0 / / rw - ext4 /dev/vda rw\n\n41 26 7:0 / /tmp/x\\040y rw - ext4 /dev/loop0 rw\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []MountInfo{
		{ID: 26, ParentID: 1, Major: 254, Root: "/", MountPoint: "/", Options: "rw", FSType: "ext4", Source: "/dev/vda", SuperOptions: "rw"},
		{ID: 41, ParentID: 26, Major: 7, Root: "/", MountPoint: "/tmp/x y", Options: "rw", FSType: "ext4", Source: "/dev/loop0", SuperOptions: "rw"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMountInfo (-want +got):\n%s", diff)
	}
	_, err = ParseMountInfo(strings.NewReader(strings.Repeat("x", maxTableLine+1)))
	if err == nil || !strings.HasPrefix(err.Error(), "line 1: ") {
		t.Errorf("overlong line: %v", err)
	}
}

// Every line of every mountinfo fixture parses, and formats back to itself.
func TestMountInfoFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "sysfs", "*", "mountinfo*"))
	if len(files) < 4 {
		t.Fatalf("found %d mountinfo fixtures: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			m, err := ParseMountInfoLine(line)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if got := m.String(); got != line {
				t.Errorf("%s: String()\n got %s\nwant %s", f, got, line)
			}
		}
	}
}

func TestParseSwaps(t *testing.T) {
	in := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" +
		"/dev/sda2                               partition\t8387580\t\t0\t\t-2\n" +
		"/swap\\040file                           file\t\t1048572\t\t512\t\t-3\n" +
		"\n"
	got, err := ParseSwaps(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Swap{
		{Filename: "/dev/sda2", Type: "partition", Size: 8387580, Priority: -2},
		{Filename: "/swap file", Type: "file", Size: 1048572, Used: 512, Priority: -3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSwaps (-want +got):\n%s", diff)
	}
	got, err = ParseSwaps(strings.NewReader("Filename\tType\tSize\tUsed\tPriority\n"))
	if err != nil || got != nil {
		t.Errorf("header only: %v, %v", got, err)
	}

	errs := []struct{ line, want string }{
		{"/dev/sda2 partition 1 0", `swaps line "/dev/sda2 partition 1 0": 4 fields, want 5`},
		{"/dev/sda2 partition x 0 -2", `swaps line "/dev/sda2 partition x 0 -2": size: strconv.ParseInt: parsing "x": invalid syntax`},
		{"/dev/sda2 partition 1 y -2", `swaps line "/dev/sda2 partition 1 y -2": used: strconv.ParseInt: parsing "y": invalid syntax`},
		{"/dev/sda2 partition 1 0 z", `swaps line "/dev/sda2 partition 1 0 z": priority: strconv.Atoi: parsing "z": invalid syntax`},
	}
	for _, e := range errs {
		if _, err := ParseSwapsLine(e.line); err == nil || err.Error() != e.want {
			t.Errorf("ParseSwapsLine(%q)\n got %v\nwant %s", e.line, err, e.want)
		}
	}
	if _, err := ParseSwaps(strings.NewReader("Filename\n/dev/sda2 partition\n")); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("bad table: %v", err)
	}
}

func TestUnescapeOctal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`a\040b`, "a b"},
		{`\134\040`, `\ `},
		{`\377`, "\xff"},
		{`\400`, `\400`},
		{`\08`, `\08`},
		{`tail\04`, `tail\04`},
		{`\`, `\`},
	}
	for _, tc := range tests {
		if got := unescapeOctal(tc.in); got != tc.want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseMountInfoLine(f *testing.F) {
	f.Add("36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
	f.Add(`32 22 8:1 / /mnt/data\040disk rw,relatime shared:32 - ext4 /dev/sda1 rw`)
	f.Add("50 1 0:50 / /x rw - tmpfs  rw")
	f.Add(`1 0 0:1 / /a\9b\0\07\400 rw - tmpfs tmpfs rw`)
	f.Add("1 2 3:4 / / rw - ext4")
	f.Fuzz(func(t *testing.T, line string) {
		m, err := ParseMountInfoLine(line)
		if err != nil {
			return
		}
		s := m.String()
		if strings.ContainsAny(s, "\n\t") {
			t.Fatalf("String() of %q has a newline or tab: %q", line, s)
		}
		back, err := ParseMountInfoLine(s)
		if err != nil {
			t.Fatalf("reparse of %q as %q: %v", line, s, err)
		}
		if diff := cmp.Diff(m, back); diff != "" {
			t.Fatalf("round trip of %q through %q (-want +got):\n%s", line, s, diff)
		}
	})
}

// Any mount point and source survive formatting and parsing.
func FuzzMountInfoRoundTrip(f *testing.F) {
	f.Add("/mnt/data disk", "/dev/sda1", "shared:1", uint32(8), uint32(1))
	f.Add("-", "", "-", uint32(0), uint32(45))
	f.Add("\\040\n\t\\", "a b\x00\xff", "", uint32(1<<32-1), uint32(0))
	f.Fuzz(func(t *testing.T, point, source, optional string, major, minor uint32) {
		m := MountInfo{ID: 1, ParentID: 2, Major: major, Minor: minor, Root: "/", MountPoint: point, Options: "rw",
			FSType: "ext4", Source: source, SuperOptions: "rw"}
		if optional != "" {
			m.Optional = []string{optional}
		}
		back, err := ParseMountInfoLine(m.String())
		if err != nil {
			t.Fatalf("parse %q: %v", m.String(), err)
		}
		if diff := cmp.Diff(m, back); diff != "" {
			t.Fatalf("round trip through %q (-want +got):\n%s", m.String(), diff)
		}
		if !utf8.ValidString(m.String()) {
			t.Fatalf("String() is not UTF-8: %q", m.String())
		}
	})
}

func FuzzParseSwapsLine(f *testing.F) {
	f.Add("/dev/sda2                               partition\t8387580\t\t0\t\t-2")
	f.Add(`/swap\040file file 1 2 3`)
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseSwapsLine(line)
		if err != nil {
			return
		}
		if len(s.Filename) > len(line) || s.Type == "" || strings.ContainsAny(s.Type, " \t\n") {
			t.Fatalf("ParseSwapsLine(%q) = %+v", line, s)
		}
	})
}
