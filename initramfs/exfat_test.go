package initramfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// withExFAT mounts the exFAT volume on dev with exfat-fuse (this host's
// kernel has no exFAT driver; read-only with ro) for fn, and unmounts it.
func withExFAT(t *testing.T, dev string, ro bool, fn func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	args := []string{dev, dir}
	if ro {
		args = append([]string{"-o", "ro"}, args...)
	}
	cmd := exec.Command("mount.exfat-fuse", args...)
	cmd.WaitDelay = 5 * time.Second // the daemon it leaves lets go of the output
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount.exfat-fuse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	}()
	fn(dir)
}

// TestExFATNewRepository boots the stick with a freshly formatted exFAT
// USB disk (MBR, one exFAT partition, as cameras and large sticks come,
// with a file of its owner's and no repository): the capture wizard
// offers it as a new repository, makes lifeboat/ on it (the rescue
// kernel's exFAT driver, mounted read-write), captures the demo disk into
// it, and the machine powers off. On the host, fsck.exfat finds the volume
// consistent, its root holds the owner's file and lifeboat/ only, and the
// image verifies.
func TestExFATNewRepository(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	for _, tool := range []string{"sfdisk", "mkfs.exfat", "fsck.exfat", "mount.exfat-fuse"} {
		testutil.Tool(t, tool)
	}
	work := t.TempDir()
	demo := filepath.Join(work, "demo.img")
	makeDemoDisk(t, demo, fmt.Sprintf("lifeboat exfat test %d", time.Now().UnixNano()))
	usb := filepath.Join(work, "camera.img")
	const size = 2 << 30
	if err := os.WriteFile(usb, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(usb, size); err != nil {
		t.Fatal(err)
	}
	sf := exec.Command("sfdisk", "-q", usb)
	sf.Stdin = strings.NewReader("label: dos\nstart=2048, type=7\n")
	if out, err := sf.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v\n%s", usb, err, out)
	}
	partition := func() string {
		dev := loop(t, usb, 1<<20, size-1<<20)
		t.Cleanup(func() { detachOver(usb) })
		return dev
	}
	dev := partition()
	run(t, "mkfs.exfat", "-L", "CAMERA", dev)
	withExFAT(t, dev, false, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte("the owner's photo\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	run(t, "losetup", "-d", dev)

	v := startVM(t, "-m", "1024", "-smp", "2",
		"-device", "qemu-xhci", "-device", "usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0",
		"-drive", "file="+filepath.Join(media, "lifeboat.img")+",format=raw,if=none,id=stick,snapshot=on",
		"-device", "usb-storage,drive=cam,serial=CAMERA01", "-drive", "file="+usb+",format=raw,if=none,id=cam",
		"-device", "virtio-blk-pci,drive=src,serial=DEMO-SRC", "-drive", "file="+demo+",format=raw,if=none,id=src",
	)
	v.waitFor(4*time.Minute, "Lifeboat", "c capture")
	v.keys("l")
	v.waitFor(2*time.Minute, "room for a new repository on", "CAMERA01")
	v.keys("Escape")
	v.waitFor(time.Minute, "Disks", "p power off")
	v.selectRow("DEMO-SRC")
	v.keys("c")
	v.waitFor(time.Minute, "1/4 choose the disk to capture")
	v.keys("Enter")
	offer := "new repository on CAMERA01 partition 1 (exfat, CAMERA, "
	s := v.waitFor(time.Minute, "2/4 choose the repository", offer)
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, offer) {
			break
		}
		if strings.Contains(l, "found on /dev/") || strings.Contains(l, "makes lifeboat/ at its root") {
			n++
		}
	}
	for range n {
		v.keys("Down")
	}
	v.keys("Enter")
	v.waitFor(time.Minute, "New repository", "CAMERA01, partition 1", `exfat labelled "CAMERA"`, "A directory named lifeboat")
	v.keys("Enter")
	v.waitFor(2*time.Minute, "3/4 name and options", "Image name")
	v.keys("C-u")
	v.text("cam1")
	v.waitUntil(time.Minute, "the image name cam1 typed", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(strings.Trim(l, "║ ")); len(f) == 3 && f[0] == "Image" && f[1] == "name" {
				return f[2] == "cam1"
			}
		}
		return false
	})
	v.keys("Tab", "Tab", "Tab", "Enter")
	s = v.waitFor(2*time.Minute, "4/4 summary", "serial DEMO-SRC", "/lifeboat", `as image "cam1"`, "Press Enter to start")
	t.Logf("capture summary:\n%s", s)
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Capture cam1")
	t.Logf("capture done %s after QEMU started:\n%s", v.since(), s)
	v.keys("Enter")
	v.waitFor(time.Minute, "Disks", "p power off")
	v.keys("p")
	v.waitFor(time.Minute, "Power off now?")
	v.keys("y")
	v.waitExit(2 * time.Minute)

	dev = partition()
	if out, err := exec.Command("fsck.exfat", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("fsck.exfat -n finds the exFAT volume inconsistent: %v\n%s", err, out)
	}
	withExFAT(t, dev, true, func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		if strings.Join(names, " ") != "lifeboat photo.jpg" {
			t.Errorf("the root of the exFAT volume holds %q, want the owner's photo.jpg and lifeboat", names)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "photo.jpg")); err != nil || string(b) != "the owner's photo\n" {
			t.Errorf("the owner's file: %q, %v", b, err)
		}
		r, err := repo.Open(filepath.Join(dir, "lifeboat"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.ReadManifest("cam1")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := engine.Verify(t.Context(), r, m, engine.VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("verify image cam1 on the exFAT volume: %v %+v", err, rep.Problems)
		}
		t.Logf("image cam1 on the exFAT volume: %d chunks, %d bytes verified", rep.Chunks, rep.Bytes)
	})
}
