package engine

import (
	"context"
	"fmt"

	"github.com/lifeboat-dev/lifeboat/pkg/fsresize"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/units"
)

// GrowFileSystems grows the file systems a plan says to, after the restore
// wrote and synced the target at path (a block device or a disk image
// file), each through a loop device over its partition. It returns what
// it did; a file system that could not be grown is a warning, not an
// error: it is as captured, in a larger partition. The error is for
// cancellation.
func GrowFileSystems(ctx context.Context, path string, p *layout.Plan, tr *progress.Tracker) (changes, warnings []string, err error) {
	grown := p.Grown()
	if len(grown) == 0 {
		return nil, nil, nil
	}
	tr.Start("growing file systems", int64(len(grown)))
	for _, pt := range grown {
		if err := ctx.Err(); err != nil {
			return changes, warnings, err
		}
		what := fmt.Sprintf("partition %d (%s)", pt.Number, pt.Src.FileSystem)
		done, err := growOne(ctx, path, pt)
		tr.Add(1)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s not grown: %v; it is as captured (%s) in a %s partition", what, err, units.Bytes(pt.Src.Size), units.Bytes(pt.Size)))
			continue
		}
		changes = append(changes, fmt.Sprintf("%s grown to %s %s", what, units.Bytes(pt.Size), done))
	}
	return changes, warnings, ctx.Err()
}

func growOne(ctx context.Context, path string, pt layout.Part) (string, error) {
	l, err := fsresize.Loop(path, pt.Start, pt.Size)
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fsresize.Grow(ctx, l.Path, pt.Src.FileSystem)
}
