package inventory

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fixture returns the Source of the fixture tree testdata/sysfs/name.
func fixture(name string) Source {
	dir := filepath.Join("..", "..", "testdata", "sysfs", name)
	return Source{
		SysRoot:   filepath.Join(dir, "sys"),
		MountInfo: filepath.Join(dir, "mountinfo"),
		Swaps:     filepath.Join(dir, "swaps"),
		DevRoot:   "/dev",
	}
}

const sector = 512

// The disks of testdata/sysfs/pc as its mountinfo and swaps show them in use.
func pcDisks() []Disk {
	return []Disk{
		{
			Name: "dm-0", Path: "/dev/dm-0", Major: 253, Minor: 0,
			Size:              1948278784 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport:   "virtual",
			MountPoints: []string{"/"},
			Mounts:      []Mount{{Device: "dm-0", Point: "/"}},
			Boot:        true,
		},
		{
			Name: "dm-1", Path: "/dev/dm-1", Major: 253, Minor: 1,
			Size:              16777216 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport:   "virtual",
			MountPoints: []string{"[SWAP]"}, // named /dev/mapper/vg0-swap in swaps
			Mounts:      []Mount{{Device: "dm-1", Point: "[SWAP]", Swap: true}},
		},
		{
			Name: "loop1", Path: "/dev/loop1", Major: 7, Minor: 1,
			Size:              229376 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			ReadOnly:    true,
			Transport:   "loop",
			BackingFile: "/var/lib/snapd/snaps/core_123.snap",
			MountPoints: []string{"/snap/core/123"},
			Mounts:      []Mount{{Device: "loop1", Point: "/snap/core/123"}},
		},
		{
			Name: "mmcblk0", Path: "/dev/mmcblk0", Major: 179, Minor: 0,
			Model: "SC32G", Serial: "0x1a2b3c4d",
			Size:              62333952 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport: "mmc",
			Partitions: []Partition{
				{Name: "mmcblk0p1", Path: "/dev/mmcblk0p1", Number: 1, Major: 179, Minor: 1, Start: 8192 * sector, Size: 62325760 * sector},
			},
		},
		{
			Name: "nvme0n1", Path: "/dev/nvme0n1", Major: 259, Minor: 0,
			Model: "Samsung SSD 980 PRO 1TB", Serial: "S5GXNX0T123456A", WWN: "eui.002538b911b2c3d4",
			Size:              1953525168 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport: "nvme",
			Partitions: []Partition{
				{Name: "nvme0n1p1", Path: "/dev/nvme0n1p1", Number: 1, Major: 259, Minor: 1, Start: 2048 * sector, Size: 1048576 * sector,
					MountPoints: []string{"/boot/efi"}},
				{Name: "nvme0n1p2", Path: "/dev/nvme0n1p2", Number: 2, Major: 259, Minor: 2, Start: 1050624 * sector, Size: 4194304 * sector,
					MountPoints: []string{"/boot"}},
				{Name: "nvme0n1p3", Path: "/dev/nvme0n1p3", Number: 3, Major: 259, Minor: 3, Start: 5244928 * sector, Size: 1948280207 * sector,
					Holders: []string{"dm-0", "dm-1"}, MountPoints: []string{"/", "[SWAP]"}},
			},
			Holders:     []string{"dm-0", "dm-1"},
			MountPoints: []string{"/", "/boot", "/boot/efi", "[SWAP]"},
			Mounts: []Mount{
				{Device: "dm-0", Point: "/"},
				{Device: "nvme0n1p2", Point: "/boot"},
				{Device: "nvme0n1p1", Point: "/boot/efi"},
				{Device: "dm-1", Point: "[SWAP]", Swap: true},
			},
			Boot: true,
		},
		{
			Name: "sda", Path: "/dev/sda", Major: 8, Minor: 0,
			Model: "Samsung SSD 870", Vendor: "ATA", Serial: "S6PNNS0T912345K", WWN: "naa.5002538f42b1c3d4",
			Size:              1953525168 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport: "sata",
			Partitions: []Partition{
				{Name: "sda1", Path: "/dev/sda1", Number: 1, Major: 8, Minor: 1, Start: 2048 * sector, Size: 1936746496 * sector,
					MountPoints: []string{"/mnt/data disk", "/srv/backups"}},
				{Name: "sda2", Path: "/dev/sda2", Number: 2, Major: 8, Minor: 2, Start: 1936748544 * sector, Size: 16775168 * sector,
					MountPoints: []string{"[SWAP]"}},
			},
			MountPoints: []string{"/mnt/data disk", "/srv/backups", "[SWAP]"},
			Mounts: []Mount{
				{Device: "sda1", Point: "/mnt/data disk"},
				{Device: "sda1", Point: "/srv/backups"},
				{Device: "sda2", Point: "[SWAP]", Swap: true},
			},
		},
		{
			Name: "sdb", Path: "/dev/sdb", Major: 8, Minor: 16,
			Model: "Ultra Fit", Vendor: "SanDisk",
			Serial:            "4C530001230615117154", // from the USB device: vpd_pg80 is junk
			Size:              60063744 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Removable: true, Rotational: true,
			Transport: "usb",
			Partitions: []Partition{
				{Name: "sdb1", Path: "/dev/sdb1", Number: 1, Major: 8, Minor: 17, Start: 2048 * sector, Size: 60061696 * sector},
			},
		},
		{
			Name: "zram0", Path: "/dev/zram0", Major: 252, Minor: 0,
			Size:              8388608 * sector,
			LogicalSectorSize: 4096, PhysicalSectorSize: 4096,
			Transport:   "virtual",
			MountPoints: []string{"[SWAP]"},
			Mounts:      []Mount{{Device: "zram0", Point: "[SWAP]", Swap: true}},
		},
	}
}

