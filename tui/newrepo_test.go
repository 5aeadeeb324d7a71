package tui

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/inventory"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/repofind"
)

// TestNewRepositoryOnDrive captures a disk onto a drive that holds no
// repository yet (a file system with a file of its owner's on it): the
// restore wizard does not offer the drive, the capture wizard offers it
// after the repositories as a new repository, says what will be made,
// and on Enter makes lifeboat/ at the file system's root and captures
// into it. The drive then holds the image beside the owner's file, and
// nothing else was added.
func TestNewRepositoryOnDrive(t *testing.T) {
	testutil.Root(t)
	a := gptDisk(t, "laptop.img", 13)
	usb := testutil.Sparse(t, "usb.img", 128<<20)
	testutil.Run(t, testutil.Tool(t, "mkfs.ext4"), "-q", "-F", "-L", "NEWDRIVE", usb)
	dev := testutil.Loop(t, usb, 0)
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	if err := os.WriteFile(filepath.Join(mnt, "owner.txt"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "umount", mnt)

	name := filepath.Base(dev)
	find := &repofind.Finder{
		MountRoot: filepath.Join(t.TempDir(), "mnt"),
		Filter:    func(d inventory.Disk) bool { return d.Name == name },
		MinFree:   1 << 20,
	}
	h := start(t, Config{Env: ops.Env{Inventory: inventory.DefaultSource()}, Files: []string{a}, Find: find})
	offer := "new repository on " + name + " (ext4, NEWDRIVE, "
	h.typeText("l")
	h.waitFor("room for a " + offer)
	h.key(tcell.KeyEscape)

	// Nothing to restore from a drive without a repository.
	h.waitFor("Disks")
	h.typeText("r")
	if s := h.waitFor("1/3 choose the repository", "Type a path"); strings.Contains(s, "new repository on") {
		t.Errorf("the restore wizard offers a new repository:\n%s", s)
	}
	h.key(tcell.KeyEscape)

	h.selectDisk(a)
	h.typeText("c")
	h.waitFor("1/4 choose the disk to capture")
	h.key(tcell.KeyEnter)
	t.Logf("repositories:\n%s", h.waitFor("2/4 choose the repository", offer, "/dev/"+name+": makes lifeboat/ at its root; nothing else is touched"))
	h.key(tcell.KeyEnter) // the first entry: no repository is known
	t.Logf("confirmation:\n%s", h.waitFor("New repository", "/dev/"+name, `ext4 labelled "NEWDRIVE"`, "A directory named lifeboat", "Nothing else on it is changed"))
	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Errorf("%s mounted before the repository was asked for: %v", dev, ms)
	}
	h.key(tcell.KeyEnter)
	h.waitFor("3/4 name and options", "Image name")
	h.key(tcell.KeyCtrlU)
	h.typeText("first")
	h.key(tcell.KeyTab) // compression
	h.key(tcell.KeyTab) // all sectors
	h.key(tcell.KeyTab) // Next
	h.key(tcell.KeyEnter)
	h.waitFor("4/4 summary", "/lifeboat", `as image "first"`, "Press Enter to start")
	h.key(tcell.KeyEnter)
	h.waitFor("finished in", "Image first")
	h.key(tcell.KeyEnter)
	h.waitFor("q quit")
	h.stopUI()

	if ms := mountsOf(t, dev); len(ms) != 0 {
		t.Fatalf("%s still mounted at %v", dev, ms)
	}
	testutil.Run(t, "e2fsck", "-fn", dev)
	testutil.Run(t, "mount", "-o", "ro", dev, mnt)
	defer testutil.Run(t, "umount", mnt)
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if want := []string{"lifeboat", "lost+found", "owner.txt"}; !slices.Equal(names, want) {
		t.Errorf("root of the drive holds %q, want %q", names, want)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "owner.txt")); err != nil || string(b) != "kept\n" {
		t.Errorf("the owner's file: %q, %v", b, err)
	}
	list, err := ops.ListImages(filepath.Join(mnt, "lifeboat"))
	if err != nil || len(list) != 1 || list[0].Name != "first" {
		t.Fatalf("repository on %s: %+v (%v), want the image first", dev, list, err)
	}
}

// TestSpaceLine: a file system offered for a new repository fits the
// repository list's line on an 80-column screen, giving up the disk's
// model (when it has a serial), then the label.
func TestSpaceLine(t *testing.T) {
	for _, tc := range []struct {
		s    repofind.Space
		want string
	}{
		{repofind.Space{Disk: "sdb", Partition: 1, Model: "Cruzer", Serial: "4C53", FSType: "exfat", Label: "USB", Free: 3 << 30},
			"new repository on Cruzer 4C53 partition 1 (exfat, USB, 3.0 GiB free)"},
		{repofind.Space{Disk: "sdb", Partition: 1, Model: "QEMU HARDDISK", Serial: "WINDISK01", FSType: "ntfs", Label: "WINDATA", Free: 2 << 30},
			"new repository on WINDISK01 partition 1 (ntfs, WINDATA, 2.0 GiB free)"},
		{repofind.Space{Disk: "sdc", Partition: 2, Model: "Extreme Portable SSD", Serial: "32313233343536373839", FSType: "ntfs", Label: "My Passport Backup", Free: 900 << 30},
			"new repository on 32313233343536373839 partition 2 (ntfs, 900.0 GiB free)"},
		{repofind.Space{Disk: "loop0", FSType: "ext4", Free: 100 << 20},
			"new repository on loop0 (ext4, 100.0 MiB free)"},
	} {
		if got := spaceLine(tc.s); got != tc.want || len([]rune(got)) > spaceWidth {
			t.Errorf("spaceLine(%+v) = %q, want %q (at most %d characters)", tc.s, got, tc.want, spaceWidth)
		}
	}
}
