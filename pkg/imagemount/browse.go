package imagemount

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoMount is wrapped by Browser.FS for a partition that could only be
// read through a mount, where this process cannot mount (not root, or no
// FUSE).
var ErrNoMount = errors.New("reading it needs a mount, which needs root and FUSE (/dev/fuse)")

// Browser gives the file systems of an image as io/fs file systems, for
// listing and copying files without a mount of the user's own.
type Browser struct {
	Parts []Part
	// Mounted is the private mount the file systems are read through; nil
	// where this process cannot mount, when only FAT file systems can be
	// read, by Lifeboat's reader.
	Mounted *Mounted
	r       *Reader
	tmp     string
	noMount error
}

// Browse opens img for listing and copying. Where this process can mount
// (root, with /dev/fuse), it mounts img in a private directory under
// os.TempDir(); otherwise FAT and exFAT file systems are still read by
// Lifeboat's own readers and the others give ErrNoMount. Close it when done.
func Browse(ctx context.Context, img Image, opt Options) (*Browser, error) {
	why := mountable()
	if why == nil {
		tmp, err := os.MkdirTemp("", "lifeboat-browse-")
		if err != nil {
			return nil, err
		}
		if opt.StateDir == "" {
			opt.StateDir = filepath.Join(tmp, "state")
		}
		m, err := Mount(ctx, img, filepath.Join(tmp, "image"), opt)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		return &Browser{Parts: m.Parts, Mounted: m, r: m.Reader, tmp: tmp}, nil
	}
	m := img.Manifest()
	r := NewReader(img, m.ExtentSize, opt.CacheBytes)
	r.OnError = opt.OnError
	return &Browser{Parts: partsOf(m, r), r: r, noMount: why}, nil
}

// mountable is canMount; tests replace it.
var mountable = canMount

// canMount says why this process cannot mount, or nil.
func canMount() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root: %w", ErrNoMount)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("no /dev/fuse: %w", ErrNoMount)
	}
	return nil
}

// Part returns the partition numbered n.
func (b *Browser) Part(n int) (Part, error) {
	for _, p := range b.Parts {
		if p.Number == n {
			return p, nil
		}
	}
	return Part{}, fmt.Errorf("the image has no partition %d", n)
}

// FS returns partition n's file system.
func (b *Browser) FS(n int) (fs.FS, error) {
	p, err := b.Part(n)
	if err != nil {
		return nil, err
	}
	if b.Mounted != nil {
		if p.How == "" {
			return nil, fmt.Errorf("partition %d (%s) cannot be read: %w", n, p.Folder, p.Err)
		}
		return os.DirFS(p.Dir(b.Mounted.Dir)), nil
	}
	if fsys, _, err := userReader(b.r, p); err == nil {
		return fsys, nil
	} else if p.FSType == "vfat" || p.FSType == "exfat" {
		return nil, err
	}
	return nil, fmt.Errorf("partition %d (%s): %w", n, p.Folder, b.noMount)
}

// Close unmounts the private mount.
func (b *Browser) Close() error {
	if b.Mounted == nil {
		b.r.Close()
		return nil
	}
	err := b.Mounted.Unmount(true)
	if err == nil {
		os.RemoveAll(b.tmp)
	}
	return err
}
