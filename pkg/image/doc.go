// Package image defines a Lifeboat image manifest and its binary encoding
// (docs/FORMAT.md, "Manifest").
//
// A manifest says everything about one captured disk except the data: the
// disk's size and sector sizes, where it came from, its partition table, the
// raw bytes of its boot areas, and the ordered list of extents, each a hole
// (all zeros) or the SHA-256 of a chunk in the repository. Encode writes it
// as a fixed header, one zstd frame holding the body, and a SHA-256 over
// everything before it; Decode checks the magic, the version, every length
// against the limits below, the trailing hash and that the body was read to
// its last byte, so a truncated, altered or foreign file is refused with an
// error that says which check failed. Decode never allocates more than the
// limits allow, whatever the input.
package image
