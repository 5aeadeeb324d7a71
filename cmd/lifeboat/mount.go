package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/imagemount"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
)

// mountResult is what mount prints with --json, and what a background
// mount process hands its parent.
type mountResult struct {
	Dir   string            `json:"dir"`
	Image string            `json:"image"`
	PID   int               `json:"pid"`
	Parts []mountResultPart `json:"partitions"`
	Log   string            `json:"log,omitempty"`
	Error string            `json:"error,omitempty"`
}

type mountResultPart struct {
	imagemount.Part
	Path  string `json:"path"`
	Error string `json:"error,omitempty"`
}

func (e *env) mount(ctx context.Context, args []string) error {
	fs := newFlags("mount")
	repoDir := repoFlag(fs)
	name := fs.String("name", "", "image name")
	cache := fs.String("cache", "256M", "memory for decoded extents")
	background := fs.Bool("background", false, "mount, print, and go on in the background")
	asJSON := fs.Bool("json", false, "JSON output")
	readyFD := fs.Int("ready-fd", 0, "") // internal: the background process reports to its parent here
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("mount takes one directory")
	}
	if err := needRepoName(*repoDir, *name, true); err != nil {
		return err
	}
	cacheBytes, err := parseSize(*cache)
	if err != nil || cacheBytes < 8<<20 {
		return usageError(fmt.Sprintf("--cache %q: give a size of at least 8M", *cache))
	}
	dir := pos[0]
	if *background {
		return e.mountBackground(ctx, args, *asJSON)
	}
	var ready *os.File
	if *readyFD > 0 {
		ready = os.NewFile(uintptr(*readyFD), "ready")
	}
	fail := func(err error) error {
		if ready != nil {
			json.NewEncoder(ready).Encode(mountResult{Error: err.Error()})
			ready.Close()
		}
		return err
	}
	im, err := ops.OpenImage(e.opsEnv(), *repoDir, *name)
	if err != nil {
		return fail(err)
	}
	defer im.Close()
	logw := newReadErrorLog(e.stderr)
	m, err := imagemount.Mount(ctx, im, dir, imagemount.Options{CacheBytes: cacheBytes, OnError: logw.log, Repo: *repoDir})
	if err != nil {
		return fail(err)
	}
	res := mountResult{Dir: m.Dir, Image: im.M.Name, PID: os.Getpid()}
	for _, p := range m.Parts {
		rp := mountResultPart{Part: p, Path: p.Dir(m.Dir)}
		if p.Err != nil {
			rp.Error = p.Err.Error()
		}
		res.Parts = append(res.Parts, rp)
	}
	switch {
	case ready != nil:
		json.NewEncoder(ready).Encode(res)
		ready.Close()
	case *asJSON:
		printJSON(e.stdout, res)
	default:
		printMount(e.stdout, res, im.Size())
		fmt.Fprintln(e.stdout, "Press Ctrl-C to unmount.")
	}
	select {
	case <-ctx.Done():
	case <-m.Done():
		// Unmounted from outside (umount DIR): unmount the rest.
	}
	if err := m.Unmount(false); err != nil {
		if !errors.Is(err, imagemount.ErrBusy) {
			return err
		}
		fmt.Fprintf(e.stderr, "lifeboat: %v; detaching it anyway: programs using it get errors from now on\n", err)
		if err := m.Unmount(true); err != nil {
			return err
		}
	}
	if ready == nil && !*asJSON {
		fmt.Fprintf(e.stdout, "Unmounted %s.\n", m.Dir)
	}
	return nil
}

// mountBackground starts this command again as a process of its own that
// mounts and serves the image, waits for it to say it is mounted (or why
// not), and prints that.
func (e *env) mountBackground(ctx context.Context, args []string, asJSON bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var rest []string
	for _, a := range args {
		if a != "--background" && a != "-background" && a != "--background=true" {
			rest = append(rest, a)
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	logPath := fmt.Sprintf("%s/mount-%d.log", imagemount.DefaultStateDir, time.Now().UnixNano())
	if err := os.MkdirAll(imagemount.DefaultStateDir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, append([]string{"mount", "--ready-fd", "3"}, rest...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return err
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var res mountResult
	if err := json.NewDecoder(bufio.NewReader(pr)).Decode(&res); err != nil {
		err = <-exited
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("the mount process ended without mounting (%v): %s", err, strings.TrimSpace(string(out)))
	}
	if res.Error != "" {
		<-exited
		os.Remove(logPath)
		return errors.New(res.Error)
	}
	res.Log = logPath
	cmd.Process.Release()
	if asJSON {
		return printJSON(e.stdout, res)
	}
	printMount(e.stdout, res, -1)
	fmt.Fprintf(e.stdout, "Served by process %d in the background; read errors go to %s.\nUnmount with: lifeboat umount %s\n", res.PID, logPath, res.Dir)
	return nil
}

// printMount says what is where in the mount directory.
func printMount(w io.Writer, res mountResult, size int64) {
	fmt.Fprintf(w, "Image %s mounted read-only at %s:\n", res.Image, res.Dir)
	width := len(imagemount.DiskFile)
	for _, p := range res.Parts {
		width = max(width, len(p.Folder))
	}
	disk := "the whole disk (readable by root only)"
	if size > 0 {
		disk = fmt.Sprintf("the whole disk, %s (readable by root only)", human(size))
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, imagemount.DiskFile, disk)
	for _, p := range res.Parts {
		what := p.FSType
		if what == "" {
			what = "no file system"
		}
		if p.Label != "" {
			what += fmt.Sprintf(" %q", p.Label)
		}
		what += ", " + human(p.Size)
		if p.Error != "" {
			what += "; not mounted: " + p.Error
		} else {
			what += ", by " + p.How
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, p.Folder, what)
	}
}

// readErrorLog writes each read error of the image once a minute at most
// (the kernel retries a failed read, and a directory listing may touch a
// damaged extent many times).
type readErrorLog struct {
	w    io.Writer
	mu   sync.Mutex
	last map[string]time.Time
}

func newReadErrorLog(w io.Writer) *readErrorLog {
	return &readErrorLog{w: w, last: map[string]time.Time{}}
}

func (l *readErrorLog) log(err error) {
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[msg]; ok && time.Since(t) < time.Minute {
		return
	}
	l.last[msg] = time.Now()
	fmt.Fprintf(l.w, "%s lifeboat: read error (the files over it read as I/O errors): %v\n", time.Now().Format("15:04:05"), err)
}

func (e *env) umount(ctx context.Context, args []string) error {
	fs := newFlags("umount")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("umount takes one directory")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := imagemount.UnmountDir(ctx, pos[0], ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Unmounted %s.\n", pos[0])
	return nil
}
