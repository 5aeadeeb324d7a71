package inventory

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/PID/mountinfo (see proc(5)), with the
// octal escapes of its text fields decoded.
type MountInfo struct {
	ID, ParentID int
	Major, Minor uint32 // st_dev of files on the mount; major 0 is an anonymous device
	Root         string // the directory of the file system mounted here
	MountPoint   string
	Options      string   // per-mount options
	Optional     []string // optional fields such as "shared:1"; nil when none
	FSType       string
	Source       string
	SuperOptions string
}

// ParseMountInfoLine parses one mountinfo line (without or with its trailing
// newline):
//
//	36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields are separated by single spaces; the kernel writes a space, tab,
// newline or backslash inside a field as \040, \011, \012 or \134, and every
// \NNN octal escape is decoded.
func ParseMountInfoLine(line string) (MountInfo, error) {
	line = strings.TrimSuffix(line, "\n")
	f := strings.Split(line, " ")
	if len(f) < 9 {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: %d fields, want at least 9", clip(line), len(f))
	}
	var m MountInfo
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: mount id: %w", clip(line), err)
	}
	if m.ParentID, err = strconv.Atoi(f[1]); err != nil {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: parent id: %w", clip(line), err)
	}
	n, err := parseDevNum(f[2])
	if err != nil {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: %w", clip(line), err)
	}
	m.Major, m.Minor = n.major, n.minor
	m.Root = unescapeOctal(f[3])
	m.MountPoint = unescapeOctal(f[4])
	m.Options = unescapeOctal(f[5])
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: no \"-\" separator", clip(line))
	}
	for _, o := range f[6:sep] {
		m.Optional = append(m.Optional, unescapeOctal(o))
	}
	rest := f[sep+1:]
	if len(rest) != 3 {
		return MountInfo{}, fmt.Errorf("mountinfo line %q: %d fields after \"-\", want 3", clip(line), len(rest))
	}
	m.FSType = unescapeOctal(rest[0])
	m.Source = unescapeOctal(rest[1])
	m.SuperOptions = unescapeOctal(rest[2])
	return m, nil
}

// String formats m as a mountinfo line (without a newline), escaping as the
// kernel does, so that ParseMountInfoLine(m.String()) gives m back.
func (m MountInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d %d:%d %s %s %s", m.ID, m.ParentID, m.Major, m.Minor,
		escapeOctal(m.Root), escapeOctal(m.MountPoint), escapeOctal(m.Options))
	for _, o := range m.Optional {
		b.WriteByte(' ')
		if o == "-" {
			b.WriteString(`\055`) // not the separator
			continue
		}
		b.WriteString(escapeOctal(o))
	}
	fmt.Fprintf(&b, " - %s %s %s", escapeOctal(m.FSType), escapeOctal(m.Source), escapeOctal(m.SuperOptions))
	return b.String()
}

// ParseMountInfo parses a whole mountinfo table. Blank lines are skipped.
func ParseMountInfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	err := eachLine(r, func(n int, line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		m, err := ParseMountInfoLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// Swap is one line of /proc/swaps.
type Swap struct {
	Filename string // decoded like a mountinfo field
	Type     string // "partition" or "file"
	Size     int64  // KiB
	Used     int64  // KiB
	Priority int
}

// ParseSwapsLine parses one line of /proc/swaps below its header:
//
//	/dev/sda2                               partition	8388604		0		-2
//
// The kernel escapes white space and backslashes in the file name as in
// mountinfo, so fields are separated by runs of spaces and tabs.
func ParseSwapsLine(line string) (Swap, error) {
	f := strings.Fields(line)
	if len(f) != 5 {
		return Swap{}, fmt.Errorf("swaps line %q: %d fields, want 5", clip(line), len(f))
	}
	s := Swap{Filename: unescapeOctal(f[0]), Type: f[1]}
	var err error
	if s.Size, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return Swap{}, fmt.Errorf("swaps line %q: size: %w", clip(line), err)
	}
	if s.Used, err = strconv.ParseInt(f[3], 10, 64); err != nil {
		return Swap{}, fmt.Errorf("swaps line %q: used: %w", clip(line), err)
	}
	if s.Priority, err = strconv.Atoi(f[4]); err != nil {
		return Swap{}, fmt.Errorf("swaps line %q: priority: %w", clip(line), err)
	}
	return s, nil
}

// ParseSwaps parses the whole of /proc/swaps, header included.
func ParseSwaps(r io.Reader) ([]Swap, error) {
	var out []Swap
	err := eachLine(r, func(n int, line string) error {
		if strings.TrimSpace(line) == "" || (n == 1 && strings.HasPrefix(line, "Filename")) {
			return nil
		}
		s, err := ParseSwapsLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func eachLine(r io.Reader, fn func(n int, line string) error) error {
	lr := &io.LimitedReader{R: r, N: maxTableSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxTableLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	if lr.N <= 0 {
		return fmt.Errorf("longer than %d bytes", maxTableSize)
	}
	return nil
}

// readTable opens name and parses it with parse. A missing file is an
// error unless optional.
func readTable[T any](name string, optional bool, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(name)
	if optional && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathError("read", name, err)
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// unescapeOctal decodes the \NNN octal escapes the kernel writes in
// /proc tables. A backslash not followed by three octal digits of a value
// below 0400 is kept as it is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b = append(b, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// escapeOctal is the inverse of unescapeOctal: it writes space, tab, newline,
// carriage return, backslash and any byte that is not printable ASCII as
// \NNN. An empty string stays empty, as the kernel writes it.
func escapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '\\' || c >= 0x7f {
			fmt.Fprintf(&b, `\%03o`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
