package initramfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// ntfsDisk makes a disk image as Windows formats an external drive: an MBR
// with one NTFS partition (type 07) from 1 MiB to the end, labelled label.
// When repoDir is not "", an empty repository is made in that directory
// of the volume (through ntfs-3g). It returns a function that attaches the
// partition as a loop device and returns it (detached when the test ends).
func ntfsDisk(t *testing.T, path, label string, size int64, repoDir string) (partition func() string) {
	t.Helper()
	for _, tool := range []string{"sfdisk", "mkfs.ntfs", "ntfs-3g", "ntfsfix"} {
		testutil.Tool(t, tool)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	sf := exec.Command("sfdisk", "-q", path)
	sf.Stdin = strings.NewReader("label: dos\nstart=2048, type=7\n")
	if out, err := sf.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v\n%s", path, err, out)
	}
	partition = func() string {
		dev := loop(t, path, 1<<20, size-1<<20)
		t.Cleanup(func() { detachOver(path) })
		return dev
	}
	dev := partition()
	run(t, "mkfs.ntfs", "-q", "-Q", "-L", label, "-p", "2048", "-H", "255", "-S", "63", dev)
	if repoDir != "" {
		withNTFS(t, dev, false, func(dir string) {
			if _, err := repo.Create(filepath.Join(dir, repoDir)); err != nil {
				t.Fatal(err)
			}
		})
	}
	run(t, "losetup", "-d", dev)
	return partition
}

// withNTFS mounts the NTFS volume on dev with ntfs-3g (read-only with ro)
// for fn, and unmounts it.
func withNTFS(t *testing.T, dev string, ro bool, fn func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	args := []string{dev, dir}
	if ro {
		args = append([]string{"-o", "ro"}, args...)
	}
	cmd := exec.Command("ntfs-3g", args...)
	cmd.WaitDelay = 5 * time.Second // the daemon it leaves lets go of the output
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ntfs-3g %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	}()
	fn(dir)
}

// pickRepo chooses, on the wizard's list of repositories titled title,
// the one found on the NTFS partition part. The list's cursor does not
// show on the monochrome serial console, so the entry is reached by
// counting: it starts on the first, and each is followed by its "found
// on" line.
func (v *vm) pickRepo(title, part string) {
	v.t.Helper()
	s := v.waitFor(time.Minute, title, "found on /dev/"+part+" (ntfs)")
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "found on /dev/"+part+" (ntfs)") {
			break
		}
		if strings.Contains(l, "found on /dev/") || strings.Contains(l, "typed path") {
			n++
		}
	}
	for range n {
		v.keys("Down")
	}
	v.keys("Enter")
}

// pickSpace chooses, on the capture wizard's list of repositories, the
// new repository offered on the NTFS disk with serial serial, reached by
// counting as in pickRepo: the repositories come first, then the places
// for a new one.
func (v *vm) pickSpace(serial string) {
	v.t.Helper()
	offer := "new repository on " + serial + " partition 1 (ntfs, WINDATA, "
	s := v.waitFor(time.Minute, "2/4 choose the repository", offer)
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, offer) {
			break
		}
		if strings.Contains(l, "found on /dev/") || strings.Contains(l, "typed path") || strings.Contains(l, "makes lifeboat/ at its root") {
			n++
		}
	}
	for range n {
		v.keys("Down")
	}
	v.keys("Enter")
}

