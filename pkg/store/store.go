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
	// Put stores data as object key unless an object with that key is
	// there already, and reports whether it wrote it. A store that
	// cannot be written returns ErrReadOnly.
	Put(ctx context.Context, key string, data []byte) (bool, error)
	// Location is the store as the user gave it: a directory or a URL.
	Location() string
}

// ErrReadOnly is returned by Put on a store that cannot be written.
var ErrReadOnly = errors.New("the repository is read-only here")

// ErrTooLarge is returned by Get for an object larger than allowed.
var ErrTooLarge = errors.New("object larger than allowed")
