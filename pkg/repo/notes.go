package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
)

const (
	noteExt = ".note.json"
	maxNote = 64 << 10 // the note object, JSON-escaped
)

// Note is an image's note set after its capture: images/<name>.note.json.
// It replaces the note given at capture (an empty Text removes it).
type Note struct {
	Text    string    `json:"note"`
	Updated time.Time `json:"updated"`
}

// NotePath is the path of an image's note object, relative to the
// repository.
func NotePath(name string) string { return imagesDir + "/" + name + noteExt }

// ParseNote parses a note object and checks its text (image.ValidNote).
func ParseNote(b []byte) (Note, error) {
	var n Note
	if len(b) > maxNote {
		return n, fmt.Errorf("note object of %d bytes: at most %d", len(b), maxNote)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return Note{}, fmt.Errorf("note object: %w", err)
	}
	if err := image.ValidNote(n.Text); err != nil {
		return Note{}, err
	}
	return n, nil
}

// ReadNote reads an image's note object; ok is false when it has none.
func (r *Repo) ReadNote(name string) (n Note, ok bool, err error) {
	if err := image.ValidName(name); err != nil {
		return n, false, err
	}
	p := filepath.Join(r.dir, NotePath(name))
	if r.remote != nil {
		b, err := r.remoteGet(NotePath(name), nil, maxNote)
		if errors.Is(err, fs.ErrNotExist) {
			return n, false, nil
		}
		if err != nil {
			return n, false, fmt.Errorf("read note of %s: %w", name, err)
		}
		if n, err = ParseNote(b); err != nil {
			return n, false, fmt.Errorf("note of %s (%s/%s): %w", name, r.dir, NotePath(name), err)
		}
		return n, true, nil
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return n, false, nil
		}
		return n, false, fmt.Errorf("read note of %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNote+1))
	if err != nil {
		return n, false, fmt.Errorf("read note of %s: %w", name, err)
	}
	n, err = ParseNote(b)
	if err != nil {
		return n, false, fmt.Errorf("note of %s (%s): %w", name, p, err)
	}
	return n, true, nil
}

// NoteOf is an image's note: its note object's when it has one, else the
// one its manifest was captured with.
func (r *Repo) NoteOf(m *image.Manifest) (string, error) {
	n, ok, err := r.ReadNote(m.Name)
	if err != nil || !ok {
		return m.Note, err
	}
	return n.Text, nil
}

// SetNote sets an image's note, replacing the note object atomically
// (written beside it, synced, renamed over it). The image must exist.
func (r *Repo) SetNote(name, text string) error {
	if r.remote != nil {
		return r.readOnly("set the note of " + name)
	}
	if err := image.ValidName(name); err != nil {
		return err
	}
	if err := image.ValidNote(text); err != nil {
		return fmt.Errorf("note of %s: %w", name, err)
	}
	if ok, err := r.HasImage(name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("note of %s in %s: %w", name, r.dir, ErrNoImage)
	}
	b, _ := json.MarshalIndent(Note{Text: text, Updated: time.Now().UTC().Truncate(time.Second)}, "", "  ")
	if err := replaceFileAtomic(filepath.Join(r.dir, NotePath(name)), append(b, '\n')); err != nil {
		return fmt.Errorf("write note of %s: %w", name, err)
	}
	return nil
}

// replaceFileAtomic writes data beside path, syncs it and renames it over
// path, then syncs the directory.
func replaceFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(filepath.Dir(path), data, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}
