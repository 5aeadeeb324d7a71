package tui

import (
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestCloneWizard copies a disk onto another through the clone wizard:
// the source is not offered as its own target, a wrong confirmation
// writes nothing, the right one copies the disk, whose ext4 checks clean
// and whose bytes are the source's.
func TestCloneWizard(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 1)
	b := testutil.Sparse(t, "spare.img", 64<<20)
	testutil.Run(t, testutil.Tool(t, "sgdisk"), "-n", "1:2048:0", "-t", "1:0700", b)
	testutil.WriteAt(t, b, []byte(strings.Repeat("old bytes ", 100000)), 8<<20)
	h := start(t, Config{Files: []string{a, b}})
	s := h.waitFor("d clone", "laptop.img")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "d clone") || !strings.Contains(last, "q quit") {
		t.Errorf("home key hints %q", last)
	}

	h.selectDisk(a)
	h.typeText("d")
	h.waitFor("Clone: 1/3 choose the disk to copy")
	h.key(tcell.KeyEnter)
	h.waitFor("2/3 choose the disk to overwrite with a copy of laptop.img", "laptop.img (the source)", "nvme0n1 (Lifeboat booted from it)")
	h.selectTarget(b)
	s = h.waitFor("DESTROY", "spare.img", "Copy", "laptop.img", "partitions; of them", "is read", "Type spare.img")
	t.Logf("clone summary:\n%s", s)
	// F2 plans another layout, F4 asks for verification.
	h.key(tcell.KeyF2)
	h.waitFor("Layout  keep (F2", "F2 layout: keep", "Type spare.img")
	h.key(tcell.KeyF4)
	h.waitFor("F4 verify: yes", "Type spare.img")

	before := hashFile(t, b)
	h.typeText("sda")
	h.key(tcell.KeyEnter)
	h.waitFor("You typed \"sda\", not \"spare.img\". Nothing was written.")
	if hashFile(t, b) != before {
		t.Fatal("a wrong confirmation changed the target")
	}
	h.typeText("spare.img")
	h.key(tcell.KeyEnter)
	s = h.waitFor("finished in", "A copy of", "is on", "verified: the copy reads back as the source was read")
	t.Logf("clone done:\n%s", s)
	if hashFile(t, b) != hashFile(t, a) {
		t.Fatal("the copy differs from the source")
	}
	loop := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-o", "1048576", "--sizelimit", "40M", b))
	defer testutil.Run(t, "losetup", "-d", loop)
	testutil.Run(t, "e2fsck", "-fn", loop)
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
}
