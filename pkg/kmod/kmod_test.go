package kmod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The fixture index: a few storage drivers with their dependencies as
// depmod writes them (every dependency, however indirect, the deepest
// last), names with dashes, a compressed module, built-in modules, and two
// malformed entries depmod never writes (a cycle, a module depending on
// itself). It holds no module files, so nothing here can reach
// finit_module.
const (
	fixtureDep = `kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/scsi_mod.ko:
kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko
kernel/drivers/nvme/host/nvme-core.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/usb/storage/uas.ko: kernel/drivers/usb/storage/usb-storage.ko kernel/drivers/scsi/scsi_mod.ko
kernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz
kernel/fs/fat/fat.ko.xz:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/platform/x86/dell-laptop.ko:
kernel/test/cycle-a.ko: kernel/test/cycle-b.ko
kernel/test/cycle-b.ko: kernel/test/cycle-a.ko
kernel/test/self.ko: kernel/test/self.ko kernel/test/cycle-b.ko kernel/test/cycle-b.ko
`
	fixtureAlias = `# Aliases extracted from modules themselves.
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d*sv*sd*bc01sc06i01* ahci
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias virtio:d00000002v* virtio_blk
alias usb:v152Dp0567d011[4-7]dc*dsc*dp*ic*isc*ip*in* uas
alias usb:v152Dp0567d011[4-7]dc*dsc*dp*ic*isc*ip*in* usb-storage
alias dmi*:svn*DellInc.*:pn*Latitude*: dell-laptop
alias fs-vfat vfat
alias fs-ext4 ext4
alias crypto-crc32c crc32c_generic
alias crypto-crc32c crc32c-intel
alias platform:serial8250 8250
alias acpi*:GHOST0000:* ghost
alias not an alias line
softdep ahci pre: libahci
`
	fixtureBuiltin = `kernel/drivers/tty/serial/8250/8250.ko
kernel/fs/ext4/ext4.ko
kernel/arch/x86/crypto/crc32c-intel.ko
`
)

