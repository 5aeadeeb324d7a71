package kmod

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxIndexFile bounds each index file read.
const maxIndexFile = 64 << 20

// Index is the module index of one kernel release.
type Index struct {
	Dir string // the modules directory: /lib/modules/RELEASE

	deps    map[string][]string // module path (relative to Dir) -> its dependencies' paths
	byName  map[string]string   // module name -> path
	builtin map[string]bool     // module names built into the kernel
	aliases []alias
	// softdeps are the modules to load before (pre) and after (post) a
	// module, by name or alias, as modules.softdep says.
	softPre, softPost map[string][]string

	mu     sync.Mutex
	loaded map[string]bool // module names loaded (or found loaded) through this Index
	// softFailed are soft dependencies that failed to load (a driver for
	// a CPU feature this one lacks): not tried again.
	softFailed map[string]bool
}

type alias struct {
	pattern string
	prefix  string // the pattern up to its first wildcard, to match fast
	module  string
}

// finitModule asks the kernel to load a module; tests replace it.
var finitModule = unix.FinitModule

// Name is a module's name as the kernel knows it: the file name without
// .ko, with dashes as underscores.
func Name(s string) string {
	s = path.Base(s)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(s, "-", "_")
}

// DefaultDir is /lib/modules/ of the running kernel's release.
func DefaultDir() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

