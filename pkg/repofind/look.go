package repofind

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

const (
	configName = "lifeboat-repo.json"
	// topDir is the top-level directory looked into first, in any case.
	topDir = "lifeboat"
	// maxRootEntries bounds the listing of a file system's root: past it
	// only the root and lifeboat are looked at.
	maxRootEntries = 512
	// maxConfig bounds lifeboat-repo.json; a larger one is not read.
	maxConfig = 1 << 20
)

// findRepos looks for repositories in the file system mounted at root: at
// root itself, in lifeboat (any case), and in every other top-level
// directory, without following symbolic links or crossing into other file
// systems. Found has Dir, Images and Err set. The error is for a root that
// cannot be read at all.
func findRepos(root string) ([]Found, error) {
	var rst unix.Stat_t
	if err := unix.Lstat(root, &rst); err != nil {
		return nil, fmt.Errorf("look into %s: %w", root, err)
	}
	var out []Found
	if fd, ok := checkRepo(root); ok {
		out = append(out, fd)
	}
	fh, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("look into %s: %w", root, err)
	}
	ents, err := fh.ReadDir(maxRootEntries + 1)
	fh.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	var names []string
	if len(ents) > maxRootEntries {
		names = []string{topDir, "Lifeboat", "LIFEBOAT"}
	} else {
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		ka, kb := !strings.EqualFold(a, topDir), !strings.EqualFold(b, topDir)
		switch {
		case ka == kb:
			return strings.Compare(a, b)
		case !ka:
			return -1
		}
		return 1
	})
	seen := map[uint64]bool{rst.Ino: true}
	for _, n := range names {
		dir := filepath.Join(root, n)
		var st unix.Stat_t
		if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Dev != rst.Dev || seen[st.Ino] {
			continue // gone, not a directory (a symbolic link), another file system, or seen (FAT's case folding)
		}
		seen[st.Ino] = true
		if fd, ok := checkRepo(dir); ok {
			out = append(out, fd)
		}
	}
	return out, nil
}

// checkRepo reports whether dir holds lifeboat-repo.json and, when it
// does, opens the repository and counts its images.
func checkRepo(dir string) (Found, bool) {
	p := filepath.Join(dir, configName)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return Found{}, false
	}
	fd := Found{Dir: dir}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		fd.Err = fmt.Errorf("repository %s: %s is not a regular file", dir, configName)
	case st.Size > maxConfig:
		fd.Err = fmt.Errorf("repository %s: %s is %d bytes, more than a repository configuration can be (%d)", dir, configName, st.Size, maxConfig)
	default:
		r, err := repo.Open(dir)
		if err != nil {
			fd.Err = err
			break
		}
		imgs, err := r.Images()
		if err != nil {
			fd.Err = err
			break
		}
		fd.Images = len(imgs)
	}
	return fd, true
}
