package initramfs_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

const (
	ovmfCode       = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars       = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	// The variable store with Microsoft's keys enrolled and Secure Boot
	// enforced.
	ovmfSecureVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// firmware returns QEMU arguments for UEFI firmware with a private copy of
// its variable store.
func firmware(t *testing.T, code, vars string) []string {
	t.Helper()
	for _, f := range []string{code, vars} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("UEFI firmware: %v (run make deps)", err)
		}
	}
	copyVars := filepath.Join(t.TempDir(), "vars.fd")
	copyFile(t, vars, copyVars)
	return []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + copyVars,
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	r, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMediaBoot boots the real boot media in QEMU (TCG) the ways a machine
// boots them (lifeboat.img as a USB stick on legacy BIOS, on UEFI, and on
// UEFI with Secure Boot enforced with Microsoft's keys; the network-boot
// files through QEMU's built-in DHCP and TFTP servers; lifeboat.iso as a CD
// and as a USB stick) and checks that the
// text UI comes up on the serial console, says how the machine booted, and
// lists the blank disk beside the stick.
func TestMediaBoot(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	stick := filepath.Join(media, "lifeboat.img")
	// The stick is attached read-only in effect: writes go to a snapshot.
	usb := func(img string) []string {
		return []string{"-device", "qemu-xhci", "-device", "usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0",
			"-drive", "file=" + img + ",format=raw,if=none,id=stick,snapshot=on"}
	}
	usbStick := usb(stick)
	iso := filepath.Join(media, "lifeboat.iso")
	secureBoot := func() []string {
		return append(firmware(t, ovmfSecureCode, ovmfSecureVars),
			"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		status string
	}{
		{"bios-usb", usbStick, "BIOS"},
		{"uefi-usb", append(firmware(t, ovmfCode, ovmfVars), append([]string{"-machine", "q35"}, usbStick...)...), "UEFI, Secure Boot off"},
		{"uefi-secure-boot-usb", append(secureBoot(), usbStick...),
			// Debian's kernel locks itself down under Secure Boot: only
			// signed modules load, and the NVMe disk shows that they did.
			"UEFI, Secure Boot on, lockdown integrity"},
		{"bios-network", []string{"-netdev", "user,id=net0,tftp=" + filepath.Join(media, "netboot") + ",bootfile=boot.ipxe",
			"-device", "virtio-net-pci,netdev=net0,bootindex=0"}, "BIOS"},
		// UEFI PXE with Secure Boot: the firmware's own network stack
		// (romfile= keeps QEMU's iPXE ROM out) fetches the shim, which
		// fetches Debian's signed network GRUB, which reads grub/grub.cfg.
		{"uefi-secure-boot-network", append(secureBoot(), "-netdev", "user,id=net0,tftp="+filepath.Join(media, "netboot")+",bootfile=bootnetx64.efi",
			"-device", "virtio-net-pci,netdev=net0,bootindex=0,romfile="), "UEFI, Secure Boot on, lockdown integrity"},
		// The hybrid ISO image on a CD, and written to a USB stick.
		{"iso-bios-cdrom", []string{"-cdrom", iso}, "BIOS"},
		{"iso-uefi-secure-boot-usb", append(secureBoot(), usb(iso)...), "UEFI, Secure Boot on, lockdown integrity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := blankDisk(t, "target.img", 1<<30)
			args := append([]string{"-m", "1024", "-smp", "2"}, tc.args...)
			args = append(args, "-device", "nvme,serial=BLANK0001,drive=target",
				"-drive", "file="+target+",format=raw,if=none,id=target")
			v := startVM(t, args...)
			s := v.waitFor(4*time.Minute, "Lifeboat", "c capture")
			ui := v.since()
			s = v.waitFor(2*time.Minute, tc.status, "BLANK0001")
			if strings.Contains(strings.Join(tc.args, " "), "LIFEBOAT-STICK") {
				// The stick is recognised as the boot medium, never a
				// restore target.
				s = v.waitUntil(time.Minute, "the stick marked as the boot disk", func(s string) bool {
					for _, l := range strings.Split(s, "\n") {
						if strings.Contains(l, "LIFEBOAT-STICK") {
							return strings.Contains(l, " boot") || strings.Contains(l, ",boot")
						}
					}
					return false
				})
			}
			t.Logf("%s: the text UI appeared %s after QEMU started:\n%s", tc.name, ui, s)
		})
	}
}