// TestNTFSRepository boots the stick (lifeboat.img on USB) with a
// Windows-formatted USB disk attached (MBR, one NTFS partition holding a
// file of its owner's and no repository), which the rescue kernel has no
// driver for: the capture wizard offers the disk for a new repository
// (looked at through ntfs-3g), makes one in lifeboat/ on it after its
// confirmation, captures the demo disk into it and restores the image onto
// a blank disk, driven by keys on the serial console, and powers off. On
// the host, ntfsfix then finds the volume consistent, its root holds the
// owner's file and lifeboat/ and nothing else, the image on it verifies,
// and the target equals the source.
func TestNTFSRepository(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	work := t.TempDir()
	demo := filepath.Join(work, "demo.img")
	makeDemoDisk(t, demo, fmt.Sprintf("lifeboat ntfs test %d", time.Now().UnixNano()))
	st, err := os.Stat(demo)
	if err != nil {
		t.Fatal(err)
	}
	demoHash := testutil.HashFile(t, demo, -1)
	winImg := filepath.Join(work, "windisk.img")
	partition := ntfsDisk(t, winImg, "WINDATA", 2<<30, "")
	withNTFS(t, partition(), false, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("the owner's file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	target := blankDisk(t, "target.img", st.Size())

	v := startVM(t, "-m", "1024", "-smp", "2",
		"-device", "qemu-xhci", "-device", "usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0",
		"-drive", "file="+filepath.Join(media, "lifeboat.img")+",format=raw,if=none,id=stick,snapshot=on",
		"-device", "usb-storage,drive=win,serial=WINDISK01", "-drive", "file="+winImg+",format=raw,if=none,id=win",
		"-device", "virtio-blk-pci,drive=src,serial=DEMO-SRC", "-drive", "file="+demo+",format=raw,if=none,id=src",
		"-device", "virtio-scsi-pci,id=vs", "-device", "scsi-hd,bus=vs.0,drive=dst,serial=BLANK0001",
		"-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	v.waitFor(4*time.Minute, "Lifeboat", "c capture")
	t.Logf("the text UI appeared %s after QEMU started", v.since())

	diskCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	s := v.waitUntil(2*time.Minute, "the NTFS disk, the source and the target", func(s string) bool {
		rows := tableRows(s, diskCols...)
		return rowWith(rows, "SERIAL", "WINDISK01") != nil && rowWith(rows, "SERIAL", "DEMO-SRC") != nil && rowWith(rows, "SERIAL", "BLANK0001") != nil
	})
	winDev := rowWith(tableRows(s, diskCols...), "SERIAL", "WINDISK01")["DISK"]
	winPart := winDev + "1"
	t.Logf("the NTFS disk %s was listed %s after QEMU started:\n%s", winDev, v.since(), s)

	// Capture the demo disk into a new repository on the NTFS disk, once
	// the log says the look at the disks has found room for one there.
	v.keys("l")
	v.waitFor(2*time.Minute, "room for a new repository on", "WINDISK01")
	v.keys("Escape")
	v.waitFor(time.Minute, "Disks", "p power off")
	v.selectRow("DEMO-SRC")
	v.keys("c")
	v.waitFor(time.Minute, "1/4 choose the disk to capture")
	v.keys("Enter")
	s = v.waitFor(time.Minute, "2/4 choose the repository", "new repository on WINDISK01 partition 1 (ntfs, WINDATA, ", "Type a path")
	t.Logf("repositories offered:\n%s", s)
	v.pickSpace("WINDISK01")
	s = v.waitFor(time.Minute, "New repository", "WINDISK01, partition 1 (/dev/"+winPart+")", `ntfs labelled "WINDATA"`, "A directory named lifeboat")
	t.Logf("confirmation:\n%s", s)
	v.keys("Enter")
	v.waitFor(2*time.Minute, "3/4 name and options", "Image name")
	v.keys("C-u")
	v.text("ntfs1")
	v.waitUntil(time.Minute, "the image name ntfs1 typed", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(strings.Trim(l, "║ ")); len(f) == 3 && f[0] == "Image" && f[1] == "name" {
				return f[2] == "ntfs1"
			}
		}
		return false
	})
	v.keys("Tab", "Tab", "Tab", "Enter")
	s = v.waitFor(2*time.Minute, "4/4 summary", "serial DEMO-SRC", "/"+winPart+"-", `as image "ntfs1"`, "Press Enter to start")
	t.Logf("capture summary:\n%s", s)
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Capture ntfs1")
	t.Logf("capture done %s after QEMU started:\n%s", v.since(), s)
	v.keys("Enter")
	v.waitFor(time.Minute, "Disks", "p power off")

	// Restore it onto the blank disk, from the NTFS disk.
	v.keys("r")
	v.pickRepo("1/3 choose the repository", winPart)
	v.waitFor(time.Minute, "1/3 choose the image", "ntfs1")
	v.selectRow("ntfs1")
	v.keys("Enter")
	// The repository chosen is the one on the NTFS disk, which is not
	// offered as a target.
	v.waitUntil(time.Minute, "the NTFS disk not offered as it holds the repository", func(s string) bool {
		note := strings.Join(strings.Fields(s), " ") // the note wraps
		return strings.Contains(note, "2/3 choose the disk to overwrite with ntfs1") && strings.Contains(note, " "+winDev+" (it holds the repository)")
	})
	v.selectRow("BLANK0001")
	v.keys("Enter")
	v.waitFor(2*time.Minute, "3/3 confirm", "serial BLANK0001", "Type BLANK0001 to destroy it and restore")
	v.text("BLANK0001")
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Restore ntfs1")
	if !strings.Contains(s, "every chunk matched its hash") {
		t.Errorf("the restore's summary does not say every chunk matched its hash:\n%s", s)
	}
	t.Logf("restore done %s after QEMU started:\n%s", v.since(), s)
	v.keys("Enter")
	v.waitFor(time.Minute, "Disks", "p power off")

	v.keys("p")
	v.waitFor(time.Minute, "Power off now?")
	v.keys("y")
	v.waitExit(2 * time.Minute)

	// The source was only read, and the target holds its every byte.
	if testutil.HashFile(t, demo, -1) != demoHash {
		t.Error("the capture changed the demo disk")
	}
	sameBytes(t, demo, target, st.Size())
	// The NTFS volume was left consistent, and holds the image whole.
	dev := partition()
	if out, err := exec.Command("ntfsfix", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("ntfsfix -n finds the NTFS volume inconsistent: %v\n%s", err, out)
	}
	withNTFS(t, dev, true, func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "$") && e.Name() != "System Volume Information" {
				names = append(names, e.Name())
			}
		}
		if strings.Join(names, " ") != "letter.txt lifeboat" {
			t.Errorf("the root of the NTFS volume holds %q, want the owner's letter.txt and lifeboat", names)
		}
		r, err := repo.Open(filepath.Join(dir, "lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.ReadManifest("ntfs1")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := engine.Verify(t.Context(), r, m, engine.VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("verify image ntfs1 on the NTFS volume: %v %+v", err, rep.Problems)
		}
		t.Logf("image ntfs1 on the NTFS volume: %d chunks, %d bytes verified", rep.Chunks, rep.Bytes)
	})
}
