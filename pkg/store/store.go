package store

import (
	"context"
	"errors"
)

// Store holds a repository's objects.
type Store interface {
	// Get reads object key whole, into buf when it is large enough. An
	// object larger than max bytes is refused (ErrTooLarge) before it is
	// read; a missing one is fs.ErrNotExist.
	Get(ctx context.Context, key string, buf []byte, max int64) ([]byte, error)
	// Stat returns an object's size; a missing one is fs.ErrNotExist.
	Stat(ctx context.Context, key string) (int64, error)
	// List returns the names directly under prefix (a key ending in "/"),
	// objects and "directories" alike, without the prefix; directories
	// end in "/". A missing prefix lists nothing.
	List(ctx context.Context, prefix string) ([]string, error)
	// Location is the store as the user gave it: a directory or a URL.
	Location() string
}

// ErrReadOnly is wrapped by the errors of writes to a repository that is
// read-only where it is (a web server's).
var ErrReadOnly = errors.New("the repository is read-only here")

// ErrTooLarge is returned by Get for an object larger than allowed.
var ErrTooLarge = errors.New("object larger than allowed")
