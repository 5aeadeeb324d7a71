package inventory

import (
	"strconv"
	"strings"
)

// pciVendors names the PCI vendors whose numbers a disk's device/vendor
// shows (virtio-blk disks give their PCI subsystem vendor there): the
// makers of storage controllers, SSDs and virtual machines, with the short
// name a technician knows them by. The numbers are those of the PCI ID
// Repository's pci.ids.
var pciVendors = map[uint32]string{
	0x1000: "Broadcom/LSI",
	0x1022: "AMD",
	0x1028: "Dell",
	0x103c: "HP",
	0x1077: "QLogic",
	0x106b: "Apple",
	0x10de: "NVIDIA",
	0x10ec: "Realtek",
	0x1103: "HighPoint",
	0x117c: "ATTO",
	0x1179: "Toshiba",
	0x126f: "Silicon Motion",
	0x1344: "Micron",
	0x1414: "Microsoft",
	0x144d: "Samsung",
	0x14e4: "Broadcom",
	0x15ad: "VMware",
	0x15b7: "SanDisk",
	0x1987: "Phison",
	0x19e5: "Huawei",
	0x1ae0: "Google",
	0x1af4: "Red Hat", // virtio
	0x1b21: "ASMedia",
	0x1b36: "Red Hat", // QEMU's own devices
	0x1b4b: "Marvell",
	0x1b85: "OCZ",
	0x1bb1: "Seagate",
	0x1bc0: "Innodisk",
	0x1c58: "HGST",
	0x1c5c: "SK hynix",
	0x1c5f: "Memblaze",
	0x1cc1: "ADATA",
	0x1cc4: "Union Memory",
	0x1d0f: "Amazon",
	0x1d79: "Transcend",
	0x1d97: "Longsys",
	0x1dbe: "InnoGrit",
	0x1dee: "Biwin",
	0x1e0f: "KIOXIA",
	0x1e3b: "DapuStor",
	0x1e49: "YMTC",
	0x1e4b: "MAXIO",
	0x1e95: "SSSTC",
	0x1f40: "Netac",
	0x2646: "Kingston",
	0x8086: "Intel",
	0x9005: "Adaptec",
}

// virtioMMIOVendors names the vendor ids of virtio devices on the MMIO
// transport, which are not PCI numbers.
var virtioMMIOVendors = map[uint32]string{
	0x554d4551: "QEMU", // "QEMU" in ASCII
}

// VendorName turns the vendor a device gives in sysfs into what a person
// recognises: a number ("0x1af4", as virtio-blk gives its PCI vendor)
// becomes the vendor's name ("Red Hat"), or "PCI vendor 0x1234" when this
// table does not know it; a name ("ATA", "SanDisk") is returned as it is.
func VendorName(vendor string) string {
	hex, ok := strings.CutPrefix(strings.ToLower(vendor), "0x")
	if !ok {
		return vendor
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || hex == "" {
		return vendor
	}
	if len(hex) <= 4 {
		if n, ok := pciVendors[uint32(v)]; ok {
			return n
		}
		return "PCI vendor 0x" + hex
	}
	if n, ok := virtioMMIOVendors[uint32(v)]; ok {
		return n
	}
	return "vendor 0x" + hex
}
