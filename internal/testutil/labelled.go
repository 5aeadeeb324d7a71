package testutil

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// LabelledDisk makes a 96 MiB sparse disk image file with a GPT and three
// partitions of 30 MiB, each holding a file system made by its own mkfs
// with a label: 1 ext4 "LBROOT", 2 vfat "LBBOOT", 3 ntfs "LBDATA". Each
// file system is made through a loop device over its partition's bytes,
// so that no kernel support for partitioned loop devices is needed.
func LabelledDisk(t testing.TB, name string) string {
	t.Helper()
	Root(t)
	p := Sparse(t, name, 96<<20)
	Run(t, "sgdisk", "-n1:2048:+30M", "-t1:8300", "-n2:0:+30M", "-t2:0700", "-n3:0:+30M", "-t3:0700", p)
	for i, mkfs := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-L", "LBROOT"},
		{"mkfs.vfat", "-n", "LBBOOT"},
		{"mkfs.ntfs", "-q", "-f", "-F", "-L", "LBDATA"},
	} {
		off := int64(1<<20) + int64(i)*(30<<20)
		dev := strings.TrimSpace(Run(t, "losetup", "-f", "--show", "-o", fmt.Sprint(off), "--sizelimit", fmt.Sprint(30<<20), p))
		cmd := exec.Command(mkfs[0], append(mkfs[1:], dev)...)
		out, err := cmd.CombinedOutput()
		if derr := exec.Command("losetup", "-d", dev).Run(); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			t.Fatalf("%s on partition %d of %s: %v\n%s", mkfs[0], i+1, p, err, out)
		}
	}
	return p
}
