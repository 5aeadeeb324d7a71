#!/usr/bin/env bash
# run.sh BOOT_DIR (make run)
#
# Boots the rescue environment (kernel and initramfs from make initramfs)
# in QEMU with two demo disks: a 256 MiB source disk that is itself a
# small bootable system (build/demodisk.sh: an MBR, GRUB for BIOS, an ext4
# root with the same kernel, FAT32 and NTFS), and a blank 1 GiB target.
# The UI runs in this terminal, on the VM's serial console. Ctrl-A X quits
# QEMU.
set -euo pipefail

boot=${1:?usage: run.sh BOOT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=${RUN_DIR:-/var/tmp/lifeboat-run}
[ "$(id -u)" = 0 ] || { echo "run: needs root (loop devices to build the demo disk)" >&2; exit 1; }
mkdir -p "$work"
# Not source.img, the name of the 1 GiB disk older versions made, which
# would otherwise be reused.
if [ ! -f "$work/demo-source.img" ]; then
	echo "run: making the demo source disk in $work"
	KERNEL="$boot/vmlinuz" "$here/demodisk.sh" "$work/demo-source.img" >/dev/null
fi
[ -f "$work/target.img" ] || truncate -s 1G "$work/target.img"
accel=tcg
[ -w /dev/kvm ] && accel=kvm
echo "run: booting Lifeboat in QEMU ($accel); Ctrl-A X quits"
sleep 1
exec qemu-system-x86_64 -machine accel=$accel -m 1024 -smp 2 \
	-kernel "$boot/vmlinuz" -initrd "$boot/initramfs.cpio.zst" \
	-append "console=tty0 console=ttyS0,115200 quiet" \
	-display none -serial mon:stdio \
	-device virtio-blk-pci,drive=src,serial=DEMO-SOURCE -drive file="$work/demo-source.img",format=raw,if=none,id=src \
	-device nvme,serial=DEMO-TARGET,drive=dst -drive file="$work/target.img",format=raw,if=none,id=dst