// TestBootMenu checks the stick's hidden boot menu: GRUB boots Lifeboat at
// once (TestMediaBoot), and shows its menu when Esc is pressed as it
// starts. The entry with the kernel's messages on screen then boots with
// them on the console, and reaches the UI.
func TestBootMenu(t *testing.T) {
	media := mediaDir(t)
	needVM(t)
	target := blankDisk(t, "target.img", 1<<30)
	args := append(firmware(t, ovmfCode, ovmfVars), "-machine", "q35", "-m", "1024", "-smp", "2",
		"-device", "qemu-xhci", "-device", "usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0",
		"-drive", "file="+filepath.Join(media, "lifeboat.img")+",format=raw,if=none,id=stick,snapshot=on",
		"-device", "nvme,serial=BLANK0001,drive=target", "-drive", "file="+target+",format=raw,if=none,id=target")
	v := startVM(t, args...)
	// The firmware has handed over to the stick; Esc from now on is
	// GRUB's (pressed earlier, it would open the firmware's own menu).
	v.waitFor(2*time.Minute, "starting Boot")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(v.screen(), "kernel messages on screen") {
		if time.Now().After(deadline) {
			t.Fatalf("no boot menu after Esc:\n%s", v.history())
		}
		if strings.Contains(v.history(), "Loading Lifeboat") {
			t.Fatalf("GRUB booted without its menu though Esc was pressed as it started:\n%s", v.history())
		}
		v.keys("Escape")
		time.Sleep(100 * time.Millisecond)
	}
	s := v.waitFor(10*time.Second, "Lifeboat", "kernel messages on screen", "UEFI firmware settings", "Reboot", "Power off")
	t.Logf("the boot menu:\n%s", s)
	v.keys("Down", "Enter")
	// The quiet entry prints no kernel messages; this one a screenful.
	stamp := regexp.MustCompile(`\[ *\d+\.\d{6}\] `)
	v.waitUntil(2*time.Minute, "the kernel's messages", func(s string) bool { return len(stamp.FindAllString(s, -1)) >= 10 })
	v.waitFor(2*time.Minute, "c capture")
	t.Logf("with the kernel's messages, the text UI appeared %s after QEMU started", v.since())
}

// TestMediaFileSystems has fsck.vfat check every FAT file system the media
// carry: the stick's EFI system partition and data partition, and the
// ISO's UEFI boot image. go-diskfs writes them; Lifeboat mends what it
// writes wrong.
func TestMediaFileSystems(t *testing.T) {
	media := mediaDir(t)
	stick := filepath.Join(media, "lifeboat.img")
	f, err := os.Open(stick)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := ptable.Read(f, st.Size(), 512)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	vols := map[string]string{}
	for _, p := range tbl.Partitions {
		if p.Size < 8<<20 {
			continue // the BIOS boot partition
		}
		img := filepath.Join(work, fmt.Sprintf("partition%d.img", p.Number))
		out, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, io.NewSectionReader(f, p.Start, p.Size)); err != nil {
			t.Fatal(err)
		}
		out.Close()
		vols[fmt.Sprintf("lifeboat.img partition %d", p.Number)] = img
	}
	efi := filepath.Join(work, "efiboot.img")
	run(t, "xorriso", "-osirrox", "on", "-indev", filepath.Join(media, "lifeboat.iso"), "-extract", "/boot/efiboot.img", efi)
	vols["lifeboat.iso /boot/efiboot.img"] = efi
	if len(vols) != 3 {
		t.Fatalf("FAT volumes %v, want the stick's two and the ISO's", vols)
	}
	for name, img := range vols {
		out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err != nil || len(lines) != 2 {
			t.Errorf("%s: fsck.vfat -n: %v\n%s", name, err, out)
		} else {
			t.Logf("%s: %s", name, lines[1])
		}
	}
}
