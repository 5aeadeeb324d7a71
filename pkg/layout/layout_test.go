package layout

import (
	"errors"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

const linux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

func plan(t *testing.T, parts []ptable.Partition, srcSize, dstSize int64, k Kind) (*Plan, error) {
	t.Helper()
	tbl := &ptable.Table{Type: ptable.TypeGPT, SectorSize: 512, Partitions: parts}
	m := &image.Manifest{Disk: image.Disk{Size: srcSize, LogicalSectorSize: 512}, Table: tbl, ExtentSize: 4 << 20}
	return Compute(m, tbl, nil, Target{Size: dstSize, SectorSize: 512}, Options{Kind: k})
}

// checkPlaced: partitions apart, inside the usable area, none smaller than
// it was, starts on sectors.
func checkPlaced(t *testing.T, p *Plan) {
	t.Helper()
	parts := append([]Part(nil), p.Parts...)
	sort.Slice(parts, func(a, b int) bool { return parts[a].Start < parts[b].Start })
	end := p.Target.Size - ptable.GPTReserve(512)
	for i, pt := range parts {
		if pt.Size < pt.Src.Size || pt.Start%512 != 0 || pt.Start+pt.Size > end || pt.Start < ptable.GPTFirstUsable(512) {
			t.Fatalf("partition %d placed at %d, %d bytes (was %d at %d), disk usable to %d", pt.Number, pt.Start, pt.Size, pt.Src.Size, pt.Src.Start, end)
		}
		if i > 0 && pt.Start < parts[i-1].Start+parts[i-1].Size {
			t.Fatalf("partitions %d and %d overlap", parts[i-1].Number, pt.Number)
		}
	}
}

// TestScaleUnalignedStarts: partitions off MiB boundaries (older
// layouts) scale onto a slightly larger disk without overlapping.
func TestScaleUnalignedStarts(t *testing.T) {
	sec := func(mib float64) int64 { return int64(mib*MiB) / 512 * 512 }
	parts := []ptable.Partition{
		{Number: 1, Start: sec(1), Size: sec(9.586), Type: linux},
		{Number: 2, Start: sec(10.586), Size: sec(9.684), Type: linux},
		{Number: 3, Start: sec(20.293), Size: sec(79.707), Type: linux},
	}
	src := sec(20.293) + sec(79.707) + 33*512
	// One MiB more: aligned starts do not fit; refused, not overlapping.
	_, err := plan(t, parts, src, src+MiB, Scale)
	var nt *notThis
	if !errors.As(err, &nt) {
		t.Fatalf("scale onto 1 MiB more: %v, want it refused as not applicable", err)
	}
	// A fifth more: placed, apart and aligned.
	p, err := plan(t, parts, src, src*6/5/512*512, Scale)
	if err != nil {
		t.Fatal(err)
	}
	checkPlaced(t, p)
	for _, pt := range p.Parts[1:] {
		if pt.Start%MiB != 0 {
			t.Errorf("partition %d starts at %d, not on a MiB", pt.Number, pt.Start)
		}
	}
}

// TestGrowScaleProperties plans grow and scale for random GPT layouts onto
// random larger disks: every plan has its partitions apart, inside the
// disk and no smaller than they were, or it is refused.
func TestGrowScaleProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	planned := map[Kind]int{}
	for n := 0; n < 500; n++ {
		var parts []ptable.Partition
		at := int64(34*512) + rng.Int64N(4*MiB)/512*512
		for i := 1; i <= 1+rng.IntN(6); i++ {
			size := (1 + rng.Int64N(200*MiB)) / 512 * 512
			if size == 0 {
				size = 512
			}
			parts = append(parts, ptable.Partition{Number: i, Start: at, Size: size, Type: linux})
			at += size
			if rng.IntN(3) == 0 {
				at += rng.Int64N(2*MiB) / 512 * 512
			}
		}
		src := at + 33*512 + rng.Int64N(MiB)/512*512
		dst := src + rng.Int64N(src)/512*512
		for _, k := range []Kind{Grow, Scale} {
			p, err := plan(t, parts, src, dst, k)
			if err != nil {
				var nt *notThis
				if !errors.As(err, &nt) {
					t.Fatalf("layout %d, %s: %v (%+v onto %d)", n, k, err, parts, dst)
				}
				continue
			}
			checkPlaced(t, p)
			planned[k]++
		}
	}
	// Most targets are larger by more than alignment costs: refusing them
	// all would pass the checks above without testing anything.
	t.Logf("planned %d grow and %d scale layouts of 500", planned[Grow], planned[Scale])
	if planned[Grow] < 400 || planned[Scale] < 250 {
		t.Errorf("planned %d grow and %d scale layouts of 500", planned[Grow], planned[Scale])
	}
}
