package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// TestBootEntriesFor makes a GPT disk with an EFI system partition holding
// shim and GRUB under \EFI\debian, and checks which boot entries a
// restore would give the firmware: the recorded ones whose loaders are on
// the disk (a missing one named), else one for shim.
func TestBootEntriesFor(t *testing.T) {
	for _, tool := range []string{"sgdisk", "mkfs.vfat", "mcopy", "mmd"} {
		testutil.Tool(t, tool)
	}
	img := testutil.Sparse(t, "disk.img", 80<<20)
	testutil.Run(t, "sgdisk", "-n1:2048:+40M", "-t1:ef00", "-n2:0:0", "-t2:8300", img)
	testutil.Run(t, "mkfs.vfat", "-F", "32", "-s", "1", "--offset", "2048", img, "40960")
	esp := img + "@@1048576"
	testutil.Run(t, "mmd", "-i", esp, "::/EFI", "::/EFI/debian")
	loader := filepath.Join(t.TempDir(), "shimx64.efi")
	os.WriteFile(loader, []byte("MZ shim stand-in"), 0o644)
	testutil.Run(t, "mcopy", "-i", esp, loader, "::/EFI/debian/shimx64.efi")
	testutil.Run(t, "mcopy", "-i", esp, loader, "::/EFI/debian/grubx64.efi")
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := ptable.Read(f, 80<<20, 512)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Nothing recorded: one entry, for shim, named after its directory.
	got, notes := bootEntriesFor(img, tbl, &image.Manifest{}, true)
	if len(got) != 1 || got[0].loader != `\EFI\debian\shimx64.efi` || got[0].desc != "debian" || got[0].part.Number != 1 || len(notes) != 0 {
		t.Errorf("without recorded entries: %+v %q", got, notes)
	}
	lines, problems := checkBootEntries(img, tbl, &image.Manifest{})
	if len(problems) != 0 || len(lines) != 1 || !strings.Contains(lines[0], "records no UEFI boot entries") {
		t.Errorf("check without recorded entries: %q %q", lines, problems)
	}

	// Recorded: the entries whose loaders are there, in their order.
	m := &image.Manifest{Boot: &image.Boot{Entries: []image.BootEntry{
		{Number: 3, Description: "Debian GRUB", Active: true, InOrder: true, Partition: 1, Loader: `\EFI\debian\grubx64.efi`},
		{Number: 1, Description: "gone", Active: true, InOrder: true, Partition: 1, Loader: `\EFI\gone\x.efi`},
		{Number: 4, Description: "off", Active: false, Partition: 1, Loader: `\EFI\debian\shimx64.efi`},
	}}}
	got, notes = bootEntriesFor(img, tbl, m, true)
	if len(got) != 1 || got[0].desc != "Debian GRUB" || got[0].loader != `\EFI\debian\grubx64.efi` || len(notes) != 1 || !strings.Contains(notes[0], `\EFI\gone\x.efi`) {
		t.Errorf("with recorded entries: %+v %q", got, notes)
	}
	lines, problems = checkBootEntries(img, tbl, m)
	if len(problems) != 1 || len(lines) != 2 || !strings.Contains(lines[0], `"Debian GRUB" names \EFI\debian\grubx64.efi on partition 1: it is there`) {
		t.Errorf("check with recorded entries: %q %q", lines, problems)
	}
	// The partition's place in a device path: GUID, start and size in
	// sectors.
	hd := hdOf(tbl, tbl.Partitions[0])
	if hd.GUID != strings.ToUpper(tbl.Partitions[0].GUID) || hd.Start != 2048 || hd.Size != 40<<11 || hd.Partition != 1 {
		t.Errorf("hard-drive node %+v for %+v", hd, tbl.Partitions[0])
	}
}
