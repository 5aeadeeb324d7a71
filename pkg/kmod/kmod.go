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

	mu     sync.Mutex
	loaded map[string]bool // module names loaded (or found loaded) through this Index
}

type alias struct {
	pattern string
	prefix  string // the pattern up to its first wildcard, to match fast
	module  string
}

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
	ix := &Index{Dir: dir, deps: map[string][]string{}, byName: map[string]string{}, builtin: map[string]bool{}, loaded: map[string]bool{}}
	err := readLines(filepath.Join(dir, "modules.dep"), func(l string) error {
		mod, rest, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("no colon in %q", l)
		}
		ix.deps[mod] = strings.Fields(rest)
		ix.byName[Name(mod)] = mod
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readLines(filepath.Join(dir, "modules.alias"), func(l string) error {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" {
			return nil // comments and other lines
		}
		p := f[1]
		pre := p
		if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
			pre = p[:i]
		}
		ix.aliases = append(ix.aliases, alias{pattern: p, prefix: pre, module: Name(f[2])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readLines(filepath.Join(dir, "modules.builtin"), func(l string) error {
		ix.builtin[Name(l)] = true
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return ix, nil
}

func readLines(p string, fn func(string) error) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read module index: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxIndexFile))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return fmt.Errorf("%s line %d: %w", p, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
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
		if ok, err := path.Match(a.pattern, name); err == nil && ok {
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

// Load loads a module by name, after the modules it depends on. params are
// the module's parameters ("" for none).
func (ix *Index) Load(name, params string) error {
	n := Name(name)
	if ix.builtin[n] {
		return nil
	}
	p, ok := ix.byName[n]
	if !ok {
		return fmt.Errorf("load module %s: not in %s", name, ix.Dir)
	}
	// Dependencies as depmod lists them: the deepest last; load those first.
	deps := ix.deps[p]
	for i := len(deps) - 1; i >= 0; i-- {
		if err := ix.loadFile(deps[i], ""); err != nil {
			return fmt.Errorf("load module %s: dependency: %w", name, err)
		}
	}
	return ix.loadFile(p, params)
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
	err = unix.FinitModule(int(f.Fd()), params, 0)
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