// Real modaliases, as QEMU's devices show them.
const (
	aliasAHCI    = "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"
	aliasNVMe    = "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"
	aliasVirtio  = "virtio:d00000002v00001AF4"
	aliasVirtNet = "virtio:d00000001v00001AF4"
	aliasDellDMI = "dmi:bvnDellInc.:bvr1.21.0:bd07/06/2022:br1.21:svnDellInc.:pnLatitude7490:pvr:rvnDellInc.:rn0KP0FT:rvrA00:cvnDellInc.:ct10:cvr:sku0817:"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// openFixture opens the fixture index in a new directory.
func openFixture(t *testing.T) *Index {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"modules.dep":     fixtureDep,
		"modules.alias":   fixtureAlias,
		"modules.builtin": fixtureBuiltin,
	})
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"ahci":                                   "ahci",
		"usb-storage":                            "usb_storage",
		"kernel/drivers/usb/storage/uas.ko":      "uas",
		"kernel/drivers/nvme/host/nvme-core.ko":  "nvme_core",
		"kernel/fs/fat/vfat.ko.xz":               "vfat",
		"kernel/fs/btrfs/btrfs.ko.zst":           "btrfs",
		"kernel/crypto/crc32c-intel.ko.gz":       "crc32c_intel",
		"/lib/modules/6.1.0/kernel/a/snd-hda.ko": "snd_hda",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		wantDeps   map[string][]string
		wantByName map[string]string
		wantErr    string
	}{{
		name: "two dependencies",
		in:   "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio.ko:\nkernel/drivers/virtio/virtio_ring.ko:\n",
		wantDeps: map[string][]string{
			"kernel/drivers/block/virtio_blk.ko":   {"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"},
			"kernel/drivers/virtio/virtio.ko":      {},
			"kernel/drivers/virtio/virtio_ring.ko": {},
		},
		wantByName: map[string]string{
			"virtio_blk":  "kernel/drivers/block/virtio_blk.ko",
			"virtio":      "kernel/drivers/virtio/virtio.ko",
			"virtio_ring": "kernel/drivers/virtio/virtio_ring.ko",
		},
	}, {
		name: "dashes, compression, tabs, CRLF, comments and blank lines",
		in:   "# made by hand\n\nkernel/a/nvme-core.ko.zst:\r\n  kernel/b/usb-storage.ko:\tkernel/a/nvme-core.ko.zst \n",
		wantDeps: map[string][]string{
			"kernel/a/nvme-core.ko.zst": {},
			"kernel/b/usb-storage.ko":   {"kernel/a/nvme-core.ko.zst"},
		},
		wantByName: map[string]string{
			"nvme_core":   "kernel/a/nvme-core.ko.zst",
			"usb_storage": "kernel/b/usb-storage.ko",
		},
	}, {
		name:       "empty",
		in:         "",
		wantDeps:   map[string][]string{},
		wantByName: map[string]string{},
	}, {
		name:    "no colon",
		in:      "kernel/a.ko:\nkernel/b.ko kernel/a.ko\n",
		wantErr: `line 2: no colon in "kernel/b.ko kernel/a.ko"`,
	}, {
		name:    "line too long",
		in:      "kernel/a.ko: " + strings.Repeat("kernel/b.ko ", 100_000) + "\n",
		wantErr: "token too long",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			deps, byName, err := parseDep(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantDeps, deps, cmpEmptySlices); diff != "" {
				t.Errorf("deps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantByName, byName); diff != "" {
				t.Errorf("byName (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmptySlices compares a nil slice equal to an empty one.
var cmpEmptySlices = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

func TestParseAlias(t *testing.T) {
	got, err := parseAlias(strings.NewReader(`# Aliases extracted from modules themselves.
alias pci:v00008086d*sv*sd*bc01sc06i01* ahci
alias usb:v152Dp0567d011[4-7]dc*dsc*dp*ic*isc*ip*in* usb-storage
alias of:N*T*Cfsl,a\*b?* c-d
alias fs-vfat vfat
	alias   devname:net/tun   tun  
alias too many fields here
alias too-few
softdep ahci pre: libahci
aliasx a b

`))
	if err != nil {
		t.Fatal(err)
	}
	want := []alias{
		{pattern: "pci:v00008086d*sv*sd*bc01sc06i01*", prefix: "pci:v00008086d", module: "ahci"},
		{pattern: "usb:v152Dp0567d011[4-7]dc*dsc*dp*ic*isc*ip*in*", prefix: "usb:v152Dp0567d011", module: "usb_storage"},
		{pattern: `of:N*T*Cfsl,a\*b?*`, prefix: "of:N", module: "c_d"},
		{pattern: "fs-vfat", prefix: "fs-vfat", module: "vfat"},
		{pattern: "devname:net/tun", prefix: "devname:net/tun", module: "tun"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(alias{})); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
}

func TestParseBuiltin(t *testing.T) {
	got, err := parseBuiltin(strings.NewReader("kernel/fs/ext4/ext4.ko\n# comment\n\nkernel/arch/x86/crypto/crc32c-intel.ko\r\nkernel/drivers/tty/serial/8250/8250.ko"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ext4": true, "crc32c_intel": true, "8250": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("built-in modules (-want +got):\n%s", diff)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"*", "", true},
		{"**", "anything/at all", true},
		{"fs-vfat", "fs-vfat", true},
		{"fs-vfat", "fs-vfa", false},
		{"fs-vfat", "fs-vfatx", false},
		{"?", "/", true},
		{"??", "a", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYYcZ", false},
		{"a*b*c", "abcbc", true},
		{"*a*a*a*a*a*b", strings.Repeat("a", 60), false},
		// '*' spans a '/', as in a DMI modalias's BIOS date.
		{"dmi:*:svnVMware*:*", "dmi:bvnPhoenix:bvr6.00:bd11/12/2020:br4.6:svnVMware,Inc.:pnVMwareVirtualPlatform:", true},
		{"dmi*:bd*10/22/2015*:rn*AptioCRB*:", "dmi:bvnA:bd10/22/2015:br5.11:rnAptioCRB:rvr1.0:", true},
		{"pci:v00008086d*sv*sd*bc01sc06i01*", aliasAHCI, true},
		{"pci:v00008086d*sv*sd*bc01sc06i01*", "pci:v00001022d00007901sv00001022sd00007901bc01sc06i01", false},
		{"pci:v*d*sv*sd*bc01sc08i02*", aliasNVMe, true},
		{"pci:v*d*sv*sd*bc01sc08i02*", aliasAHCI, false},
		{"virtio:d00000002v*", aliasVirtio, true},
		{"virtio:d00000002v*", aliasVirtNet, false},
		// Sets.
		{"d011[4-7]dc", "d0115dc", true},
		{"d011[4-7]dc", "d0118dc", false},
		{"[0-9A-E]", "B", true},
		{"[0-9A-E]", "F", false},
		{"[!a-c]", "d", true},
		{"[!a-c]", "b", false},
		{"[^a-c]", "d", true},
		{"[^a-c]", "a", false},
		{"[]a]", "]", true},
		{"[!]a]", "]", false},
		{"[!]a]", "b", true},
		{"[a-]", "-", true},
		{"[-a]", "-", true},
		{"[a\\]]", "]", true},
		{"[\\!a]", "!", true},
		{"[z-a]", "m", false},
		{"[/]", "/", true},
		{"[ab", "[ab", true}, // no ']': the '[' is itself
		{"[ab", "a", false},
		// Quoting.
		{`a\*b`, "a*b", true},
		{`a\*b`, "aXb", false},
		{`\?`, "?", true},
		{`\a`, "a", true},
		{`a\`, `a\`, false}, // a trailing backslash matches nothing
		{`*\`, `a\`, false},
	} {
		if got := match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	ix := openFixture(t)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"ahci", []string{"ahci"}},
		{"nvme-core", []string{"nvme_core"}},
		{"nvme_core", []string{"nvme_core"}},
		{"usb-storage", []string{"usb_storage"}},
		{"kernel/drivers/usb/storage/uas.ko", []string{"uas"}},
		{"vfat", []string{"vfat"}},
		{"cycle-a", []string{"cycle_a"}},
		// Built in.
		{"ext4", []string{"ext4"}},
		{"8250", []string{"8250"}},
		{"crc32c-intel", []string{"crc32c_intel"}},
		// The kernel's own requests.
		{"fs-vfat", []string{"vfat"}},
		{"fs-ext4", []string{"ext4"}},
		{"crypto-crc32c", []string{"crc32c_generic", "crc32c_intel"}},
		// Modaliases. Two of ahci's aliases match: it comes once.
		{aliasAHCI, []string{"ahci"}},
		{aliasNVMe, []string{"nvme"}},
		{aliasVirtio, []string{"virtio_blk"}},
		{aliasVirtNet, nil},
		{"usb:v152Dp0567d0114dc00dsc00dp00ic08isc06ip50in00", []string{"uas", "usb_storage"}},
		{"usb:v152Dp0567d0117dc00dsc00dp00ic08isc06ip62in00", []string{"uas", "usb_storage"}},
		{"usb:v152Dp0567d0118dc00dsc00dp00ic08isc06ip50in00", nil},
		{aliasDellDMI, []string{"dell_laptop"}},
		{"platform:serial8250", []string{"8250"}},
		{"acpi:GHOST0000:PNP0C02:", []string{"ghost"}}, // in modules.alias only
		// Nothing.
		{"", nil},
		{"nonexistent", nil},
		{"fs-nonexistent", nil},
		{"pci:", nil},
	} {
		if got := ix.Resolve(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("Resolve(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHas(t *testing.T) {
	ix := openFixture(t)
	for name, want := range map[string]bool{
		"ahci":                         true,
		"libata":                       true,
		"nvme-core":                    true,
		"nvme_core":                    true,
		"usb-storage":                  true,
		"usb_storage":                  true,
		"vfat":                         true,
		"ext4":                         true,
		"crc32c-intel":                 true,
		"kernel/fs/fat/fat.ko.xz":      true,
		"ghost":                        false, // an alias names it, no file
		"fs-vfat":                      false, // an alias, not a module
		aliasAHCI:                      false,
		"nonexistent":                  false,
		"kernel/drivers/ata/ahci.ko.x": false,
	} {
		if got := ix.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr string // "" for none
		notExit bool   // the error is fs.ErrNotExist
	}{
		{
			name:  "no modules.builtin",
			files: map[string]string{"modules.dep": fixtureDep, "modules.alias": fixtureAlias},
		},
		{
			name:    "no modules.dep",
			files:   map[string]string{"modules.alias": fixtureAlias, "modules.builtin": fixtureBuiltin},
			wantErr: "modules.dep",
			notExit: true,
		},
		{
			name:    "no modules.alias",
			files:   map[string]string{"modules.dep": fixtureDep, "modules.builtin": fixtureBuiltin},
			wantErr: "modules.alias",
			notExit: true,
		},
		{
			name:    "bad modules.dep",
			files:   map[string]string{"modules.dep": "kernel/a.ko:\n\nkernel/b.ko\n", "modules.alias": ""},
			wantErr: `modules.dep: line 3: no colon in "kernel/b.ko"`,
		},
		{
			name: "modules.builtin unreadable",
			files: map[string]string{"modules.dep": "", "modules.alias": "",
				"modules.builtin": strings.Repeat("x", 2<<20)},
			wantErr: "modules.builtin",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			ix, err := Open(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ix.Dir != dir || !ix.Has("ahci") || ix.Has("ext4") {
					t.Errorf("Open(%s) = %+v", dir, ix)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tc.notExit {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, got, tc.notExit)
			}
		})
	}
}

func TestLoadOrder(t *testing.T) {
	ix := openFixture(t)
	for _, tc := range []struct {
		module string
		want   []string
	}{
		{"ahci", []string{"kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/ata/libata.ko", "kernel/drivers/ata/libahci.ko", "kernel/drivers/ata/ahci.ko"}},
		{"libata", []string{"kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/ata/libata.ko"}},
		{"scsi_mod", []string{"kernel/drivers/scsi/scsi_mod.ko"}},
		{"virtio_blk", []string{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko"}},
		{"nvme", []string{"kernel/drivers/nvme/host/nvme-core.ko", "kernel/drivers/nvme/host/nvme.ko"}},
		{"uas", []string{"kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/usb/storage/usb-storage.ko", "kernel/drivers/usb/storage/uas.ko"}},
		{"vfat", []string{"kernel/fs/fat/fat.ko.xz", "kernel/fs/fat/vfat.ko.xz"}},
		// A cycle ends; a module that needs itself, or a dependency twice,
		// is loaded once, last.
		{"cycle_a", []string{"kernel/test/cycle-b.ko", "kernel/test/cycle-a.ko"}},
		{"cycle_b", []string{"kernel/test/cycle-a.ko", "kernel/test/cycle-b.ko"}},
		{"self", []string{"kernel/test/cycle-b.ko", "kernel/test/self.ko"}},
	} {
		if got := ix.loadOrder(ix.byName[tc.module]); !slices.Equal(got, tc.want) {
			t.Errorf("loadOrder(%s) = %q, want %q", tc.module, got, tc.want)
		}
	}
}

// checkLoadOrder checks that the load order of every module in ix has each
// file after the files it depends on, once, and the module itself last.
func checkLoadOrder(t *testing.T, ix *Index, skip func(string) bool) {
	t.Helper()
	for p := range ix.deps {
		if skip(p) {
			continue
		}
		order := ix.loadOrder(p)
		if order[len(order)-1] != p {
			t.Errorf("loadOrder(%s) = %q: the module is not last", p, order)
		}
		at := map[string]int{}
		for i, f := range order {
			if _, dup := at[f]; dup {
				t.Errorf("loadOrder(%s) = %q: %s twice", p, order, f)
			}
			at[f] = i
		}
		for i, f := range order {
			for _, d := range ix.deps[f] {
				j, ok := at[d]
				if !ok {
					t.Errorf("loadOrder(%s) = %q: %s needs %s, which is not loaded", p, order, f, d)
				} else if j > i {
					t.Errorf("loadOrder(%s) = %q: %s is loaded before %s, which it needs", p, order, f, d)
				}
			}
		}
	}
}

func TestLoadOrderFixture(t *testing.T) {
	checkLoadOrder(t, openFixture(t), func(p string) bool { return strings.HasPrefix(p, "kernel/test/") })
}

// Load reaches no module file in the fixture: it fails on the first file
// it would load, the deepest dependency, before asking the kernel.
func TestLoadWithoutFiles(t *testing.T) {
	ix := openFixture(t)
	for _, tc := range []struct {
		module    string
		wantErr   string // "" for none
		wantNoEnt bool
	}{
		{module: "ext4"}, // built in: nothing to do
		{module: "crc32c-intel"},
		{module: "ghost", wantErr: "load module ghost: not in " + ix.Dir},
		{module: "nonexistent", wantErr: "not in"},
		{module: "ahci", wantErr: "load module ahci: dependency: load module scsi_mod: open " + filepath.Join(ix.Dir, "kernel/drivers/scsi/scsi_mod.ko"), wantNoEnt: true},
		{module: "virtio_blk", wantErr: "dependency: load module virtio_ring:", wantNoEnt: true},
		{module: "scsi_mod", wantErr: "load module scsi_mod: open", wantNoEnt: true},
	} {
		err := ix.Load(tc.module, "")
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("Load(%s): %v", tc.module, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Load(%s) = %v, want an error saying %q", tc.module, err, tc.wantErr)
		}
		if got := errors.Is(err, fs.ErrNotExist); got != tc.wantNoEnt {
			t.Errorf("Load(%s) = %v: errors.Is(fs.ErrNotExist) = %v, want %v", tc.module, err, got, tc.wantNoEnt)
		}
	}
	if len(ix.loaded) != 0 {
		t.Errorf("loaded = %v, want nothing", ix.loaded)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func TestModaliases(t *testing.T) {
	sys := t.TempDir()
	writeFiles(t, sys, map[string]string{
		"devices/pci0000:00/0000:00:1f.2/modalias":                   aliasAHCI + "\n",
		"devices/pci0000:00/0000:00:1f.2/ata1/host0/uevent":          "DEVTYPE=scsi_host\n",
		"devices/pci0000:00/0000:00:04.0/modalias":                   aliasNVMe + "\n",
		"devices/pci0000:00/0000:00:05.0/modalias":                   aliasAHCI + "\n", // a second controller
		"devices/pci0000:00/0000:00:03.0/modalias":                   "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n",
		"devices/pci0000:00/0000:00:03.0/virtio0/modalias":           aliasVirtio + "\n",
		"devices/platform/serial8250/modalias":                       "  platform:serial8250 \n",
		"devices/virtual/dmi/id/modalias":                            aliasDellDMI + "\n",
		"devices/virtual/empty/modalias":                             "\n",
		"devices/virtual/huge/modalias":                              "acpi:" + strings.Repeat("X", 5000),
		"devices/virtual/modalias/uevent":                            "a directory named modalias\n",
		"bus/pci/devices/0000:00:1f.2/modalias":                      "pci:reached-through-a-symlink",
		"outside/modalias":                                           "acpi:REACHED-THROUGH-A-SYMLINK:",
		"devices/pci0000:00/0000:00:1f.2/ata1/host0/target0/0/state": "running\n",
	})
	// sysfs's symlinks: to other trees, back up the tree, and to files.
	symlink(t, "../../../bus/pci", filepath.Join(sys, "devices/pci0000:00/0000:00:1f.2/subsystem"))
	symlink(t, "../../../outside", filepath.Join(sys, "devices/pci0000:00/0000:00:04.0/firmware_node"))
	symlink(t, "..", filepath.Join(sys, "devices/pci0000:00/0000:00:04.0/loop"))
	symlink(t, "../../outside/modalias", filepath.Join(sys, "devices/virtual/linked/modalias"))

	got, err := Modaliases(sys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		aliasDellDMI,
		"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
		aliasNVMe,
		aliasAHCI,
		"platform:serial8250",
		aliasVirtio,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Modaliases (-want +got):\n%s", diff)
	}

	if _, err := Modaliases(filepath.Join(sys, "nonexistent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Modaliases of a tree with no devices: err = %v, want fs.ErrNotExist", err)
	}
	empty := t.TempDir()
	if err := os.Mkdir(filepath.Join(empty, "devices"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := Modaliases(empty); err != nil || len(got) != 0 {
		t.Errorf("Modaliases of an empty tree = %q, %v", got, err)
	}
}

// ForHardware over the fixture tries every module it finds for the
// devices once; none of them loads, since the fixture has no module files,
// and built-in modules are passed over.
func TestForHardware(t *testing.T) {
	ix := openFixture(t)
	sys := t.TempDir()
	writeFiles(t, sys, map[string]string{
		"devices/pci0000:00/0000:00:1f.2/modalias": aliasAHCI,
		"devices/pci0000:00/0000:00:05.0/modalias": aliasAHCI,
		"devices/platform/serial8250/modalias":     "platform:serial8250",
		"devices/platform/GHOST0000:00/modalias":   "acpi:GHOST0000:",
		"devices/virtual/net/modalias":             aliasVirtNet,
	})
	res, err := ix.ForHardware(context.Background(), sys, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Loaded) != 0 || res.Passes != 2 {
		t.Errorf("ForHardware = %+v, want nothing loaded in 2 passes", res)
	}
	failed := slices.Sorted(maps.Keys(res.Failed))
	if want := []string{"ahci", "ghost"}; !slices.Equal(failed, want) {
		t.Errorf("failed: %q, want %q", failed, want)
	}
	if err := res.Failed["ahci"]; !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ahci failed with %v, want fs.ErrNotExist", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = ix.ForHardware(ctx, sys, time.Millisecond)
	if !errors.Is(err, context.Canceled) || res.Passes != 1 || len(res.Failed) != 0 {
		t.Errorf("ForHardware with the context ended = %+v, %v", res, err)
	}

	if _, err := ix.ForHardware(context.Background(), filepath.Join(sys, "nonexistent"), time.Millisecond); err == nil {
		t.Error("ForHardware with no devices directory: no error")
	}
}

// ForHardware looks again after each pass that tried a module, and finds
// the devices that appeared meanwhile. The fixture's first device's
// modalias is a named pipe, so that the test knows where each pass is:
// reading it blocks until the test writes.
func TestForHardwareNewDevices(t *testing.T) {
	ix := openFixture(t)
	sys := t.TempDir()
	for _, d := range []string{"devices/a", "devices/z"} {
		if err := os.MkdirAll(filepath.Join(sys, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pipe := filepath.Join(sys, "devices/a/modalias")
	if err := unix.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}

	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := ix.ForHardware(context.Background(), sys, time.Millisecond)
		done <- result{res, err}
	}()

	// pass waits for a pass to open the pipe, calls during (with the pass
	// stopped there) and gives it the AHCI controller's modalias. It puts
	// a new pipe in place before letting the pass go on, so that the next
	// call waits for the next pass, not for this one to close the pipe.
	pass := func(during func()) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			fd, err := unix.Open(pipe, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENXIO) { // no reader yet
				if time.Now().After(deadline) {
					t.Fatal("ForHardware did not read the devices")
				}
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if during != nil {
				during()
			}
			if _, err := unix.Write(fd, []byte(aliasAHCI+"\n")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(pipe); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(pipe, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	pass(nil)
	// The second pass has begun, so the first is over. A virtio disk
	// appears in the part of the tree the pass has yet to read.
	pass(func() {
		writeFiles(t, sys, map[string]string{"devices/z/modalias": aliasVirtio})
	})
	pass(nil)

	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.res.Passes != 3 || len(r.res.Loaded) != 0 || len(r.res.Failed) != 2 ||
			r.res.Failed["ahci"] == nil || r.res.Failed["virtio_blk"] == nil {
			t.Errorf("ForHardware = %+v, want ahci and virtio_blk failed in 3 passes", r.res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ForHardware did not end")
	}
}

// realModulesDir is a modules directory of the Debian kernel the build
// unpacks, or "".
func realModulesDir(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob("/var/cache/lifeboat/kernel/*/root/lib/modules/*/modules.alias")
	if len(m) == 0 {
		t.Skip("no Debian kernel modules under /var/cache/lifeboat/kernel (made by make initramfs)")
	}
	return filepath.Dir(m[0])
}

func TestRealIndex(t *testing.T) {
	dir := realModulesDir(t)
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d modules, %d built in, %d aliases", dir, len(ix.byName), len(ix.builtin), len(ix.aliases))
	for _, tc := range []struct {
		alias string
		want  string
	}{
		{aliasVirtio, "virtio_blk"},
		{aliasNVMe, "nvme"},
		{aliasAHCI, "ahci"},
		{"virtio:d00000001v00001AF4", "virtio_net"},
		{"pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00", "virtio_pci"},
		{"usb:v0781p5581d0100dc00dsc00dp00ic08isc06ip50in00", "usb_storage"},
		{"fs-vfat", "vfat"},
		{"usb-storage", "usb_storage"},
		// A DMI modalias has a date with slashes in it.
		{"dmi:bvnPhoenixTechnologiesLTD:bvr6.00:bd11/12/2020:br4.6:svnVMware,Inc.:pnVMwareVirtualPlatform:pvrNone:rvnIntelCorporation:rn440BXDesktopReferencePlatform:rvrNone:cvnNoEnum:ct1:cvrN/A:", "vmw_balloon"},
	} {
		got := ix.Resolve(tc.alias)
		if !slices.Contains(got, tc.want) {
			t.Errorf("Resolve(%q) = %q, want %s among them", tc.alias, got, tc.want)
		}
		for _, m := range got {
			if !ix.Has(m) {
				t.Errorf("Resolve(%q) = %q: the index has no %s", tc.alias, got, m)
			}
		}
	}
	// depmod refuses cycles: every module of the real index loads after
	// all it needs.
	checkLoadOrder(t, ix, func(string) bool { return false })
}

// Resolving every alias of a real index is quick enough to do for each
// device at boot.
func BenchmarkResolve(b *testing.B) {
	m, _ := filepath.Glob("/var/cache/lifeboat/kernel/*/root/lib/modules/*/modules.alias")
	if len(m) == 0 {
		b.Skip("no Debian kernel modules under /var/cache/lifeboat/kernel")
	}
	ix, err := Open(filepath.Dir(m[0]))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ix.Resolve(aliasDellDMI)
		ix.Resolve(aliasAHCI)
	}
}

func FuzzParseDep(f *testing.F) {
	f.Add(fixtureDep)
	f.Add("a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko:\n")
	f.Add("a.ko: a.ko a.ko\n# x\n\n a-b.ko.xz :\t\r\n")
	f.Add("a.ko b.ko\n")
	f.Fuzz(func(t *testing.T, data string) {
		deps, byName, err := parseDep(strings.NewReader(data))
		if err != nil {
			return
		}
		for name, p := range byName {
			if _, ok := deps[p]; !ok || Name(p) != name || strings.Contains(name, "-") {
				t.Fatalf("byName[%q] = %q, in deps: %v", name, p, ok)
			}
		}
		ix := &Index{deps: deps}
		for p, ds := range deps {
			for _, d := range ds {
				if d == "" || strings.ContainsAny(d, " \t\r\n") {
					t.Fatalf("deps[%q] = %q", p, ds)
				}
			}
			order := ix.loadOrder(p)
			if len(order) == 0 || len(order) > len(ds)+1 || order[len(order)-1] != p {
				t.Fatalf("loadOrder(%q) = %q, with dependencies %q", p, order, ds)
			}
			seen := map[string]bool{}
			for _, f := range order {
				if seen[f] {
					t.Fatalf("loadOrder(%q) = %q: %q twice", p, order, f)
				}
				seen[f] = true
			}
		}
	})
}

func FuzzParseAlias(f *testing.F) {
	f.Add(fixtureAlias)
	f.Add("alias a\\*b?[c-d]* m-n\nalias x y\n")
	f.Add("alias [ m\nalias \\ m\nalias * m\n")
	f.Fuzz(func(t *testing.T, data string) {
		aliases, err := parseAlias(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range aliases {
			if a.pattern == "" || strings.ContainsAny(a.pattern, " \t\r\n") ||
				!strings.HasPrefix(a.pattern, a.prefix) || strings.ContainsAny(a.prefix, "*?[\\") ||
				a.module == "" || strings.Contains(a.module, "-") {
				t.Fatalf("alias %+v from %q", a, data)
			}
			if a.prefix == a.pattern && !match(a.pattern, a.pattern) {
				t.Fatalf("alias %q does not match itself", a.pattern)
			}
		}
		// Whatever matches an alias has its prefix, which Resolve relies on.
		ix := &Index{aliases: aliases}
		for _, a := range aliases {
			for _, m := range ix.Resolve(a.prefix) {
				if m == "" {
					t.Fatalf("Resolve(%q) = %q", a.prefix, m)
				}
			}
		}
	})
}

func FuzzParseBuiltin(f *testing.F) {
	f.Add(fixtureBuiltin)
	f.Add("kernel/a-b.ko.zst\n#\n\n/\n-\n")
	f.Fuzz(func(t *testing.T, data string) {
		builtin, err := parseBuiltin(strings.NewReader(data))
		if err != nil {
			return
		}
		ix := &Index{builtin: builtin}
		for name := range builtin {
			if strings.Contains(name, "-") {
				t.Fatalf("built-in module %q from %q", name, data)
			}
			if Name(name) != name {
				continue // a name made of a file name like ".ko" or "a.ko.ko"
			}
			if !ix.Has(name) {
				t.Fatalf("Has(%q) of a built-in module is false", name)
			}
			if err := ix.Load(name, ""); err != nil {
				t.Fatalf("Load(%q) of a built-in module: %v", name, err)
			}
		}
	})
}

// quoteMeta quotes the pattern characters in s.
func quoteMeta(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte("*?[\\", s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzMatch(f *testing.F) {
	f.Add("pci:v00008086d*sv*sd*bc01sc06i01*", aliasAHCI)
	f.Add("dmi:*:svnVMware*:*", "dmi:bvnX:bd11/12/2020:svnVMware,Inc.:")
	f.Add("usb:v152Dp0567d011[4-7]dc*", "usb:v152Dp0567d0115dc00")
	f.Add("[!]a-]x[^b]\\*?", "]x-*z")
	f.Add("a[", "a[")
	f.Add("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := match(pattern, name)
		if !match(quoteMeta(name), name) || !match("*", name) || !match("*"+quoteMeta(name[len(name)/2:]), name) {
			t.Fatalf("%q does not match itself", name)
		}
		// Where path.Match understands the pattern the same way (no '/',
		// which its '*' does not match, no '!', which does not negate
		// its sets), both agree.
		if !isASCII(pattern) || !isASCII(name) || strings.Contains(pattern, "!") ||
			strings.Contains(pattern, "/") || strings.Contains(name, "/") {
			return
		}
		if want, err := path.Match(pattern, name); err == nil && got != want {
			t.Fatalf("match(%q, %q) = %v, path.Match %v", pattern, name, got, want)
		}
	})
}

func TestParseSoftdep(t *testing.T) {
	pre, post, err := parseSoftdep(strings.NewReader(`# Soft dependencies extracted from modules themselves.
softdep crc-t10dif pre: crct10dif
softdep ext4 pre: crypto-crc32c
softdep drm_kms_helper pre: ttm post: drm_buddy video
softdep ext4 pre: ignored
softdep lonely
alias softdep x
`))
	if err != nil {
		t.Fatal(err)
	}
	wantPre := map[string][]string{"crc_t10dif": {"crct10dif"}, "ext4": {"crypto-crc32c"}, "drm_kms_helper": {"ttm"}}
	wantPost := map[string][]string{"drm_kms_helper": {"drm_buddy", "video"}}
	if diff := cmp.Diff(wantPre, pre); diff != "" {
		t.Errorf("pre (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPost, post); diff != "" {
		t.Errorf("post (-want +got):\n%s", diff)
	}
}

// TestLoadSoftdeps loads modules with soft dependencies through a stand-in
// for the kernel that records the order: a module's pre soft dependencies
// (every module their alias stands for) come before it, its post ones
// after, one that fails to load is passed over, and a cycle ends.
func TestLoadSoftdeps(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"modules.dep": `kernel/lib/crc-t10dif.ko:
kernel/crypto/crct10dif_generic.ko:
kernel/arch/x86/crypto/crct10dif-pclmul.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/lib/crc-t10dif.ko
kernel/drivers/scsi/sg.ko:
kernel/test/a.ko:
kernel/test/b.ko:
`,
		"modules.alias": `alias crypto-crct10dif crct10dif_generic
alias crypto-crct10dif crct10dif_pclmul
`,
		"modules.softdep": `softdep crc-t10dif pre: crypto-crct10dif
softdep sd_mod post: sg missing
softdep a pre: b
softdep b pre: a
`,
	}
	for p := range strings.Lines(files["modules.dep"]) {
		name, _, _ := strings.Cut(p, ":")
		files[name] = ""
	}
	writeFiles(t, dir, files)
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	finitModule = func(fd int, params string, flags int) error {
		p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, Name(p))
		if Name(p) == "crct10dif_pclmul" {
			return unix.ENODEV // as on a CPU without PCLMULQDQ
		}
		return nil
	}
	defer func() { finitModule = unix.FinitModule }()
	if err := ix.Load("sd_mod", ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"crct10dif_generic", "crct10dif_pclmul", "crc_t10dif", "sd_mod", "sg"}
	if !slices.Equal(order, want) {
		t.Errorf("loaded %q, want %q", order, want)
	}
	// Loaded modules are not loaded again, nor is the one that failed
	// tried again.
	order = nil
	if err := ix.Load("sd_mod", ""); err != nil || len(order) != 0 {
		t.Errorf("Load again: %v, loaded %q, want nothing", err, order)
	}
	order = nil
	if err := ix.Load("a", ""); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(order, want) {
		t.Errorf("loaded %q, want %q", order, want)
	}
}

func FuzzParseSoftdep(f *testing.F) {
	f.Add("softdep crc-t10dif pre: crct10dif\nsoftdep a pre: b post: c d\n")
	f.Add("softdep x post: pre: y\nsoftdep\n")
	f.Fuzz(func(t *testing.T, data string) {
		pre, post, err := parseSoftdep(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, m := range []map[string][]string{pre, post} {
			for name, deps := range m {
				if name == "" || len(deps) == 0 || len(deps) > 64 {
					t.Fatalf("module %q with soft dependencies %q from %q", name, deps, data)
				}
				for _, d := range deps {
					if d == "pre:" || d == "post:" || strings.ContainsAny(d, " \t\n") {
						t.Fatalf("soft dependency %q of %s from %q", d, name, data)
					}
				}
			}
		}
	})
}