// withoutSwap removes the swap entries of ds.
func withoutSwap(ds []Disk) []Disk {
	drop := func(ps []string) []string {
		out := slices.DeleteFunc(slices.Clone(ps), func(p string) bool { return p == "[SWAP]" })
		if len(out) == 0 {
			return nil
		}
		return out
	}
	for i := range ds {
		d := &ds[i]
		d.MountPoints = drop(d.MountPoints)
		d.Mounts = slices.DeleteFunc(d.Mounts, func(m Mount) bool { return m.Swap })
		if len(d.Mounts) == 0 {
			d.Mounts = nil
		}
		for j := range d.Partitions {
			d.Partitions[j].MountPoints = drop(d.Partitions[j].MountPoints)
		}
	}
	return ds
}

// pcInitramfs is the same PC booted into an initramfs from the USB stick:
// nothing mounted, no swap, only the boot device marked.
func pcInitramfs() []Disk {
	ds := pcDisks()
	for i := range ds {
		d := &ds[i]
		d.MountPoints, d.Mounts, d.Boot = nil, nil, d.Name == "sdb"
		for j := range d.Partitions {
			d.Partitions[j].MountPoints = nil
		}
	}
	return ds
}

func serverDisks() []Disk {
	scsi := func(name string, minor uint32, sectors int64) Disk {
		return Disk{
			Name: name, Path: "/dev/" + name, Major: 8, Minor: minor,
			Model: "QEMU HARDDISK", Vendor: "QEMU",
			Size:              sectors * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true,
			Transport:  "scsi",
		}
	}
	md := func(d Disk, part string) Disk {
		d.Partitions = []Partition{{Name: part, Path: "/dev/" + part, Number: 1, Major: 8, Minor: d.Minor + 1,
			Start: 2048 * sector, Size: 41940992 * sector, Holders: []string{"dm-2", "md127"}, MountPoints: []string{"/", "/var"}}}
		d.Holders = []string{"dm-2", "md127"} // dm-2 is on md127p2
		d.MountPoints = []string{"/", "/var"}
		d.Mounts = []Mount{{Device: "md127p1", Point: "/"}, {Device: "dm-2", Point: "/var"}}
		d.Boot = true
		return d
	}
	sda := md(scsi("sda", 0, 41943040), "sda1")
	sda.Serial, sda.WWN = "drive-scsi0", "naa.5000c50015ea71ac"
	sdb := md(scsi("sdb", 16, 41943040), "sdb1")
	sdb.Serial, sdb.WWN = "drive-scsi1", "naa.6001405abcdef0123456789abcdef013"
	sdc := scsi("sdc", 32, 209715200)
	sdc.PhysicalSectorSize = 4096
	sdc.WWN = "naa.5000c50015ea71ad" // from device/wwid; vpd_pg80 is malformed
	sdc.MountPoints = []string{"/srv"}
	sdc.Mounts = []Mount{{Device: "sdc", Point: "/srv"}}
	sdd := scsi("sdd", 48, 209715200)
	sdd.Model, sdd.Vendor = "", ""
	sdd.PhysicalSectorSize = 4096
	sdd.MountPoints = []string{"/srv"} // the second device of the btrfs on sdc
	sdd.Mounts = []Mount{{Device: "sdd", Point: "/srv"}}
	return []Disk{
		{
			Name: "dm-0", Path: "/dev/dm-0", Major: 253, Minor: 0,
			Size:              16740352 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "virtual",
			Holders:     []string{"dm-1"},
			MountPoints: []string{"/home"},
			Mounts:      []Mount{{Device: "dm-1", Point: "/home"}},
		},
		{
			Name: "dm-1", Path: "/dev/dm-1", Major: 253, Minor: 1,
			Size:              16736256 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "virtual",
			MountPoints: []string{"/home"},
			Mounts:      []Mount{{Device: "dm-1", Point: "/home"}},
		},
		{
			Name: "dm-2", Path: "/dev/dm-2", Major: 253, Minor: 2,
			Size:              20922368 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "virtual",
			MountPoints: []string{"/var"},
			Mounts:      []Mount{{Device: "dm-2", Point: "/var"}},
		},
		{
			Name: "md127", Path: "/dev/md127", Major: 9, Minor: 127,
			Size:              41906176 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "virtual",
			Partitions: []Partition{
				{Name: "md127p1", Path: "/dev/md127p1", Number: 1, Major: 259, Minor: 1, Start: 2048 * sector, Size: 20971520 * sector,
					MountPoints: []string{"/"}},
				{Name: "md127p2", Path: "/dev/md127p2", Number: 2, Major: 259, Minor: 2, Start: 20973568 * sector, Size: 20930560 * sector,
					Holders: []string{"dm-2"}, MountPoints: []string{"/var"}},
			},
			Holders:     []string{"dm-2"},
			MountPoints: []string{"/", "/var"},
			Mounts:      []Mount{{Device: "md127p1", Point: "/"}, {Device: "dm-2", Point: "/var"}},
			Boot:        true,
		},
		{
			Name: "nvme0n1", Path: "/dev/nvme0n1", Major: 259, Minor: 0,
			Model: "QEMU NVMe Ctrl", Serial: "nvme-disk-1",
			WWN:               "nvme.1b36-6e766d652d6469736b2d31-51454d55204e564d65204374726c-00000001",
			Size:              20971520 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Transport: "nvme",
		},
		sda, sdb, sdc, sdd,
		{
			Name: "vda", Path: "/dev/vda", Major: 254, Minor: 0,
			Vendor: "Red Hat", VendorID: "0x1af4", Serial: "vd-serial-01",
			Size:              20971520 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "virtio",
			Partitions: []Partition{
				{Name: "vda1", Path: "/dev/vda1", Number: 1, Major: 254, Minor: 1, Start: 2048 * sector, Size: 4194304 * sector,
					MountPoints: []string{"/var/lib/data"}},
				{Name: "vda2", Path: "/dev/vda2", Number: 2, Major: 254, Minor: 2, Start: 4196352 * sector, Size: 16773120 * sector,
					Holders: []string{"dm-0", "dm-1"}, MountPoints: []string{"/home"}},
			},
			Holders:     []string{"dm-0", "dm-1"},
			MountPoints: []string{"/home", "/var/lib/data"},
			Mounts: []Mount{
				{Device: "dm-1", Point: "/home"},
				{Device: "vda1", Point: "/var/lib/data"},
			},
		},
	}
}

