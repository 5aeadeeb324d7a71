#!/usr/bin/env bash
# run.sh BOOT_DIR MEDIA_DIR (make run)
#
# Boots Lifeboat in QEMU the way a technician boots it: from lifeboat.img
# (make image) attached as a USB stick, with two more disks:
#   DEMO-SOURCE  a 256 MiB disk that is itself a small bootable system
#                (build/demodisk.sh: an MBR, GRUB for BIOS, an ext4 root
#                with a kernel, FAT32 and NTFS data partitions)
#   DEMO-TARGET  a blank 1 GiB disk to restore onto
# The stick's data partition holds an empty repository, which the text UI
# finds on its own: capture DEMO-SOURCE into it, restore onto DEMO-TARGET.
# The UI runs in this terminal, on the VM's serial console; Ctrl-A X quits
# QEMU. The disks stay in RUN_DIR between runs (delete it to start over).
#
# RUN_FIRMWARE chooses the firmware: bios (the default), uefi, or
# secureboot (UEFI with Secure Boot enforced, Microsoft's keys enrolled).
# RUN_TARGET=/path/to/disk.img boots that disk alone instead, to see a
# restored disk come up.
# RUN_ACCEL chooses how QEMU runs the CPU: kvm or tcg (emulation); unset,
# KVM when a test guest runs under it here (build/accel.sh), else tcg with
# a note saying why.
set -euo pipefail

boot=${1:?usage: run.sh BOOT_DIR MEDIA_DIR}
media=${2:?usage: run.sh BOOT_DIR MEDIA_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=${RUN_DIR:-/var/tmp/lifeboat-run}
firmware=${RUN_FIRMWARE:-bios}
[ "$(id -u)" = 0 ] || { echo "run: needs root (loop devices to build the demo disk)" >&2; exit 1; }
mkdir -p "$work"
# KVM when it really runs a guest here (build/accel.sh), else emulation.
accel=$("$here/accel.sh" "$boot/vmlinuz")

if [ -n "${RUN_TARGET:-}" ]; then
	echo "run: booting $RUN_TARGET alone in QEMU ($accel); Ctrl-A X quits"
	exec qemu-system-x86_64 -machine accel=$accel -m 1024 -smp 2 -display none -serial mon:stdio \
		-drive file="$RUN_TARGET",format=raw,if=virtio
fi

# Not source.img, the name of the 1 GiB disk older versions made, which
# would otherwise be reused.
if [ ! -f "$work/demo-source.img" ]; then
	echo "run: making the demo source disk in $work"
	KERNEL="$boot/vmlinuz" "$here/demodisk.sh" "$work/demo-source.img" >/dev/null
fi
[ -f "$work/target.img" ] || truncate -s 1G "$work/target.img"
# A private copy of the stick, so that captures into its repository stay;
# a newer build replaces it.
if [ ! -f "$work/stick.img" ] || [ "$media/lifeboat.img" -nt "$work/stick.img" ]; then
	cp --sparse=always "$media/lifeboat.img" "$work/stick.img"
fi

fw=()
case $firmware in
bios) ;;
uefi)
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
	fw=(-machine q35 -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd") ;;
secureboot)
	cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$work/vars.fd"
	fw=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd") ;;
*) echo "run: RUN_FIRMWARE=$firmware: want bios, uefi or secureboot" >&2; exit 2 ;;
esac

echo "run: booting Lifeboat from $work/stick.img in QEMU ($accel, $firmware); Ctrl-A X quits"
echo "run: disks: DEMO-SOURCE (bootable demo system), DEMO-TARGET (blank), the stick (repository in its data partition)"
sleep 2
exec qemu-system-x86_64 -machine accel=$accel -m 1024 -smp 2 "${fw[@]}" \
	-display none -serial mon:stdio \
	-device qemu-xhci -device usb-storage,drive=stick,serial=LIFEBOAT-STICK,bootindex=0 \
	-drive file="$work/stick.img",format=raw,if=none,id=stick \
	-device virtio-blk-pci,drive=src,serial=DEMO-SOURCE -drive file="$work/demo-source.img",format=raw,if=none,id=src \
	-device nvme,serial=DEMO-TARGET,drive=dst -drive file="$work/target.img",format=raw,if=none,id=dst
