package engine

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"sync/atomic"

	"github.com/lifeboat-dev/lifeboat/pkg/fsmap"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
)

// Image is what a restore reads: an image's manifest, its bytes, and its
// extents one at a time. A repository's image (*repo.Image) is one; a disk
// being cloned (DiskImage) is another.
type Image interface {
	io.ReaderAt
	Manifest() *image.Manifest
	// Extent returns extent i's bytes (zeros where nothing is used), in
	// buf when it is large enough; raw is scratch space for a stored form.
	Extent(i int, buf, raw []byte) ([]byte, error)
}

// DiskImage is a disk seen as an image, so that a restore can copy it
// onto another disk with nothing stored in between (a clone): its
// manifest is the one a capture would write (the partition table with how
// each partition is read, each extent's used runs, the boot areas), and
// Extent reads the disk's used bytes of an extent when the restore asks
// for it, zeros elsewhere. Nothing is hashed or compressed unless
// DiskImageOptions.Hash asks for the hashes a verification needs.
type DiskImage struct {
	src  Source
	m    *image.Manifest
	used []fsmap.Range // the plan's used ranges (nil: all)
	hash bool
	read atomic.Int64
}

// DiskImageOptions describe a disk to be read as an image.
type DiskImageOptions struct {
	Name string // what the disk is called in messages and plans
	// Identity describes the source (model, serial, path); size and sector
	// sizes are taken from the source itself.
	Identity   image.Disk
	ExtentSize int64 // 0: DefaultExtentSize
	// Plan is PlanCapture's result for the source (nil: made here, of
	// the used blocks only).
	Plan *CapturePlan
	// Warnings are kept in the manifest with the plan's.
	Warnings []string
	// Boot is the firmware's boot entries for the source.
	Boot *image.Boot
	// Hash records each extent's SHA-256 as it is read, so that
	// VerifyTarget compares the target with what was read, and an extent
	// read again for the comparison that no longer matches is reported
	// (the source changed).
	Hash bool
}

// NewDiskImage reads the source's partition table, allocation maps (unless
// o.Plan is given) and boot areas, and returns it as an image. Nothing
// else is read until Extent is called.
func NewDiskImage(src Source, o DiskImageOptions) (*DiskImage, error) {
	size, lss := src.Size(), src.LogicalSectorSize()
	if size <= 0 || size%int64(lss) != 0 {
		return nil, fmt.Errorf("disk size %d is not a positive multiple of its sector size %d", size, lss)
	}
	es := o.ExtentSize
	if es == 0 {
		es = DefaultExtentSize
	}
	for image.ExtentCount(size, es) > image.MaxExtents && es < image.MaxExtentSize {
		es *= 2
	}
	plan := o.Plan
	if plan == nil {
		var err error
		if plan, err = PlanCapture(src, false); err != nil {
			return nil, err
		}
	}
	areas, err := readAreas(src, plan.Table.Areas)
	if err != nil {
		return nil, err
	}
	n := image.ExtentCount(size, es)
	extents := make([]image.Extent, n)
	from := 0
	for i := range extents {
		off := int64(i) * es
		var runs []image.Run
		runs, from = extentRuns(plan.used, from, off, min(es, size-off), int64(lss))
		switch {
		case runs == nil:
		case len(runs) == 0:
			extents[i].Hole = true
		default:
			extents[i].Used = capRuns(runs, image.MaxRunsPerExtent)
		}
	}
	id := o.Identity
	id.Size, id.LogicalSectorSize, id.PhysicalSectorSize = size, lss, src.PhysicalSectorSize()
	m := &image.Manifest{
		Name:       o.Name,
		Disk:       id,
		ExtentSize: es,
		HashAlg:    "sha256",
		Table:      plan.Table,
		Warnings:   append(append(append([]string(nil), o.Warnings...), plan.Table.Warnings...), plan.Warnings...),
		Areas:      areas,
		Extents:    extents,
		Boot:       o.Boot,
	}
	return &DiskImage{src: src, m: m, used: plan.used, hash: o.Hash}, nil
}

// Manifest is the disk's manifest: what a capture would record.
func (d *DiskImage) Manifest() *image.Manifest { return d.m }

// ReadAt reads the disk.
func (d *DiskImage) ReadAt(p []byte, off int64) (int, error) { return d.src.ReadAt(p, off) }

// BytesRead is how many bytes Extent has read from the disk.
func (d *DiskImage) BytesRead() int64 { return d.read.Load() }

// Extent reads extent i's used runs from the disk, zeros elsewhere (all
// zeros for an extent with nothing used), as a capture reads it: the
// exact runs, not the manifest's (which are merged when there are too
// many). Extents are asked for one at a time each (concurrently for
// different extents).
func (d *DiskImage) Extent(i int, buf, _ []byte) ([]byte, error) {
	off, n := d.m.ExtentRange(i)
	e := &d.m.Extents[i]
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if e.Hole {
		clear(buf)
		return buf, nil
	}
	var runs []image.Run
	if e.Used != nil {
		k := sort.Search(len(d.used), func(j int) bool { return d.used[j].End() > off })
		runs, _ = extentRuns(d.used, k, off, n, int64(d.m.Disk.LogicalSectorSize))
	}
	if err := readRuns(d.src, buf, off, runs, &d.read); err != nil {
		return nil, fmt.Errorf("read %s at extent %d (disk offset %d): %w", d.m.Name, i, off, err)
	}
	if d.hash {
		sum := sha256.Sum256(buf)
		switch {
		case e.ID == (image.Hash{}):
			e.ID = sum
		case e.ID != sum:
			return nil, fmt.Errorf("%s changed at extent %d (disk offset %d) since it was copied", d.m.Name, i, off)
		}
	}
	return buf, nil
}