// The disks of testdata/sysfs/vm, captured by capture.sh on a Firecracker
// VM with one virtio-blk disk: loop0 holds a mounted ext4, loop1 swap;
// loop2..7 have no backing file and zram0 is empty, so they are left out.
func vmDisks() []Disk {
	return []Disk{
		{
			Name: "loop0", Path: "/dev/loop0", Major: 7, Minor: 0,
			Size:              16 << 20,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "loop",
			BackingFile: "/tmp/lifeboat-capture/fs.img",
			MountPoints: []string{"/tmp/lifeboat-capture/mnt point"},
			Mounts:      []Mount{{Device: "loop0", Point: "/tmp/lifeboat-capture/mnt point"}},
		},
		{
			Name: "loop1", Path: "/dev/loop1", Major: 7, Minor: 1,
			Size:              8 << 20,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Rotational: true, Transport: "loop",
			BackingFile: "/tmp/lifeboat-capture/swap.img",
			MountPoints: []string{"[SWAP]"},
			Mounts:      []Mount{{Device: "loop1", Point: "[SWAP]", Swap: true}},
		},
		{
			Name: "vda", Path: "/dev/vda", Major: 254, Minor: 0,
			Vendor: "Red Hat", VendorID: "0x1af4", Serial: "177663292098149",
			Size:              536870912 * sector,
			LogicalSectorSize: 512, PhysicalSectorSize: 4096,
			Rotational: true, Transport: "virtio",
			MountPoints: []string{"/"},
			Mounts:      []Mount{{Device: "vda", Point: "/"}},
			Boot:        true,
		},
	}
}

