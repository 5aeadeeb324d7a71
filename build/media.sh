#!/usr/bin/env bash
# media.sh BOOT_DIR OUT_DIR (make image)
#
# Makes Lifeboat's boot media from the rescue environment in BOOT_DIR
# (vmlinuz, initramfs.cpio.lz4 and initramfs.cpio.zst from make initramfs)
# into OUT_DIR:
#   lifeboat.img        USB stick image: UEFI with Secure Boot (Debian's
#                       signed shim, GRUB and kernel) and legacy BIOS (GRUB)
#   lifeboat.iso        hybrid ISO image for optical media and USB sticks
#   netboot/            kernel, initramfs, an iPXE script (boot.ipxe) and,
#                       for UEFI network boot with Secure Boot, shim, GRUB
#                       and its grub/grub.cfg
#
# Debian's shim-signed and grub-efi-amd64-signed packages are downloaded with
# apt-get download and unpacked with dpkg-deb -x into a cache, MEDIA_CACHE;
# GRUB for BIOS is made with grub-mkimage (grub-common, grub-pc-bin from
# make deps).
set -euo pipefail

boot=${1:?usage: media.sh BOOT_DIR OUT_DIR}
out=${2:?usage: media.sh BOOT_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
GO=${GO:-go}
cache=${MEDIA_CACHE:-/var/cache/lifeboat/media}
version=${LIFEBOAT_VERSION:-dev}
grubpc=/usr/lib/grub/i386-pc
# Pinned versions of Debian's signed boot loaders (bookworm).
SHIM_VERSION=${SHIM_VERSION:-1.51~1+deb12u1+16.1-2~deb12u1}
GRUB_SIGNED_VERSION=${GRUB_SIGNED_VERSION:-1+2.06+13+deb12u2}

for c in apt-get dpkg-deb grub-mkimage; do
	command -v "$c" >/dev/null || { echo "media: $c is missing (run make deps)" >&2; exit 1; }
done
for f in "$boot/vmlinuz" "$boot/initramfs.cpio.lz4" "$boot/initramfs.cpio.zst" "$grubpc/boot.img" "$grubpc/boot_hybrid.img" "$grubpc/cdboot.img"; do
	[ -f "$f" ] || { echo "media: $f is missing (run make initramfs and make deps)" >&2; exit 1; }
done

# fetch PKG VERSION: unpacks the package into $cache/PKG_VERSION/root once,
# and prints that directory. When the pinned version has left Debian's
# archive, the current one is taken, with a warning.
fetch() {
	local pkg=$1 ver=$2 dir="$cache/$1_$2"
	if [ ! -f "$dir/.unpacked" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		local try
		for try in "$pkg=$ver" refresh "$pkg=$ver" "$pkg"; do
			if [ "$try" = refresh ]; then apt-get update -qq >&2 || true; continue; fi
			[ "$try" = "$pkg" ] && echo "media: $pkg $ver is no longer in the archive; taking the current version" >&2
			(cd "$dir" && apt-get download -q "$try" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true)
			ls "$dir"/*.deb >/dev/null 2>&1 && break
		done
		local deb
		deb=$(ls "$dir"/*.deb 2>/dev/null | head -1)
		[ -n "$deb" ] || { echo "media: could not download $pkg" >&2; exit 1; }
		dpkg-deb -x "$deb" "$dir/root"
		rm -f "$deb"
		touch "$dir/.unpacked"
	fi
	echo "$dir/root"
}
shimroot=$(fetch shim-signed "$SHIM_VERSION")
grubroot=$(fetch grub-efi-amd64-signed "$GRUB_SIGNED_VERSION")
shim=$shimroot/usr/lib/shim/shimx64.efi.signed
grubefi=$grubroot/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
grubnet=$grubroot/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed
grubcd=$grubroot/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed
for f in "$shim" "$grubefi" "$grubnet" "$grubcd"; do
	[ -f "$f" ] || { echo "media: $f is missing from its package" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# The stick is told apart from the machine's disks by its GPT disk GUID,
# which GRUB passes to the kernel as lifeboat.media.
guid=$(tr a-z A-Z < /proc/sys/kernel/random/uuid)

# menu MEDIA_ARG DIR INITRD: the GRUB menu, shared by UEFI and BIOS. The
# kernel and initramfs are on the ESP (stick) or the ISO's file system, or
# fetched from the network boot server.
#
# The menu is hidden: GRUB boots Lifeboat at once unless Esc is pressed as
# it starts. A visible menu would cost every
# boot its timeout; the UI itself offers a shell, reboot and power off, so
# the menu is only wanted when Lifeboat does not come up (the entry with the
# kernel's messages on screen) or for the firmware's settings.
menu() {
	local media=$1 dir=$2 initrd=$3
	cat <<EOF
# Lifeboat $version boot menu.
if [ "\$grub_platform" = "pc" ]; then
	# UEFI firmware copies its console to the serial port itself. On
	# BIOS, GRUB writes to the serial port too but reads only the
	# keyboard: with serial input, its hidden menu waits 3 s on every boot.
	serial --unit=0 --speed=115200
	terminal_input console
	terminal_output console serial
fi
set timeout_style=hidden
set timeout=0
set default=0
menuentry "Lifeboat $version" --id lifeboat {
	echo "Loading Lifeboat $version..."
	linux $dir/vmlinuz console=tty0 console=ttyS0,115200 quiet $media
	initrd $dir/$initrd
}
menuentry "Lifeboat $version, kernel messages on screen" --id verbose {
	linux $dir/vmlinuz console=tty0 console=ttyS0,115200 loglevel=7 $media
	initrd $dir/$initrd
}
if [ "\$grub_platform" = "efi" ]; then
	menuentry "UEFI firmware settings" --id fwsetup { fwsetup }
fi
menuentry "Reboot" --id reboot { reboot }
menuentry "Power off" --id poweroff { halt }
EOF
}

# 1. The USB stick image.
menu "lifeboat.media=$guid" /lifeboat initramfs.lz4 > "$work/grub.cfg"
grub-mkimage -O i386-pc -o "$work/core.img" -p "(,gpt1)/EFI/debian" \
	biosdisk part_gpt part_msdos fat iso9660 normal linux configfile echo test search search_fs_uuid \
	search_label serial terminal sleep halt reboot
mkdir -p "$work/extra"
cp "$boot/modules.txt" "$work/extra/modules.txt" 2>/dev/null || true
echo "$version" > "$work/extra/VERSION"
(cd "$top" && "$GO" run ./build/mkmedia -usb "$out/lifeboat.img" -disk-guid "$guid" \
	-kernel "$boot/vmlinuz" -initrd "$boot/initramfs.cpio.lz4" -shim "$shim" -grub-efi "$grubefi" \
	-bios-boot "$grubpc/boot.img" -bios-core "$work/core.img" -grub-cfg "$work/grub.cfg" -extra "$work/extra")

# 2. The hybrid ISO image. Written to a stick it is told apart by its MBR
# disk signature.
diskid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n' | tr a-f A-F)
menu "lifeboat.media=mbr:$diskid" /lifeboat initramfs.lz4 > "$work/grub-iso.cfg"
grub-mkimage -O i386-pc-eltorito -o "$work/eltorito.img" -p /boot/grub \
	biosdisk iso9660 part_msdos normal linux configfile echo test search serial terminal sleep halt reboot
(cd "$top" && "$GO" run ./build/mkmedia -iso "$out/lifeboat.iso" -disk-id "$((16#$diskid))" \
	-kernel "$boot/vmlinuz" -initrd "$boot/initramfs.cpio.lz4" -shim "$shim" -grub-efi "$grubefi" -grub-cd "$grubcd" \
	-bios-eltorito "$work/eltorito.img" -bios-hybrid "$grubpc/boot_hybrid.img" -grub-cfg "$work/grub-iso.cfg" -extra "$work/extra")

# 3. Network boot: the iPXE script for BIOS and UEFI PXE firmware that runs
# iPXE (QEMU's does), and shim + GRUB for UEFI PXE with Secure Boot.
net="$out/netboot"
rm -rf "$net"
mkdir -p "$net/grub"
cp "$boot/vmlinuz" "$net/vmlinuz"
cp "$boot/initramfs.cpio.zst" "$net/initramfs.zst"
cp "$shim" "$net/bootnetx64.efi"
cp "$grubnet" "$net/grubx64.efi"
menu "" "" initramfs.zst > "$net/grub/grub.cfg"
cat > "$net/boot.ipxe" <<EOF
#!ipxe
# Lifeboat $version network boot. Serve this directory over TFTP or HTTP
# and point DHCP's boot file name at boot.ipxe (iPXE) or bootnetx64.efi
# (UEFI PXE with Secure Boot).
echo Loading Lifeboat $version...
kernel vmlinuz initrd=initramfs.zst console=tty0 console=ttyS0,115200 quiet lifeboat.netboot
initrd initramfs.zst
boot
EOF

ls -l "$out/lifeboat.img" "$out/lifeboat.iso" | awk '{print "media: " $NF " " $5 " bytes"}'
