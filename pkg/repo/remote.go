package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/store"
)

// IsRemote reports whether a repository location is a URL rather than a
// directory: http:// or https:// (read-only).
func IsRemote(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// ErrReadOnly is wrapped by what would write to a repository that is read
// here (a web server's).
var ErrReadOnly = store.ErrReadOnly

// openRemote opens the repository at a URL.
func openRemote(loc string) (*Repo, error) {
	st, err := store.NewHTTP(loc)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", loc, err)
	}
	b, err := st.Get(context.Background(), configName, nil, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open repository %s: %w (no %s there)", loc, ErrNotRepository, configName)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", loc, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil || c.Format != "lifeboat-repository" {
		return nil, fmt.Errorf("open repository %s: %w (%s is not a Lifeboat repository configuration)", loc, ErrNotRepository, configName)
	}
	if c.Version != FormatVersion {
		return nil, fmt.Errorf("open repository %s: layout version %d, this Lifeboat reads version %d", loc, c.Version, FormatVersion)
	}
	return &Repo{dir: st.Location(), remote: st, newDirs: map[string]bool{}}, nil
}

// Remote reports whether the repository is read from a URL.
func (r *Repo) Remote() bool { return r.remote != nil }

// readOnly is the error of a write to a remote repository.
func (r *Repo) readOnly(what string) error {
	return fmt.Errorf("%s in %s: %w (repositories on web servers are read-only)", what, r.dir, ErrReadOnly)
}

// remoteGet reads object key of a remote repository.
func (r *Repo) remoteGet(key string, buf []byte, max int64) ([]byte, error) {
	return r.remote.Get(context.Background(), key, buf, max)
}