func TestScanFixtures(t *testing.T) {
	pcInit := fixture("pc")
	pcInit.MountInfo = filepath.Join(filepath.Dir(pcInit.MountInfo), "mountinfo-initramfs")
	pcInit.Swaps = filepath.Join(filepath.Dir(pcInit.Swaps), "swaps-initramfs")
	pcInit.BootDevices = []string{"sdb"}
	pcInitPart := pcInit
	pcInitPart.BootDevices = []string{"sdb1", "sdz"} // a partition stands for its disk; unknown names are ignored
	pcInitPath := pcInit
	pcInitPath.BootDevices = []string{"/dev/sdb"}
	pcNoSwaps := fixture("pc")
	pcNoSwaps.Swaps = filepath.Join(t.TempDir(), "missing") // a kernel without swap has no /proc/swaps
	noSwaps := withoutSwap(pcDisks())

	tests := []struct {
		name string
		src  Source
		want []Disk
	}{
		{"pc", fixture("pc"), pcDisks()},
		{"pc initramfs booted from usb", pcInit, pcInitramfs()},
		{"pc initramfs boot partition", pcInitPart, pcInitramfs()},
		{"pc initramfs boot device path", pcInitPath, pcInitramfs()},
		{"pc without swaps table", pcNoSwaps, noSwaps},
		{"server", fixture("server"), serverDisks()},
		{"vm capture", fixture("vm"), vmDisks()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Scan(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Scan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanDevRoot(t *testing.T) {
	src := fixture("pc")
	src.DevRoot = "/target/dev/"
	got, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path)
		for _, p := range d.Partitions {
			paths = append(paths, p.Path)
		}
	}
	want := []string{
		"/target/dev/dm-0", "/target/dev/dm-1", "/target/dev/loop1", "/target/dev/mmcblk0", "/target/dev/mmcblk0p1",
		"/target/dev/nvme0n1", "/target/dev/nvme0n1p1", "/target/dev/nvme0n1p2", "/target/dev/nvme0n1p3",
		"/target/dev/sda", "/target/dev/sda1", "/target/dev/sda2", "/target/dev/sdb", "/target/dev/sdb1",
		"/target/dev/zram0",
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	// Swap and mount sources are read under DevRoot too: /dev/sda2 is
	// not under /target/dev, so no swap is found, while mounts, matched by
	// device number, still are.
	for _, d := range got {
		if d.Name == "sda" {
			if diff := cmp.Diff([]string{"/mnt/data disk", "/srv/backups"}, d.MountPoints); diff != "" {
				t.Errorf("sda mount points (-want +got):\n%s", diff)
			}
		}
	}
}

func TestDefaultSource(t *testing.T) {
	want := Source{SysRoot: "/sys", MountInfo: "/proc/self/mountinfo", Swaps: "/proc/swaps", DevRoot: "/dev"}
	if diff := cmp.Diff(want, DefaultSource()); diff != "" {
		t.Errorf("DefaultSource (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, Source{}.WithDefaults()); diff != "" {
		t.Errorf("zero Source defaults (-want +got):\n%s", diff)
	}
	part := Source{SysRoot: "/x/sys", BootDevices: []string{"sdb"}}
	wantPart := want
	wantPart.SysRoot, wantPart.BootDevices = "/x/sys", []string{"sdb"}
	if diff := cmp.Diff(wantPart, part.WithDefaults()); diff != "" {
		t.Errorf("partial Source defaults (-want +got):\n%s", diff)
	}
}

// copyTree copies a fixture tree (files, directories and symbolic links)
// so a test can break it.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// brokenPC copies the pc fixture and applies breakFn to its sys/ directory.
func brokenPC(t *testing.T, breakFn func(sys string)) Source {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, filepath.Join("..", "..", "testdata", "sysfs", "pc"), dir)
	breakFn(filepath.Join(dir, "sys"))
	return Source{
		SysRoot:   filepath.Join(dir, "sys"),
		MountInfo: filepath.Join(dir, "mountinfo"),
		Swaps:     filepath.Join(dir, "swaps"),
	}
}

const pcSda = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"

func TestScanErrors(t *testing.T) {
	write := func(rel, s string) func(string) {
		return func(sys string) {
			if err := os.WriteFile(filepath.Join(sys, rel), []byte(s), 0o644); err != nil {
				panic(err)
			}
		}
	}
	relink := func(rel, target string) func(string) {
		return func(sys string) {
			p := filepath.Join(sys, rel)
			if err := os.Remove(p); err != nil {
				panic(err)
			}
			if err := os.Symlink(target, p); err != nil {
				panic(err)
			}
		}
	}
	remove := func(rel string) func(string) {
		return func(sys string) {
			if err := os.Remove(filepath.Join(sys, rel)); err != nil {
				panic(err)
			}
		}
	}
	tests := []struct {
		name     string
		breakFn  func(sys string)
		wantErr  string // the message, after the temporary directory
		notExist bool
	}{
		{"missing size", remove(pcSda + "/block/sda/size"), "/sys/block/sda/size: no such file or directory", true},
		{"missing dev", remove(pcSda + "/block/sda/dev"), "/sys/block/sda/dev: no such file or directory", true},
		{"missing partition start", remove(pcSda + "/block/sda/sda1/start"), "/sys/block/sda/sda1/start: no such file or directory", true},
		{"bad ro", write("devices/virtual/block/zram0/ro", "x\n"), `parse TMP/sys/block/zram0/ro: strconv.ParseInt: parsing "x": invalid syntax`, false},
		{"bad dev", write("devices/virtual/block/zram0/dev", "252\n"), `parse TMP/sys/block/zram0/dev: device number "252" is not MAJ:MIN`, false},
		{"huge size", write("devices/virtual/block/zram0/size", "36028797018963968\n"), "parse TMP/sys/block/zram0/size: 36028797018963968 sectors out of range", false},
		{"long attribute", write(pcSda+"/model", strings.Repeat("x", 5000)), "read TMP/sys/block/sda/device/model: longer than 4096 bytes", false},
		{"absolute link", relink("block/zram0", "/sys/devices/virtual/block/zram0"),
			"resolve TMP/sys/block/zram0: block/zram0 is an absolute symbolic link (/sys/devices/virtual/block/zram0)", false},
		// A link climbing out of the tree stops at its root, where there is
		// no etc/ to find: the host's /etc is never read.
		{"link out of the tree", relink("block/zram0", "../../../../../../../../../../etc"),
			"resolve TMP/sys/block/zram0: no such file or directory", true},
		{"link loop", relink("block/zram0", "zram0"),
			"resolve TMP/sys/block/zram0: too many levels of symbolic links", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := brokenPC(t, tc.breakFn)
			_, err := Scan(src)
			if err == nil {
				t.Fatal("Scan succeeded")
			}
			tmp := filepath.Dir(src.SysRoot)
			got := strings.ReplaceAll(err.Error(), tmp, "TMP")
			want := tc.wantErr
			if !strings.HasPrefix(want, "parse") && !strings.HasPrefix(want, "read") && !strings.HasPrefix(want, "resolve") {
				want = "read TMP" + want
			}
			if got != want {
				t.Errorf("error\n got %s\nwant %s", got, want)
			}
			if errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tc.notExist, tc.notExist)
			}
		})
	}
}

