#!/usr/bin/env bash
# demodisk.sh OUT_IMAGE [SIZE_MIB]
#
# Builds the demo disk: a small system that really boots on a BIOS PC, as a
# sparse disk image (default 256 MiB). make run captures it, and the
# end-to-end tests restore it onto a blank disk and boot the copy alone.
# The MBR partition table:
#
#   1  Linux, ext4, label DEMO-ROOT, 160 MiB from sector 2048, active:
#      /boot/vmlinuz (KERNEL, default out/boot/vmlinuz from make initramfs),
#      /boot/initrd.img (build/demoinit as /init, and /etc/demo-id),
#      /boot/grub/grub.cfg (finds the root by its UUID, and passes
#      root=UUID=), /etc/fstab (by UUID), and a few text files
#   2  FAT32 (type 0c), label DEMODATA, 64 MiB: a few files, and
#      /EFI/demo/grub.cfg naming the root by its UUID, as on an ESP
#   3  NTFS (type 07), label DEMO-NTFS, the rest: a few files
#
# GRUB for BIOS is in the MBR and, as core.img, in the gap between the MBR
# and the first partition; it boots the kernel from partition 1 with the
# console on the first serial port. The demo system prints
# LIFEBOAT-DEMO-SYSTEM-UP and its demo id (DEMO_ID, default "lifeboat demo
# disk, made DATE"), then powers off.
#
# No file system is mounted: ext4 is filled by mkfs.ext4 -d, FAT through
# mtools at the partition's offset in the image, NTFS with ntfscp. The
# kernel here makes no partition devices for loop devices, so each file
# system is made on a loop device that starts at its partition's offset.
# Needs root (loop devices) and the packages from make deps.
set -euo pipefail

usage="usage: demodisk.sh OUT_IMAGE [SIZE_MIB]"
out=${1:?$usage}
size_mib=${2:-256}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
kernel=${KERNEL:-$top/out/boot/vmlinuz}
demo_id=${DEMO_ID:-"lifeboat demo disk, made $(date -u '+%Y-%m-%d %H:%M:%S UTC')"}
grub_dir=/usr/lib/grub/i386-pc

die() { echo "demodisk: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is missing (run make deps)"; }

[[ $size_mib =~ ^[0-9]+$ ]] || die "$usage"
[ "$(id -u)" = 0 ] || die "needs root (loop devices)"
[ -f "$kernel" ] || die "no kernel at $kernel (make initramfs builds it, or set KERNEL)"
[[ $demo_id != *$'\n'* ]] || die "DEMO_ID must be one line"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
for c in go sfdisk losetup mkfs.ext4 e2fsck mkfs.vfat fsck.vfat mmd mcopy mkfs.ntfs ntfscp ntfsfix grub-mkimage gzip; do need "$c"; done
[ -f "$grub_dir/boot.img" ] || die "$grub_dir/boot.img is missing (run make deps)"

# The layout, in 512-byte sectors (bash arithmetic is 64-bit).
mib=2048
root_start=$mib
root_size=$(( 160 * mib ))
fat_start=$(( root_start + root_size ))
fat_size=$(( 64 * mib ))
ntfs_start=$(( fat_start + fat_size ))
ntfs_size=$(( size_mib * mib - ntfs_start ))
(( ntfs_size >= 8 * mib )) || die "$size_mib MiB is too small: the demo disk needs at least $(( (ntfs_start + 8 * mib) / mib )) MiB"

mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
img=$out.tmp
tmp=$(mktemp -d /var/tmp/lifeboat-demodisk.XXXXXX)
LOOP=
cleanup() {
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
	rm -rf "$tmp"
	rm -f "$img"
}
trap cleanup EXIT

# loop_on START SIZE (sectors): sets LOOP to a new loop device over that
# range of the image; one at a time. loop_off detaches it, which also
# writes its cached blocks back to the image, so that what follows may read
# the image file.
loop_on() {
	LOOP=$(losetup -f --show -o $(( $1 * 512 )) --sizelimit $(( $2 * 512 )) "$img")
}
loop_off() {
	losetup -d "$LOOP"
	LOOP=
}
# quietly CMD...: runs CMD, showing its output only if it fails.
quietly() {
	"$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "$1 failed"; }
}

echo "demodisk: building demoinit and the GRUB installer"
export CGO_ENABLED=0
go build -C "$top" -trimpath -ldflags '-s -w' -o "$tmp/init" ./build/demoinit
go build -C "$top" -o "$tmp/mkmedia" ./build/mkmedia
# u-root's cpio (a Go tool of this module) writes the initramfs, so cpio
# itself is not needed.
go build -C "$top" -o "$tmp/cpio" github.com/u-root/u-root/cmds/core/cpio

echo "demodisk: initramfs and root file system"
initrd=$tmp/initrd
mkdir -p "$initrd"/{dev,etc,proc,sys}
cp "$tmp/init" "$initrd/init"
printf '%s\n' "$demo_id" >"$initrd/etc/demo-id"
mknod -m 600 "$initrd/dev/console" c 5 1
(cd "$initrd" && printf '%s\n' dev dev/console etc etc/demo-id init proc sys | "$tmp/cpio" o) >"$tmp/initrd.cpio"
gzip -9 -n <"$tmp/initrd.cpio" >"$tmp/initrd.img"

