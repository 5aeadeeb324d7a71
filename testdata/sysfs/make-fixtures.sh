#!/bin/bash
# Build the hand-made fixture trees pc/ and server/ beside this script. Their
# directory layouts follow what Linux 6.x shows in /sys for each kind of
# device; the values (sizes, serials, WWNs) are made up but well-formed. Run
# it again after changing it; it replaces both trees.
set -euo pipefail
cd "$(dirname "$0")"

root=

# attr PATH VALUE: a sysfs attribute (PATH relative to sys/), with newline.
attr() {
	local f=$root/sys/$1
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$2" >"$f"
}

# raw PATH FORMAT: a binary attribute written by printf FORMAT.
raw() {
	local f=$root/sys/$1
	mkdir -p "$(dirname "$f")"
	# shellcheck disable=SC2059
	printf "$2" >"$f"
}

# link PATH TARGET: a relative symbolic link (both relative to sys/).
link() {
	local l=$root/sys/$1 t=$root/sys/$2
	mkdir -p "$(dirname "$l")"
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$t")" "$l"
}

# disk NAME DIR MAJ:MIN SECTORS REMOVABLE RO ROTATIONAL LOGICAL PHYSICAL
disk() {
	local name=$1 dir=$2
	attr "$dir/dev" "$3"
	attr "$dir/size" "$4"
	attr "$dir/removable" "$5"
	attr "$dir/ro" "$6"
	attr "$dir/queue/rotational" "$7"
	attr "$dir/queue/logical_block_size" "$8"
	attr "$dir/queue/physical_block_size" "$9"
	link "block/$name" "$dir"
	link "dev/block/$3" "$dir"
}

# part DISKDIR NAME NUMBER START SECTORS MAJ:MIN
part() {
	local dir=$1/$2
	attr "$dir/partition" "$3"
	attr "$dir/start" "$4"
	attr "$dir/size" "$5"
	attr "$dir/ro" 0
	attr "$dir/dev" "$6"
	link "dev/block/$6" "$dir"
}

# holder LOWERDIR UPPERDIR: UPPER is stacked on LOWER.
holder() {
	link "$1/holders/$(basename "$2")" "$2"
	link "$2/slaves/$(basename "$1")" "$1"
}

start() {
	root=$1
	rm -rf "$root"
	mkdir -p "$root/sys"
}

# ---------------------------------------------------------------- pc
# A desktop PC: NVMe system disk with LVM root and swap, SATA SSD behind AHCI, USB
# stick, SD card, a snap loop device, zram swap, an empty DVD drive, a RAM
# disk and an unused loop device.
start pc

nvme=devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0
attr "$nvme/model" "Samsung SSD 980 PRO 1TB"
attr "$nvme/serial" "S5GXNX0T123456A"
attr "$nvme/firmware_rev" "5B2QGXA7"
n=$nvme/nvme0n1
disk nvme0n1 "$n" 259:0 1953525168 0 0 0 512 512
attr "$n/wwid" "eui.002538b911b2c3d4"
link "$n/device" "$nvme"
part "$n" nvme0n1p1 1 2048 1048576 259:1
part "$n" nvme0n1p2 2 1050624 4194304 259:2
part "$n" nvme0n1p3 3 5244928 1948280207 259:3

dm0=devices/virtual/block/dm-0
disk dm-0 "$dm0" 253:0 1948278784 0 0 0 512 512
attr "$dm0/dm/name" "vg0-root"
attr "$dm0/dm/uuid" "LVM-Xq3lJb0Rz7nM2d1cR4yV9kT6wP8sA5eHf0Ck2bNm7QpL4tUs9vWx1yZa3cDe5gHi"
holder "$n/nvme0n1p3" "$dm0"
dm1=devices/virtual/block/dm-1
disk dm-1 "$dm1" 253:1 16777216 0 0 0 512 512
attr "$dm1/dm/name" "vg0-swap"
holder "$n/nvme0n1p3" "$dm1"

ahci=devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0
attr "$ahci/model" "Samsung SSD 870 "
attr "$ahci/vendor" "ATA     "
attr "$ahci/wwid" "naa.5002538f42b1c3d4"
# VPD page 0x80 as libata builds it: the 20-character ATA serial.
raw "$ahci/vpd_pg80" '\x00\x80\x00\x14S6PNNS0T912345K     '
s=$ahci/block/sda
disk sda "$s" 8:0 1953525168 0 0 0 512 512
link "$s/device" "$ahci"
part "$s" sda1 1 2048 1936746496 8:1
part "$s" sda2 2 1936748544 16775168 8:2

odd=devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0
attr "$odd/model" "DVD+-RW GH24NSD1"
attr "$odd/vendor" "HL-DT-ST"
disk sr0 "$odd/block/sr0" 11:0 0 1 0 1 2048 2048
link "$odd/block/sr0/device" "$odd"

