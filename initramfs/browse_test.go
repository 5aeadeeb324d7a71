package initramfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestBrowseImageSecureBoot boots the stick with Secure Boot enforced (the
// kernel in lockdown: only Debian's signed modules load), with a disk
// holding a repository with an image of a disk of six kinds of file
// systems and an empty NTFS USB drive. From the images screen it opens the
// image, goes into the NTFS partition (mounted by ntfs-3g over a loop
// device over the image served through FUSE), marks a file, copies it onto
// the USB drive and powers off; on the host the copy on the drive has the
// SHA-256 of the file that was captured.
func TestBrowseImageSecureBoot(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	work := t.TempDir()
	src, parts := testutil.FilledDisk(t, "filled.img")
	ntfs := parts[3]
	if ntfs.FSType != "ntfs" {
		t.Fatalf("partition 4 is %s", ntfs.FSType)
	}
	const want = "photos/big 3MiB.bin"
	var file testutil.FileInfo
	for _, f := range ntfs.Files {
		if f.Path == want {
			file = f
		}
	}
	if file.SHA256 == "" {
		t.Fatalf("no %s on the NTFS partition", want)
	}
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "REPODISK", 512<<20, map[string]string{"filled": src})
	destImg := filepath.Join(work, "dest.img")
	partition := ntfsDisk(t, destImg, "COPYDEST", 256<<20, "")

	args := append(firmware(t, ovmfSecureCode, ovmfSecureVars),
		"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
		"-m", "1536", "-smp", "2",
		"-device", "qemu-xhci", "-device", "usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0",
		"-drive", "file="+filepath.Join(media, "lifeboat.img")+",format=raw,if=none,id=stick,snapshot=on",
		"-device", "virtio-blk-pci,drive=repo,serial=REPO-DISK", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "usb-storage,drive=dest,serial=COPYDEST1", "-drive", "file="+destImg+",format=raw,if=none,id=dest",
	)
	v := startVM(t, args...)
	v.waitFor(4*time.Minute, "Lifeboat", "c capture")
	v.waitFor(2*time.Minute, "UEFI, Secure Boot on, lockdown integrity")
	t.Logf("the text UI appeared %s after QEMU started", v.since())

	// The repository and the empty drive (too small for a repository,
	// not for a few files) are found.
	v.keys("l")
	v.waitFor(3*time.Minute, "repository found on /dev/vda", "no new repository there")
	v.keys("Escape")
	v.waitFor(time.Minute, "Disks", "p power off")

	// The stick's own repository comes first: choose the disk's.
	v.keys("i")
	v.waitFor(time.Minute, "found on /dev/vda (ext4)", "o open files")
	v.keys("Tab", "Down", "Enter")
	v.waitFor(time.Minute, "filled", "o open files")
	v.selectRow("filled")
	v.keys("o")
	s := v.waitFor(3*time.Minute, " Partitions ", "ntfs LBNTFS")
	t.Logf("image opened %s after QEMU started:\n%s", v.since(), s)
	v.selectRow("ntfs LBNTFS")
	v.keys("Enter")
	v.waitFor(time.Minute, "4-LBNTFS-ntfs:/ ", "photos/")
	v.selectRow("photos/")
	v.keys("Enter")
	v.waitFor(time.Minute, "4-LBNTFS-ntfs:/photos ", "big 3MiB.bin")
	v.selectRow("big 3MiB.bin")
	v.keys("Space", "c")
	s = v.waitFor(time.Minute, " Copy to ", "COPYDEST")
	t.Logf("copy to:\n%s", s)
	v.selectRow("COPYDEST")
	v.keys("Enter")
	s = v.waitFor(2*time.Minute, "Enter copies, Esc goes back")
	t.Logf("confirmation:\n%s", s)
	v.keys("Enter")
	s = v.waitJob(5*time.Minute, "Copy files")
	if !strings.Contains(s, "Copied 1 file") {
		t.Errorf("the copy's summary does not say one file was copied:\n%s", s)
	}
	t.Logf("copied %s after QEMU started:\n%s", v.since(), s)
	v.keys("Enter")
	v.waitFor(time.Minute, "Space mark")
	// Esc to the partition list (its border turns double with the
	// focus), then Esc closes the image; one key at a time, as two Esc
	// in a row read as one Alt key.
	v.keys("Escape")
	v.waitUntil(time.Minute, "the partition list focused", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "╔") && strings.Contains(l, " Partitions ") {
				return true
			}
		}
		return false
	})
	v.keys("Escape")
	v.waitFor(time.Minute, "o open files")
	v.keys("Escape")
	v.waitFor(time.Minute, "Disks", "p power off")
	v.keys("p")
	v.waitFor(time.Minute, "Power off now?")
	v.keys("y")
	v.waitExit(2 * time.Minute)

	withNTFS(t, partition(), true, func(dir string) {
		found, _ := filepath.Glob(filepath.Join(dir, "lifeboat-files", "filled *", "big 3MiB.bin"))
		if len(found) != 1 {
			ents, _ := os.ReadDir(dir)
			t.Fatalf("the copy is not on the drive: %v (root: %v)", found, ents)
		}
		if sum := testutil.HashFile(t, found[0], -1); sum != file.SHA256 {
			t.Errorf("the copy's SHA-256 is %s, the captured file's %s", sum, file.SHA256)
		}
	})
}