func TestScanMissingTables(t *testing.T) {
	src := fixture("pc")
	src.MountInfo = filepath.Join(t.TempDir(), "mountinfo")
	_, err := Scan(src)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read "+src.MountInfo+": ") {
		t.Errorf("Scan without mountinfo: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(bad, []byte("22 1 253:0 / / rw - ext4 /dev/x rw\n23 1 8:1 /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src.MountInfo = bad
	_, err = Scan(src)
	want := "read " + bad + `: line 2: mountinfo line "23 1 8:1 /": 4 fields, want at least 9`
	if err == nil || err.Error() != want {
		t.Errorf("Scan with bad mountinfo:\n got %v\nwant %s", err, want)
	}
	src = fixture("pc")
	src.SysRoot = filepath.Join(t.TempDir(), "nosys")
	if _, err := Scan(src); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Scan without sysfs: %v", err)
	}
}

func TestTransport(t *testing.T) {
	tests := []struct{ name, dir, want string }{
		{"nvme0n1", "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1", "nvme"},
		{"nvme0n1", "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1", "nvme"},
		{"nvme1n1", "devices/virtual/nvme-fabrics/ctl/nvme1/nvme1n1", "nvme"},
		{"sdb", "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb", "usb"},
		{"vda", "devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "virtio"},
		{"sda", "devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:0/0:0:0:0/block/sda", "scsi"},
		{"mmcblk0", "devices/pci0000:00/0000:00:14.5/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0", "mmc"},
		{"mmcblk1", "devices/platform/soc/fe340000.mmc/mmc1/mmc1:0001/block/mmcblk1", "mmc"},
		{"sda", "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", "sata"},
		{"sdc", "devices/pci0000:00/0000:00:01.0/0000:01:00.0/host2/port-2:0/end_device-2:0/target2:0:0/2:0:0:0/block/sdc", "scsi"},
		{"loop3", "devices/virtual/block/loop3", "loop"},
		{"dm-0", "devices/virtual/block/dm-0", "virtual"},
		{"md127", "devices/virtual/block/md127", "virtual"},
		{"zram0", "devices/virtual/block/zram0", "virtual"},
		{"xvda", "devices/vbd-51712/block/xvda", ""},
	}
	for _, tc := range tests {
		if got := transport(tc.name, tc.dir); got != tc.want {
			t.Errorf("transport(%q, %q) = %q, want %q", tc.name, tc.dir, got, tc.want)
		}
	}
}

func TestInUse(t *testing.T) {
	pc := map[string]Disk{}
	for _, d := range pcDisks() {
		pc[d.Name] = d
	}
	srv := map[string]Disk{}
	for _, d := range serverDisks() {
		srv[d.Name] = d
	}
	tests := []struct {
		name string
		disk Disk
		want []string
	}{
		{"free", pc["mmcblk0"], nil},
		{"free usb stick", pc["sdb"], nil},
		{"root on lvm", pc["nvme0n1"], []string{
			"the running system booted from it",
			"mounted at / (dm-0)",
			"mounted at /boot (nvme0n1p2)",
			"mounted at /boot/efi (nvme0n1p1)",
			"active swap dm-1",
			"holds dm-0",
			"holds dm-1",
		}},
		{"mounts and swap", pc["sda"], []string{
			"mounted at /mnt/data disk (sda1)",
			"mounted at /srv/backups (sda1)",
			"active swap sda2",
		}},
		{"read-only loop", pc["loop1"], []string{"mounted at /snap/core/123 (loop1)", "read-only"}},
		{"swap on zram", pc["zram0"], []string{"active swap zram0"}},
		{"md member", srv["sda"], []string{
			"the running system booted from it",
			"mounted at / (md127p1)",
			"mounted at /var (dm-2)",
			"holds dm-2",
			"holds md127",
		}},
		{"luks and lvm", srv["vda"], []string{"mounted at /home (dm-1)", "mounted at /var/lib/data (vda1)", "holds dm-0", "holds dm-1"}},
		{"btrfs second device", srv["sdd"], []string{"mounted at /srv (sdd)"}},
		{"boot device only", pick(t, pcInitramfs(), "sdb")[0], []string{"the running system booted from it"}},
		{"assembled by hand", Disk{
			Name:        "sdx",
			MountPoints: []string{"/mnt", "[SWAP]"},
			Partitions: []Partition{
				{Name: "sdx1", MountPoints: []string{"/data"}, Holders: []string{"md0"}},
				{Name: "sdx2", MountPoints: []string{"[SWAP]"}},
			},
			ReadOnly: true,
		}, []string{
			"mounted at /mnt (sdx)",
			"active swap sdx",
			"mounted at /data (sdx1)",
			"active swap sdx2",
			"holds md0",
			"read-only",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.disk.InUse()); diff != "" {
				t.Errorf("InUse (-want +got):\n%s", diff)
			}
		})
	}
}