# The file systems' identifiers, which the configuration names as an
# installed system's does (a restore with new identities rewrites them).
root_uuid=$(cat /proc/sys/kernel/random/uuid)
fat_id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
fat_serial=$(printf '%s-%s' "${fat_id:0:4}" "${fat_id:4:4}" | tr a-f A-F)

root=$tmp/root
mkdir -p "$root"/{boot/grub,etc,home/demo,var/log}
cp "$kernel" "$root/boot/vmlinuz"
cp "$tmp/initrd.img" "$root/boot/initrd.img"
cat >"$root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
if search --no-floppy --fs-uuid --set=root $root_uuid; then
	menuentry "Lifeboat demo system" {
		linux /boot/vmlinuz root=UUID=$root_uuid console=ttyS0,115200 console=tty0 quiet panic=5
		initrd /boot/initrd.img
	}
else
	echo "LIFEBOAT-DEMO: no file system has the UUID $root_uuid"
	halt
fi
EOF
cat >"$root/etc/fstab" <<EOF
UUID=$root_uuid / ext4 errors=remount-ro 0 1
UUID=$fat_serial /data vfat defaults 0 2
EOF
printf '%s\n' "$demo_id" >"$root/etc/demo-id"
echo lifeboat-demo >"$root/etc/hostname"
cat >"$root/README.txt" <<EOF
This is the Lifeboat demo disk ($demo_id).

GRUB in the MBR boots /boot/vmlinuz with /boot/initrd.img, whose /init
prints LIFEBOAT-DEMO-SYSTEM-UP and the demo id on the serial console and
powers the machine off. Capture this disk, restore it onto another one and
boot that one alone: the same lines appear.
EOF
printf 'Shopping list\n\n- rope\n- life jackets\n- flares\n' >"$root/home/demo/notes.txt"
printf '%s demo system installed\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >"$root/var/log/install.log"

echo "demodisk: GRUB core image"
grub-mkimage -O i386-pc -d "$grub_dir" -o "$tmp/core.img" -p '(hd0,msdos1)/boot/grub' \
	biosdisk part_msdos ext2 normal linux configfile echo test serial terminal sleep halt reboot search search_fs_uuid
core_sectors=$(( ($(stat -c %s "$tmp/core.img") + 511) / 512 ))
(( core_sectors < root_start )) || die "core.img ($core_sectors sectors) does not fit before sector $root_start"

echo "demodisk: partition table ($size_mib MiB)"
rm -f "$img"
truncate -s "${size_mib}M" "$img"
quietly sfdisk --no-reread --no-tell-kernel "$img" <<EOF
label: dos
unit: sectors

start=$root_start, size=$root_size, type=83, bootable
start=$fat_start, size=$fat_size, type=c
start=$ntfs_start, size=$ntfs_size, type=7
EOF

echo "demodisk: partition 1, ext4"
loop_on $root_start $root_size
quietly mkfs.ext4 -F -L DEMO-ROOT -U "$root_uuid" -d "$root" -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP"
quietly e2fsck -fn "$LOOP"
loop_off

echo "demodisk: partition 2, FAT32"
loop_on $fat_start $fat_size
quietly mkfs.vfat -F 32 -n DEMODATA -i "$fat_id" -h $fat_start "$LOOP"
loop_off
# mtools reads the partition through the image file at its offset (on a
# loop device it asks for a disk geometry that loop devices do not have).
fat="$img@@$(( fat_start * 512 ))"
export MTOOLS_SKIP_CHECK=1
mmd -i "$fat" ::/docs ::/photos ::/EFI ::/EFI/demo
printf 'search.fs_uuid %s root\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' "$root_uuid" >"$tmp/efi-grub.cfg"
mcopy -i "$fat" "$tmp/efi-grub.cfg" ::/EFI/demo/grub.cfg
printf '%s\n' "$demo_id" >"$tmp/demo-id.txt"
mcopy -i "$fat" "$tmp/demo-id.txt" ::/DEMO-ID.TXT
mcopy -i "$fat" "$root/README.txt" ::/docs/README.TXT
mcopy -i "$fat" "$root/home/demo/notes.txt" ::/docs/NOTES.TXT
head -c 1048576 /dev/urandom >"$tmp/photo.bin"
mcopy -i "$fat" "$tmp/photo.bin" ::/photos/IMG0001.JPG
loop_on $fat_start $fat_size
quietly fsck.vfat -n "$LOOP"
loop_off

echo "demodisk: partition 3, NTFS"
loop_on $ntfs_start $ntfs_size
quietly mkfs.ntfs -q -f -L DEMO-NTFS -p $ntfs_start -H 255 -S 63 "$LOOP"
quietly ntfscp "$LOOP" "$tmp/demo-id.txt" demo-id.txt
quietly ntfscp "$LOOP" "$root/home/demo/notes.txt" notes.txt
quietly ntfsfix -n "$LOOP"
loop_off

echo "demodisk: GRUB in the MBR"
quietly "$tmp/mkmedia" -bios-install "$img" -bios-boot "$grub_dir/boot.img" -bios-core "$tmp/core.img" -core-lba 1
quietly sfdisk --verify "$img"

mv "$img" "$out"
echo "demodisk: $out ready ($size_mib MiB): $demo_id"
