package initramfs_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestRestoreCancelledByKeys: in the rescue environment, Esc on a restore
// onto a disk that held another GPT disk pauses it (the question says
// where it stopped), yes cancels it, and the screen says the disk is
// partly written with no partition table; the disk list then shows it with
// no table, and on the host neither the old table nor its file system is
// found.
func TestRestoreCancelledByKeys(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()

	// The image: 256 MiB with random bytes in every 4 MiB extent, so that
	// the restore writes every extent and takes a while under emulation.
	const size = 256 << 20
	src := filepath.Join(work, "src.img")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 64<<10)
	for off := int64(4 << 20); off < size; off += 4 << 20 {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		f.WriteAt(buf, off)
	}
	f.Close()
	testutil.Run(t, "sgdisk", "-n1:2048:0", "-t1:8300", src)
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 1<<30, map[string]string{"busy": src})

	// The target: another GPT disk, with an ext4 file system.
	target := blankDisk(t, "old.img", size)
	testutil.Run(t, "sgdisk", "-n1:2048:+100M", "-t1:8300", "-n2:0:0", target)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-L", "OLDDATA", "-E", "offset=1048576", target, "100M")

	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=tty0 console=ttyS0,115200 quiet",
		"-device", "nvme,serial=REPO0001,drive=repo", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "virtio-scsi-pci,id=vs", "-device", "scsi-hd,bus=vs.0,drive=dst,serial=OLDDISK01",
		"-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	diskCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	v.waitUntil(4*time.Minute, "the old disk with its GPT and the repository", func(s string) bool {
		rows := tableRows(s, diskCols...)
		repo, old := rowWith(rows, "SERIAL", "REPO0001"), rowWith(rows, "SERIAL", "OLDDISK01")
		return repo != nil && strings.HasPrefix(repo["FLAGS"], "repo") && old != nil && old["TABLE"] == "gpt"
	})

	v.keys("r")
	v.waitFor(time.Minute, "1/3 choose the repository")
	v.keys("Enter")
	v.waitFor(time.Minute, "1/3 choose the image", "busy")
	v.keys("Enter")
	v.waitFor(time.Minute, "2/3 choose the disk to overwrite with busy")
	v.selectRow("OLDDISK01")
	v.keys("Enter")
	v.waitFor(2*time.Minute, "3/3 confirm", "DESTROY", "Type OLDDISK01 to destroy it and restore")
	v.text("OLDDISK01")
	v.keys("Enter")
	// Paused once some of it is written.
	v.waitUntil(5*time.Minute, "the restore under way", func(s string) bool {
		return strings.Contains(s, "Esc pauses") && strings.Contains(s, "restoring") && !strings.Contains(s, " 0 B of ")
	})
	v.keys("Escape")
	s := waitWrapped(v, 2*time.Minute, "Cancel restore busy?", "nothing is read or written until you answer")
	t.Logf("paused:\n%s", s)
	v.keys("y")
	s = waitWrapped(v, 2*time.Minute, "Restore busy: cancelled", "serial OLDDISK01", "holds no valid partition table", "will not boot", "Restore again to finish")
	t.Logf("cancelled:\n%s", s)
	if strings.Contains(s, "context canceled") {
		t.Error("the cancelled restore speaks of the context")
	}
	v.keys("Enter")
	s = v.waitUntil(2*time.Minute, "the old disk shown with no table", func(s string) bool {
		r := rowWith(tableRows(s, diskCols...), "SERIAL", "OLDDISK01")
		return r != nil && r["TABLE"] != "gpt"
	})
	name := rowWith(tableRows(s, diskCols...), "SERIAL", "OLDDISK01")["DISK"]

	// The kernel was told: it lists none of the old partitions.
	v.keys("s")
	v.waitFor(time.Minute, "type exit to return to the menu")
	v.waitUntil(2*time.Minute, "the shell's prompt", func(s string) bool {
		_, after, ok := strings.Cut(s, "type exit to return to the menu")
		return ok && promptLine(after) >= 0
	})
	v.text("cat /proc/partitions")
	v.keys("Enter")
	// The names /proc/partitions lists (its last column) after the command.
	listed := func(s string) (names []string) {
		_, after, _ := strings.Cut(s[strings.LastIndex(s, "cat /proc/partitions"):], "\n")
		for _, l := range strings.Split(after, "\n") {
			if f := strings.Fields(l); len(f) == 4 {
				names = append(names, f[3])
			}
		}
		return names
	}
	s = v.waitUntil(time.Minute, "the kernel's partitions", func(s string) bool {
		i := strings.LastIndex(s, "cat /proc/partitions")
		return i >= 0 && slices.Contains(listed(s), name) && promptLine(s[i:]) >= 0
	})
	t.Logf("the kernel's partitions: %q", listed(s))
	for _, n := range listed(s) {
		if n != name && strings.HasPrefix(n, name) {
			t.Errorf("the kernel still lists %s, a partition of the old table of %s", n, name)
		}
	}
	v.stop()

	blk, err := exec.Command("blkid", "-p", "-o", "export", target).CombinedOutput()
	if err == nil || strings.Contains(string(blk), "PTTYPE") || strings.Contains(string(blk), "OLDDATA") {
		t.Errorf("blkid -p finds something on the cancelled target (%v):\n%s", err, blk)
	}
}