// pick returns the disks of ds with the given names, in that order.
func pick(t *testing.T, ds []Disk, names ...string) []Disk {
	t.Helper()
	var out []Disk
	for _, n := range names {
		i := slices.IndexFunc(ds, func(d Disk) bool { return d.Name == n })
		if i < 0 {
			t.Fatalf("no disk %s", n)
		}
		out = append(out, ds[i])
	}
	return out
}

// disksUnder on the fixtures, with the device numbers a stat would give.
func TestDisksUnderFixtures(t *testing.T) {
	pc, srv := pcDisks(), serverDisks()
	tests := []struct {
		name string
		src  Source
		path string
		dev  uint64
		want []Disk
	}{
		{"root on lvm on nvme", fixture("pc"), "/etc", unix.Mkdev(253, 0), pick(t, pc, "dm-0", "nvme0n1")},
		{"partition", fixture("pc"), "/boot/grub", unix.Mkdev(259, 2), pick(t, pc, "nvme0n1")},
		{"partition with a space", fixture("pc"), "/mnt/data disk/x", unix.Mkdev(8, 1), pick(t, pc, "sda")},
		{"loop with a missing backing file", fixture("pc"), "/snap/core/123", unix.Mkdev(7, 1), pick(t, pc, "loop1")},
		{"tmpfs", fixture("pc"), "/run/user/1000", unix.Mkdev(0, 45), nil},
		{"proc", fixture("pc"), "/proc/1", unix.Mkdev(0, 22), nil},
		{"unknown block device", fixture("pc"), "/x", unix.Mkdev(8, 99), nil},
		{"root on partitioned md", fixture("server"), "/etc", unix.Mkdev(259, 1), pick(t, srv, "md127", "sda", "sdb")},
		{"lvm on md partition", fixture("server"), "/var/log", unix.Mkdev(253, 2), pick(t, srv, "dm-2", "md127", "sda", "sdb")},
		{"lvm on luks", fixture("server"), "/home/u", unix.Mkdev(253, 1), pick(t, srv, "dm-0", "dm-1", "vda")},
		{"btrfs by mountinfo device", fixture("server"), "/srv", unix.Mkdev(0, 45), pick(t, srv, "sdc", "sdd")},
		{"btrfs subvolume by path", fixture("server"), "/srv/sub/vol/f", unix.Mkdev(0, 99), pick(t, srv, "sdc", "sdd")},
		{"overlay with an upper dir not here", fixture("server"), "/var/lib/containers/overlay/x", unix.Mkdev(0, 46), nil},
		{"anonymous device on the root", fixture("server"), "/", unix.Mkdev(0, 98), pick(t, srv, "md127", "sda", "sdb")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := disksUnder(tc.src, tc.path, tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("disksUnder(%s, %d:%d) (-want +got):\n%s", tc.path, unix.Major(tc.dev), unix.Minor(tc.dev), diff)
			}
		})
	}
}

