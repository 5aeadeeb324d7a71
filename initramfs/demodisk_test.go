package initramfs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoMarker is the line the demo system's init (build/demoinit) prints on
// the serial console, followed by its demo id.
const demoMarker = "LIFEBOAT-DEMO-SYSTEM-UP"

// makeDemoDisk builds the demo disk (build/demodisk.sh, 256 MiB) at path
// with id as its demo id, which the demo system prints when it boots. The
// kernel comes from LIFEBOAT_BOOT_DIR; the test is skipped when that is not
// set or when not running as root.
func makeDemoDisk(t *testing.T, path string, id string) {
	t.Helper()
	dir := os.Getenv("LIFEBOAT_BOOT_DIR")
	if dir == "" {
		t.Skip("LIFEBOAT_BOOT_DIR is not set: run make test, which builds the rescue environment first")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	top, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(top, "build", "demodisk.sh")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, path)
	cmd.Env = append(os.Environ(), "KERNEL="+filepath.Join(dir, "vmlinuz"), "DEMO_ID="+id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// bootDemoDisk boots the disk image img alone in QEMU (TCG, legacy BIOS,
// virtio) and returns what appeared on the serial console. It fails the
// test unless the machine powers itself off.
func bootDemoDisk(t *testing.T, img string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 is missing: run make deps")
	}
	const limit = 4 * time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-m", "512", "-display", "none",
		"-serial", "stdio", "-no-reboot", "-drive", "file="+img+",format=raw,if=virtio")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the machine booted from %s did not power off within %s; serial console:\n%s", img, limit, out)
	}
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, out)
	}
	return string(out)
}

// TestDemoDiskBootsAlone builds the demo disk and boots it on its own:
// GRUB in its MBR must start the kernel from its ext4 partition, and the
// demo system must print its marker and the disk's demo id, then power the
// machine off.
func TestDemoDiskBootsAlone(t *testing.T) {
	img := filepath.Join(t.TempDir(), "demo.img")
	id := fmt.Sprintf("lifeboat demo disk %s %d", t.Name(), time.Now().UnixNano())
	makeDemoDisk(t, img, id)
	start := time.Now()
	out := bootDemoDisk(t, img)
	i := strings.Index(out, demoMarker)
	if i < 0 {
		t.Fatalf("no %s on the serial console:\n%s", demoMarker, out)
	}
	if !strings.Contains(out[i:], id) {
		t.Fatalf("the demo id %q does not follow %s on the serial console:\n%s", id, demoMarker, out)
	}
	t.Logf("booted and powered off in %s; serial console:\n%s", time.Since(start).Round(100*time.Millisecond), out)
}