usb=devices/pci0000:00/0000:00:14.0/usb2
attr "$usb/idVendor" "1d6b" # the root hub, not the stick
attr "$usb/idProduct" "0003"
attr "$usb/serial" "0000:00:14.0"
attr "$usb/2-1/idVendor" "0781"
attr "$usb/2-1/idProduct" "5583"
attr "$usb/2-1/manufacturer" " SanDisk"
attr "$usb/2-1/product" " Ultra Fit"
attr "$usb/2-1/serial" "4C530001230615117154"
attr "$usb/2-1/2-1:1.0/bInterfaceClass" "08"
stick=$usb/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0
attr "$stick/model" "Ultra Fit       "
attr "$stick/vendor" "SanDisk "
# Junk where VPD page 0x80 should be, as some USB bridges answer.
raw "$stick/vpd_pg80" '\x00\x80\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08'
s=$stick/block/sdb
disk sdb "$s" 8:16 60063744 1 0 1 512 512
link "$s/device" "$stick"
part "$s" sdb1 1 2048 60061696 8:17

card=devices/pci0000:00/0000:00:14.5/mmc_host/mmc0/mmc0:aaaa
attr "$card/name" "SC32G"
attr "$card/serial" "0x1a2b3c4d"
attr "$card/type" "SD"
attr "$card/manfid" "0x000003"
attr "$card/oemid" "0x5344"
m=$card/block/mmcblk0
disk mmcblk0 "$m" 179:0 62333952 0 0 0 512 512
link "$m/device" "$card"
part "$m" mmcblk0p1 1 8192 62325760 179:1

l=devices/virtual/block/loop0
disk loop0 "$l" 7:0 0 0 0 1 512 512
l=devices/virtual/block/loop1
disk loop1 "$l" 7:1 229376 0 1 0 512 512
attr "$l/loop/backing_file" "/var/lib/snapd/snaps/core_123.snap"

disk zram0 devices/virtual/block/zram0 252:0 8388608 0 0 0 4096 4096
disk ram0 devices/virtual/block/ram0 1:0 131072 0 0 0 512 4096

cat >"$root/mountinfo" <<'EOF'
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw,errors=remount-ro
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
24 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
25 22 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=16318796k,nr_inodes=4079699,mode=755
26 22 0:25 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=3269468k,mode=755
30 22 259:2 / /boot rw,relatime shared:30 - ext4 /dev/nvme0n1p2 rw
31 30 259:1 / /boot/efi rw,relatime shared:31 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro
32 22 8:1 / /mnt/data\040disk rw,relatime shared:32 - ext4 /dev/sda1 rw
33 22 7:1 / /snap/core/123 ro,nodev,relatime shared:33 - squashfs /dev/loop1 ro,errors=continue
34 26 0:45 / /run/user/1000 rw,nosuid,nodev,relatime shared:400 - tmpfs tmpfs rw,size=3269464k,nr_inodes=817366,mode=700,uid=1000,gid=1000
35 22 8:1 /backups /srv/backups rw,relatime shared:32 - ext4 /dev/sda1 rw
EOF
cat >"$root/swaps" <<'EOF'
Filename				Type		Size		Used		Priority
/dev/sda2                               partition	8387580		0		-2
/dev/zram0                              partition	4194300		0		100
/dev/mapper/vg0-swap                    partition	8388604		0		-4
/swap\040file                           file		1048572		0		-3
EOF
# The same PC booted into an initramfs from the USB stick.
cat >"$root/mountinfo-initramfs" <<'EOF'
1 1 0:2 / / rw - rootfs rootfs rw,size=16318796k,nr_inodes=4079699
20 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
21 1 0:22 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
22 1 0:5 / /dev rw,nosuid,relatime - devtmpfs devtmpfs rw,size=16318796k,nr_inodes=4079699,mode=755
EOF
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >"$root/swaps-initramfs"

# ---------------------------------------------------------------- server
# A virtual server: two virtio-scsi disks in a partitioned md RAID 1 holding /
# (over the initramfs's rootfs, which mountinfo still lists) and LVM, two
# more in a btrfs file system at /srv, an NVMe namespace under native
# multipath, and a virtio-blk disk with LUKS and LVM on a partition.
start server

host=devices/pci0000:00/0000:00:05.0/virtio2/host0
t=$host/target0:0:0/0:0:0:0
attr "$t/model" "QEMU HARDDISK   "
attr "$t/vendor" "QEMU    "
raw "$t/vpd_pg80" '\x00\x80\x00\x0bdrive-scsi0'
# VPD page 0x83: a T10 vendor designator, an NAA 5 designator of the logical
# unit, and an NAA 6 designator of the target port (association 1).
raw "$t/vpd_pg83" '\x00\x83\x00\x3c\x02\x01\x00\x18QEMU    QEMU HARDDISK   \x01\x03\x00\x08\x50\x00\xc5\x00\x15\xea\x71\xac\x01\x13\x00\x10\x60\x01\x40\x5a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12'
s=$t/block/sda
disk sda "$s" 8:0 41943040 0 0 1 512 512
link "$s/device" "$t"
part "$s" sda1 1 2048 41940992 8:1