// Lookup on the fixtures, through device nodes made with the fixtures'
// numbers.
func TestLookupFixtures(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	node := func(name string, mode uint32, major, minor uint32) string {
		p := filepath.Join(dir, name)
		if err := unix.Mknod(p, mode|0o600, int(unix.Mkdev(major, minor))); err != nil {
			t.Skipf("mknod: %v", err)
		}
		return p
	}
	pc := pcDisks()
	tests := []struct {
		name   string
		path   string
		want   Disk
		wantOK bool
	}{
		{"disk", node("sda", unix.S_IFBLK, 8, 0), pick(t, pc, "sda")[0], true},
		{"partition", node("sda2", unix.S_IFBLK, 8, 2), pick(t, pc, "sda")[0], true},
		{"nvme partition", node("nvme0n1p3", unix.S_IFBLK, 259, 3), pick(t, pc, "nvme0n1")[0], true},
		{"dm", node("vg0-root", unix.S_IFBLK, 253, 0), pick(t, pc, "dm-0")[0], true},
		{"empty dvd drive", node("sr0", unix.S_IFBLK, 11, 0), Disk{
			Name: "sr0", Path: "/dev/sr0", Major: 11, Minor: 0,
			Model: "DVD+-RW GH24NSD1", Vendor: "HL-DT-ST",
			LogicalSectorSize: 2048, PhysicalSectorSize: 2048,
			Removable: true, Rotational: true, Transport: "sata",
		}, true},
		{"character device", node("tty", unix.S_IFCHR, 8, 0), Disk{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := Lookup(fixture("pc"), tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Errorf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Lookup(%s) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
	p := node("unknown", unix.S_IFBLK, 8, 99)
	_, _, err := Lookup(fixture("pc"), p)
	want := "lookup " + p + ": block device 8:99 is not in " + filepath.Join(fixture("pc").SysRoot, "dev", "block")
	if err == nil || err.Error() != want {
		t.Errorf("Lookup of an unknown device:\n got %v\nwant %s", err, want)
	}
}

// TestBootMedia: the disk BootMedia names, asked at each scan with the
// disks found, is a boot disk.
func TestBootMedia(t *testing.T) {
	src := fixture("server")
	plain, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	medium := ""
	for _, d := range plain {
		if !d.Boot {
			medium = d.Name
		}
	}
	if medium == "" {
		t.Fatal("the fixture has no disk that is not a boot disk")
	}
	var asked []string
	src.BootMedia = func(disks []string) []string {
		asked = disks
		return []string{medium}
	}
	list, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != len(list) {
		t.Fatalf("BootMedia was asked about %q; the scan found %d disks", asked, len(list))
	}
	for i, d := range list {
		if want := plain[i].Boot || d.Name == medium; d.Boot != want {
			t.Errorf("%s: Boot = %v, want %v", d.Name, d.Boot, want)
		}
	}
}

func TestCompareNames(t *testing.T) {
	want := []string{"loop2", "loop9", "loop10", "loop100", "mmcblk0", "nvme0n1", "nvme1n1", "nvme2n1", "nvme10n1",
		"sda", "sdb", "sdz", "sdaa", "sdab", "sr0", "vda", "vdb"}
	got := slices.Clone(want)
	for i := range got { // a fixed shuffle: reversed, then pairs swapped
		j := len(got) - 1 - i
		if i < j {
			got[i], got[j] = got[j], got[i]
		}
	}
	for i := 0; i+1 < len(got); i += 2 {
		got[i], got[i+1] = got[i+1], got[i]
	}
	slices.SortStableFunc(got, CompareNames)
	if !slices.Equal(got, want) {
		t.Errorf("sorted: %q\nwant     %q", got, want)
	}
	for _, n := range want {
		if CompareNames(n, n) != 0 {
			t.Errorf("CompareNames(%q, %q) != 0", n, n)
		}
	}
}
