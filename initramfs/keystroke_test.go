package initramfs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
)

// TestKeystrokeCaptureRestore drives the text UI by keystrokes over the
// serial console, as a technician on a serial line would: it boots the
// rescue environment with a bootable demo disk, a disk holding an empty
// repository and a blank disk, captures the demo disk into the repository
// the UI found, restores the image onto the blank disk (after a wrong
// confirmation that must write nothing), and powers the machine off from
// the UI. The restored disk must then equal the demo disk byte for byte
// and boot on its own.
func TestKeystrokeCaptureRestore(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	work := t.TempDir()
	stage := time.Now()
	took := func() time.Duration {
		d := time.Since(stage).Round(100 * time.Millisecond)
		stage = time.Now()
		return d
	}

	demo := filepath.Join(work, "demo.img")
	id := fmt.Sprintf("lifeboat demo disk %s %d", t.Name(), time.Now().UnixNano())
	makeDemoDisk(t, demo, id)
	st, err := os.Stat(demo)
	if err != nil {
		t.Fatal(err)
	}
	demoHash := testutil.HashFile(t, demo, -1)
	repoImg := filepath.Join(work, "repo.img")
	repoDisk(t, repoImg, "LBREPO", 1<<30, nil)
	target := blankDisk(t, "target.img", st.Size())
	blankHash := testutil.HashFile(t, target, -1)
	t.Logf("demo disk (%d MiB), repository disk and blank target made in %s", st.Size()>>20, took())

	v := startVM(t, "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=tty0 console=ttyS0,115200 quiet",
		"-device", "virtio-blk-pci,drive=src,serial=DEMO-SRC", "-drive", "file="+demo+",format=raw,if=none,id=src",
		"-device", "nvme,serial=REPO0001,drive=repo", "-drive", "file="+repoImg+",format=raw,if=none,id=repo",
		"-device", "virtio-scsi-pci,id=vs", "-device", "scsi-hd,bus=vs.0,drive=dst,serial=BLANK0001",
		"-drive", "file="+target+",format=raw,if=none,id=dst",
	)
	v.waitFor(4*time.Minute, "Lifeboat", "c capture")
	t.Logf("the text UI appeared %s after QEMU started", took())

	// The home screen lists the three disks, and the repository once the
	// UI has found it.
	diskCols := []string{"DISK", "SIZE", "MODEL", "SERIAL", "BUS", "TABLE", "FLAGS"}
	s := v.waitUntil(2*time.Minute, "the three disks and the repository", func(s string) bool {
		rows := tableRows(s, diskCols...)
		r := rowWith(rows, "SERIAL", "REPO0001")
		return r != nil && strings.HasPrefix(r["FLAGS"], "repo") &&
			rowWith(rows, "SERIAL", "DEMO-SRC") != nil && rowWith(rows, "SERIAL", "BLANK0001") != nil
	})
	rows := tableRows(s, diskCols...)
	repoDev := rowWith(rows, "SERIAL", "REPO0001")["DISK"]
	t.Logf("every disk and the repository on %s were shown %s later:\n%s", repoDev, took(), s)

	// Capture: the demo disk, into the repository found, as demo1.
	v.selectRow("DEMO-SRC")
	v.keys("c")
	v.waitFor(time.Minute, "1/4 choose the disk to capture")
	if row := v.selectedRow(); !strings.Contains(row, "DEMO-SRC") {
		t.Fatalf("the capture wizard does not start on the disk chosen on the disks screen; highlighted: %q\n%s", row, v.screen())
	}
	v.keys("Enter")
	v.waitFor(time.Minute, "2/4 choose the repository", "found on /dev/"+repoDev+" (ext4)")
	v.keys("Enter")
	v.waitFor(time.Minute, "3/4 name and options", "Image name")
	v.keys("C-u")
	v.text("demo1")
	v.waitUntil(time.Minute, "the image name demo1 typed", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(strings.Trim(l, "║ ")); len(f) == 3 && f[0] == "Image" && f[1] == "name" {
				return f[2] == "demo1"
			}
		}
		return false
	})
	v.keys("Tab", "Tab", "Tab", "Enter") // past the compression and the all-sectors box to Next
	s = v.waitFor(2*time.Minute, "4/4 summary", "serial DEMO-SRC", `as image "demo1"`, "Press Enter to start")
	t.Logf("capture wizard walked in %s:\n%s", took(), s)
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Capture demo1")
	t.Logf("capture took %s:\n%s", took(), s)
	v.keys("Enter")
	v.waitFor(time.Minute, "Disks", "p power off")

	// Restore demo1 onto the blank disk: the repository's disk is not
	// offered, and typing the source's serial instead of the target's
	// writes nothing.
	v.keys("r")
	v.waitFor(time.Minute, "1/3 choose the repository", "found on /dev/"+repoDev)
	v.keys("Enter")
	v.waitFor(time.Minute, "1/3 choose the image", "demo1")
	if row := v.selectedRow(); !strings.Contains(row, "demo1") || !strings.Contains(row, "DEMO-SRC") {
		t.Fatalf("image demo1 of DEMO-SRC is not highlighted: %q\n%s", row, v.screen())
	}
	v.keys("Enter")
	v.waitFor(time.Minute, "2/3 choose the disk to overwrite with demo1", "Not offered: "+repoDev+" (it holds the repository)")
	v.selectRow("BLANK0001")
	v.keys("Enter")
	s = v.waitFor(2*time.Minute, "3/3 confirm", "DESTROY", "serial BLANK0001", "image demo1, captured", "Type BLANK0001 to destroy it and restore")
	t.Logf("restore wizard walked in %s:\n%s", took(), s)
	v.text("DEMO-SRC")
	v.keys("Enter")
	v.waitFor(time.Minute, `You typed "DEMO-SRC", not "BLANK0001". Nothing was written.`)
	if testutil.HashFile(t, target, -1) != blankHash {
		t.Fatal("a wrong confirmation wrote to the target")
	}
	stage = time.Now()
	v.text("BLANK0001")
	v.keys("Enter")
	s = v.waitJob(15*time.Minute, "Restore demo1")
	if !strings.Contains(s, "every chunk matched its hash") {
		t.Errorf("the restore's summary does not say every chunk matched its hash:\n%s", s)
	}
	t.Logf("restore took %s:\n%s", took(), s)
	v.keys("Enter")
	v.waitUntil(2*time.Minute, "the target with the demo disk's MBR", func(s string) bool {
		r := rowWith(tableRows(s, diskCols...), "SERIAL", "BLANK0001")
		return r != nil && r["TABLE"] == "mbr"
	})

	// Power off from the UI.
	v.keys("p")
	v.waitFor(time.Minute, "Power off now?")
	v.keys("y")
	v.waitExit(2 * time.Minute)
	t.Logf("the UI showed the restored table and powered the machine off in %s", took())

	// The demo disk was only read; the target now holds its every byte
	// and boots on its own.
	if testutil.HashFile(t, demo, -1) != demoHash {
		t.Error("the capture changed the demo disk")
	}
	sameBytes(t, demo, target, st.Size())
	t.Logf("the target equals the demo disk (compared in %s)", took())
	booted := bootDemoDisk(t, target)
	if i := strings.Index(booted, demoMarker); i < 0 || !strings.Contains(booted[i:], id) {
		t.Fatalf("the restored disk did not boot to its own marker and id %q:\n%s", id, booted)
	}
	t.Logf("the restored disk booted alone and powered off in %s", took())
}