t=$host/target0:0:1/0:0:1:0
attr "$t/model" "QEMU HARDDISK   "
attr "$t/vendor" "QEMU    "
raw "$t/vpd_pg80" '\x00\x80\x00\x0bdrive-scsi1'
# Only a 16-byte NAA 6 designator of the logical unit.
raw "$t/vpd_pg83" '\x00\x83\x00\x14\x01\x03\x00\x10\x60\x01\x40\x5a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0\x13'
s=$t/block/sdb
disk sdb "$s" 8:16 41943040 0 0 1 512 512
link "$s/device" "$t"
part "$s" sdb1 1 2048 41940992 8:17

t=$host/target0:0:2/0:0:2:0
attr "$t/model" "QEMU HARDDISK   "
attr "$t/vendor" "QEMU    "
attr "$t/wwid" "naa.5000c50015ea71ad"
# A page whose length runs past its end, as some bridges return.
raw "$t/vpd_pg80" '\x00\x80\x00\x40drive-scsi2'
disk sdc "$t/block/sdc" 8:32 209715200 0 0 1 512 4096
link "$t/block/sdc/device" "$t"

t=$host/target0:0:3/0:0:3:0
disk sdd "$t/block/sdd" 8:48 209715200 0 0 1 512 4096
link "$t/block/sdd/device" "$t"

md=devices/virtual/block/md127
disk md127 "$md" 9:127 41906176 0 0 1 512 512
holder "$host/target0:0:0/0:0:0:0/block/sda/sda1" "$md"
holder "$host/target0:0:1/0:0:1:0/block/sdb/sdb1" "$md"
# A partitioned array: / on md127p1, LVM on md127p2.
part "$md" md127p1 1 2048 20971520 259:1
part "$md" md127p2 2 20973568 20930560 259:2
var=devices/virtual/block/dm-2
disk dm-2 "$var" 253:2 20922368 0 0 1 512 512
attr "$var/dm/name" "vg2-var"
holder "$md/md127p2" "$var"

fsid=fs/btrfs/8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b
link "$fsid/devices/sdc" "$host/target0:0:2/0:0:2:0/block/sdc"
link "$fsid/devices/sdd" "$host/target0:0:3/0:0:3:0/block/sdd"

subsys=devices/virtual/nvme-subsystem/nvme-subsys0
attr "$subsys/model" "QEMU NVMe Ctrl"
attr "$subsys/serial" "nvme-disk-1"
disk nvme0n1 "$subsys/nvme0n1" 259:0 20971520 0 0 0 512 512
attr "$subsys/nvme0n1/wwid" "nvme.1b36-6e766d652d6469736b2d31-51454d55204e564d65204374726c-00000001"
link "$subsys/nvme0n1/device" "$subsys"

vd=devices/pci0000:00/0000:00:06.0/virtio3
attr "$vd/vendor" "0x1af4"
v=$vd/block/vda
disk vda "$v" 254:0 20971520 0 0 1 512 512
attr "$v/serial" "vd-serial-01"
link "$v/device" "$vd"
part "$v" vda1 1 2048 4194304 254:1
part "$v" vda2 2 4196352 16773120 254:2
crypt=devices/virtual/block/dm-0
disk dm-0 "$crypt" 253:0 16740352 0 0 1 512 512
attr "$crypt/dm/name" "luks-0b7d"
holder "$v/vda2" "$crypt"
lv=devices/virtual/block/dm-1
disk dm-1 "$lv" 253:1 16736256 0 0 1 512 512
attr "$lv/dm/name" "vg1-home"
holder "$crypt" "$lv"

cat >"$root/mountinfo" <<'EOF'
1 1 0:2 / / rw - rootfs rootfs rw
21 1 259:1 / / rw,relatime shared:1 - ext4 /dev/md127p1 rw
44 21 253:2 / /var rw,relatime shared:44 - ext4 /dev/mapper/vg2-var rw
22 21 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 21 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
40 21 0:45 /@data /srv rw,relatime shared:40 - btrfs /dev/sdc rw,space_cache=v2,subvolid=256,subvol=/@data
41 21 253:1 / /home rw,relatime shared:41 - ext4 /dev/mapper/vg1-home rw
42 21 254:1 / /var/lib/data rw,relatime shared:42 - xfs /dev/vda1 rw,attr2,inode64
43 21 0:46 / /var/lib/containers/overlay rw,relatime shared:43 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
EOF
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >"$root/swaps"

echo "built pc and server"