// Open reads the index in dir.
func Open(dir string) (*Index, error) {
	ix := &Index{Dir: dir, loaded: map[string]bool{}}
	err := readIndexFile(filepath.Join(dir, "modules.dep"), func(r io.Reader) (err error) {
		ix.deps, ix.byName, err = parseDep(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = readIndexFile(filepath.Join(dir, "modules.alias"), func(r io.Reader) (err error) {
		ix.aliases, err = parseAlias(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = readIndexFile(filepath.Join(dir, "modules.builtin"), func(r io.Reader) (err error) {
		ix.builtin, err = parseBuiltin(r)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		ix.builtin, err = map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	err = readIndexFile(filepath.Join(dir, "modules.softdep"), func(r io.Reader) (err error) {
		ix.softPre, ix.softPost, err = parseSoftdep(r)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// parseSoftdep parses modules.softdep: "softdep MODULE pre: A B post: C",
// the modules a module wants loaded before and after it without depending
// on their symbols (a crypto driver for the algorithm it asks for). As
// with modprobe, a module's first line is the one that counts.
func parseSoftdep(r io.Reader) (pre, post map[string][]string, err error) {
	pre, post = map[string][]string{}, map[string][]string{}
	seen := map[string]bool{}
	err = scanLines(r, func(l string) error {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "softdep" {
			return nil // comments and other lines
		}
		m := Name(f[1])
		if seen[m] {
			return nil
		}
		seen[m] = true
		var to map[string][]string
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				to = pre
			case "post:":
				to = post
			default:
				if to != nil && len(to[m]) < 64 {
					to[m] = append(to[m], w)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return pre, post, nil
}

// readIndexFile opens the index file p and hands it to parse.
func readIndexFile(p string, parse func(io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read module index: %w", err)
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("read module index %s: %w", p, err)
	}
	return nil
}

// parseDep parses modules.dep: "path: dependency paths...", the paths
// relative to the modules directory. It returns each module's
// dependencies by path, and each module's path by name.
func parseDep(r io.Reader) (deps map[string][]string, byName map[string]string, err error) {
	deps, byName = map[string][]string{}, map[string]string{}
	err = scanLines(r, func(l string) error {
		mod, rest, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("no colon in %q", l)
		}
		deps[mod] = strings.Fields(rest)
		byName[Name(mod)] = mod
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return deps, byName, nil
}

// parseAlias parses modules.alias: "alias PATTERN MODULE". Other lines
// are passed over.
func parseAlias(r io.Reader) ([]alias, error) {
	var out []alias
	err := scanLines(r, func(l string) error {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" {
			return nil // comments and other lines
		}
		p := f[1]
		pre := p
		if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
			pre = p[:i]
		}
		out = append(out, alias{pattern: p, prefix: pre, module: Name(f[2])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseBuiltin parses modules.builtin: the paths of the modules built
// into the kernel. It returns their names.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	err := scanLines(r, func(l string) error {
		out[Name(l)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanLines calls fn with each line of r (up to maxIndexFile bytes) that
// is neither blank nor a comment, trimmed.
func scanLines(r io.Reader, fn func(string) error) error {
	sc := bufio.NewScanner(io.LimitReader(r, maxIndexFile))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// Resolve returns the modules a name or an alias stands for: the module of
// that name, or every module with a matching alias. Built-in modules are
// included (loading them does nothing).
func (ix *Index) Resolve(name string) []string {
	n := Name(name)
	if _, ok := ix.byName[n]; ok || ix.builtin[n] {
		return []string{n}
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range ix.aliases {
		if !strings.HasPrefix(name, a.prefix) || seen[a.module] {
			continue
		}
		if match(a.pattern, name) {
			seen[a.module] = true
			out = append(out, a.module)
		}
	}
	return out
}

// Has reports whether the index knows the module (as a file or built in).
func (ix *Index) Has(name string) bool {
	n := Name(name)
	_, ok := ix.byName[n]
	return ok || ix.builtin[n]
}

// match reports whether name matches the shell pattern as fnmatch(3)
// with no flags does, which is how modprobe matches modules.alias: '*'
// matches any bytes and '?' any one byte, '/' included (a DMI modalias
// holds a date, "bd04/01/2014"); [...] matches one byte of a set, negated
// by a leading '!' or '^', with ranges (a-z); a backslash quotes the next
// byte. A '[' with no closing ']' matches itself. Character classes
// ([:digit:]) and collating symbols are not understood: depmod writes
// none.
func match(pattern, name string) bool {
	p, n := 0, 0
	star, starN := -1, 0 // the last '*' seen, and where in name it matches up to
	for n < len(name) {
		if p < len(pattern) {
			if pattern[p] == '*' {
				star, starN = p, n
				p++
				continue
			}
			if w := matchOne(pattern[p:], name[n]); w > 0 {
				p += w
				n++
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last '*' take one more byte and try again from there.
		starN++
		p, n = star+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches the byte c against the pattern element (not '*') at
// the start of pattern. It returns the element's length, or 0 if c does
// not match.
func matchOne(pattern string, c byte) int {
	switch pattern[0] {
	case '?':
		return 1
	case '\\':
		if len(pattern) > 1 && pattern[1] == c {
			return 2
		}
		return 0 // a trailing backslash matches nothing
	case '[':
		if w, ok := matchSet(pattern, c); w > 0 {
			if ok {
				return w
			}
			return 0
		}
	}
	if pattern[0] == c {
		return 1
	}
	return 0
}

// matchSet matches c against the bracket expression at the start of
// pattern. It returns the expression's length and whether c is in the
// set, or a length of 0 if the expression has no closing ']'.
func matchSet(pattern string, c byte) (int, bool) {
	i := 1
	negate := i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^')
	if negate {
		i++
	}
	in := false
	for first := true; ; first = false {
		if i >= len(pattern) {
			return 0, false
		}
		if pattern[i] == ']' && !first {
			return i + 1, in != negate
		}
		lo, w := setByte(pattern[i:])
		if w == 0 {
			return 0, false
		}
		i += w
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			if hi, w = setByte(pattern[i+1:]); w == 0 {
				return 0, false
			}
			i += 1 + w
		}
		if lo <= c && c <= hi {
			in = true
		}
	}
}

// setByte returns the byte a bracket expression's element stands for, and
// the element's length: 2 for a quoted byte, 0 for a backslash that ends
// the pattern.
func setByte(s string) (byte, int) {
	if s[0] != '\\' {
		return s[0], 1
	}
	if len(s) < 2 {
		return 0, 0
	}
	return s[1], 2
}

// Load loads a module by name, after the modules it depends on. params are
// the module's parameters ("" for none). Like modprobe, it loads each
// module's soft dependencies around it (pre before, post after), by name
// or alias; one that is missing or fails to load is passed over, and one
// that failed is not tried again.
func (ix *Index) Load(name, params string) error {
	return ix.load(name, params, map[string]bool{})
}

func (ix *Index) load(name, params string, visiting map[string]bool) error {
	n := Name(name)
	if ix.builtin[n] {
		return nil
	}
	p, ok := ix.byName[n]
	if !ok {
		return fmt.Errorf("load module %s: not in %s", name, ix.Dir)
	}
	files := ix.loadOrder(p)
	// The module's own pre soft dependencies come first, before its hard
	// ones; each hard one's come just before it.
	ix.loadSoft(ix.softPre[n], visiting)
	for i, f := range files {
		fp := ""
		if i == len(files)-1 {
			fp = params
		} else {
			ix.loadSoft(ix.softPre[Name(f)], visiting)
		}
		if err := ix.loadFile(f, fp); err != nil {
			if i < len(files)-1 {
				return fmt.Errorf("load module %s: dependency: %w", name, err)
			}
			return err
		}
		ix.loadSoft(ix.softPost[Name(f)], visiting)
	}
	return nil
}

// loadSoft loads soft dependencies: every module each name or alias
// stands for, once per Load, their errors passed over.
func (ix *Index) loadSoft(names []string, visiting map[string]bool) {
	for _, s := range names {
		for _, m := range ix.Resolve(s) {
			ix.mu.Lock()
			failed := ix.softFailed[m]
			ix.mu.Unlock()
			if visiting[m] || failed {
				continue
			}
			visiting[m] = true
			if err := ix.load(m, "", visiting); err != nil {
				ix.mu.Lock()
				if ix.softFailed == nil {
					ix.softFailed = map[string]bool{}
				}
				ix.softFailed[m] = true
				ix.mu.Unlock()
			}
		}
	}
}

// loadOrder returns the files to load, in order, for the module at path p:
// its dependencies, each once and after those it needs, then p. depmod
// lists every dependency, however indirect, the deepest last, so the
// order is that list reversed.
func (ix *Index) loadOrder(p string) []string {
	deps := ix.deps[p]
	out := make([]string, 0, len(deps)+1)
	seen := map[string]bool{p: true}
	for i := len(deps) - 1; i >= 0; i-- {
		if !seen[deps[i]] {
			seen[deps[i]] = true
			out = append(out, deps[i])
		}
	}
	return append(out, p)
}

func (ix *Index) loadFile(rel, params string) error {
	n := Name(rel)
	ix.mu.Lock()
	done := ix.loaded[n]
	ix.mu.Unlock()
	if done {
		return nil
	}
	full := filepath.Join(ix.Dir, rel)
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("load module %s: %w", n, err)
	}
	defer f.Close()
	err = finitModule(int(f.Fd()), params, 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s from %s: %w", n, full, err)
	}
	ix.mu.Lock()
	ix.loaded[n] = true
	ix.mu.Unlock()
	return nil
}

// Modaliases returns the distinct modalias strings of the devices under
// sysRoot/devices.
func Modaliases(sysRoot string) ([]string, error) {
	seen := map[string]bool{}
	root := filepath.Join(sysRoot, "devices")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // a device that went away, an unreadable directory
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if d.Name() != "modalias" || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) > 4096 {
			return nil
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			seen[s] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list modaliases under %s: %w", root, err)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// Result is what ForHardware did.
type Result struct {
	Loaded []string         // modules loaded, in order
	Failed map[string]error // modules that would not load
	Passes int
}

// ForHardware loads the modules for the devices under sysRoot, pass after
// pass (each waiting settle for new devices to appear), until a pass loads
// nothing new or ctx ends.
func (ix *Index) ForHardware(ctx context.Context, sysRoot string, settle time.Duration) (Result, error) {
	res := Result{Failed: map[string]error{}}
	tried := map[string]bool{}
	for {
		res.Passes++
		aliases, err := Modaliases(sysRoot)
		if err != nil {
			return res, err
		}
		var todo []string
		for _, a := range aliases {
			for _, m := range ix.Resolve(a) {
				if !tried[m] {
					tried[m] = true
					todo = append(todo, m)
				}
			}
		}
		if len(todo) == 0 {
			return res, nil
		}
		for _, m := range todo {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if ix.builtin[m] {
				continue
			}
			if err := ix.Load(m, ""); err != nil {
				res.Failed[m] = err
				continue
			}
			res.Loaded = append(res.Loaded, m)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(settle):
		}
	}
}
