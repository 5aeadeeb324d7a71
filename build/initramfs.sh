#!/usr/bin/env bash
# initramfs.sh OUT_DIR (make initramfs)
#
# Builds the rescue environment's kernel and initramfs into OUT_DIR:
#   vmlinuz                Debian's signed kernel, unmodified
#   initramfs.cpio.lz4     u-root (init, a shell and the usual commands),
#                          e2fsck, resize2fs, tune2fs, ntfsresize and ntfs-3g with their libraries,
#                          lifeboat started at boot, the kernel modules below;
#                          for the stick, the ISO and direct kernel boots
#   initramfs.cpio.zst     the same, smaller, for network boot
#   modules.txt            the modules shipped, one per line
#
# The kernel package is downloaded with apt-get download and unpacked with
# dpkg-deb -x (nothing is installed) into a cache, KERNEL_CACHE. Modules are
# shipped as Debian signed them (a Secure Boot kernel in lockdown loads only
# those); modules.alias and modules.dep for the shipped set are made with
# depmod -b.
set -euo pipefail

out=${1:?usage: initramfs.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
GO=${GO:-go}
KERNEL_PKG=${KERNEL_PKG:?set KERNEL_PKG (the Makefile does)}
KERNEL_VERSION=${KERNEL_VERSION:?set KERNEL_VERSION (the Makefile does)}
cache=${KERNEL_CACHE:-/var/cache/lifeboat/kernel}
release=${KERNEL_PKG#linux-image-}

for c in apt-get dpkg-deb depmod zstd lz4; do
	command -v "$c" >/dev/null || { echo "initramfs: $c is missing (run make deps)" >&2; exit 1; }
done

# 1. The kernel package, downloaded once per version.
pkgdir="$cache/${KERNEL_PKG}_${KERNEL_VERSION}"
if [ ! -f "$pkgdir/.unpacked" ]; then
	rm -rf "$pkgdir"
	mkdir -p "$pkgdir"
	echo "initramfs: downloading $KERNEL_PKG $KERNEL_VERSION"
	(cd "$pkgdir" && apt-get download -q "$KERNEL_PKG=$KERNEL_VERSION" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
	if ! ls "$pkgdir"/*.deb >/dev/null 2>&1; then
		# Stale package lists: refresh them once and try again.
		apt-get update -qq || true
		(cd "$pkgdir" && apt-get download -q "$KERNEL_PKG=$KERNEL_VERSION" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
	fi
	deb=$(ls "$pkgdir"/*.deb 2>/dev/null | head -1)
	if [ -z "$deb" ]; then
		echo "initramfs: could not download $KERNEL_PKG=$KERNEL_VERSION; run apt-get update, or set KERNEL_PKG and KERNEL_VERSION to one apt-cache policy lists" >&2
		exit 1
	fi
	dpkg-deb -x "$deb" "$pkgdir/root"
	rm -f "$deb"
	touch "$pkgdir/.unpacked"
fi
kroot="$pkgdir/root"
kmods="$kroot/lib/modules/$release"
[ -d "$kmods" ] || { echo "initramfs: $kmods missing from the package" >&2; exit 1; }

# 2. The modules: these by name, and everything they depend on.
wanted=(
	# NVMe, SATA/AHCI and IDE
	nvme ahci ata_piix ata_generic sata_nv sata_sil24 sata_via
	# SCSI disks and CD/DVD drives, and the HBAs of PCs, servers and VMs
	sd_mod sr_mod sg virtio_scsi vmw_pvscsi hv_storvsc mpt3sas megaraid_sas hpsa smartpqi
	aacraid isci pm80xx mvsas mptsas mptspi 3w-9xxx 3w-sas arcmsr
	# virtio
	virtio_pci virtio_blk virtio_net virtio_console
	# USB: host controllers, sticks and disks (usb-storage and UAS), keyboards
	xhci_pci ehci_pci ohci_pci uhci_hcd usb_storage uas usbhid hid_generic
	# SD and MMC
	mmc_block sdhci_pci sdhci_acpi rtsx_pci_sdmmc rtsx_usb_sdmmc
	# block layers
	loop nbd dm-mod
	# file systems, and what the kernel asks for when mounting them
	ext4 vfat exfat isofs squashfs nls_cp437 nls_ascii nls_iso8859-1 nls_utf8 efivarfs crc32c_generic crc32c-intel
	# NTFS through ntfs-3g (Debian's 6.1 kernel has no ntfs3), and XFS and
	# btrfs with the checksums btrfs asks for (soft dependencies)
	fuse xfs btrfs xxhash_generic blake2b_generic
	# the checksums NVMe and SCSI disks ask the crypto API for (loaded
	# before them through soft dependencies, below)
	crc64_rocksoft_generic crct10dif_generic crct10dif-pclmul
	# network cards: Intel, Realtek, USB Ethernet
	e1000 e1000e igb igc r8169 r8152 cdc_ether ax88179_178a asix hv_netvsc
)
declare -A path_of=() seen=()
while IFS= read -r p; do
	b=${p##*/}; b=${b%.ko}; b=${b//-/_}
	path_of[$b]=$p
done < <(cd "$kmods" && find kernel -name '*.ko' | sort)
# modules.dep of the whole package, made once in the cache.
[ -f "$kmods/modules.dep" ] || depmod -b "$kroot" "$release"
declare -A deps_of=()
while IFS= read -r line; do
	deps_of[${line%%:*}]=${line#*:}
done < "$kmods/modules.dep"
queue=()
for w in "${wanted[@]}"; do
	n=${w//-/_}
	p=${path_of[$n]:-}
	[ -n "$p" ] || { grep -qE "/${w}\.ko$|/${n}\.ko$" "$kmods/modules.builtin" 2>/dev/null && continue; echo "initramfs: module $w is neither in $KERNEL_PKG nor built in" >&2; exit 1; }
	queue+=("$p")
done
while [ ${#queue[@]} -gt 0 ]; do
	p=${queue[0]}; queue=("${queue[@]:1}")
	[ -n "${seen[$p]:-}" ] && continue
	seen[$p]=1
	for d in ${deps_of[$p]:-}; do queue+=("$d"); done
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mdir="$stage/lib/modules/$release"
mkdir -p "$mdir"
for p in "${!seen[@]}"; do
	mkdir -p "$mdir/$(dirname "$p")"
	cp -p "$kmods/$p" "$mdir/$p" # unmodified: the signature is part of the file
done
cp -p "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$kmods"/modules.order "$mdir/"
depmod -b "$stage" "$release"
rm -f "$mdir"/*.bin
# crc64-rocksoft (NVMe's) asks the crypto API for its algorithm when it
# loads; with the driver loaded first, no module request (a modprobe run)
# is made. Its line gains that driver (only a module's first softdep line
# counts); crc-t10dif (SCSI disks') has its driver in its line already.
grep -q '^softdep crc64_rocksoft pre: ' "$mdir/modules.softdep" || { echo "initramfs: modules.softdep has no line for crc64_rocksoft" >&2; exit 1; }
sed -i 's/^softdep crc64_rocksoft pre: .*/& crc64_rocksoft_generic/' "$mdir/modules.softdep"

mkdir -p "$out"
printf '%s\n' "${!seen[@]}" | sort > "$out/modules.txt"
cp "$kroot/boot/vmlinuz-$release" "$out/vmlinuz"

echo "${LIFEBOAT_VERSION:-dev}" > "$stage/lifeboat-version"
# The file systems' own tools that a restore onto a larger disk and a
# restore with new identities run (u-root adds the shared libraries they
# need): e2fsck, resize2fs and tune2fs from e2fsprogs, ntfsresize from
# ntfs-3g; and ntfs-3g itself, which mounts NTFS repositories through
# FUSE.
tools=()
for t in e2fsck resize2fs tune2fs ntfsresize ntfs-3g; do
	p=$(PATH=/usr/sbin:/sbin:$PATH command -v "$t") || { echo "initramfs: $t is missing (run make deps)" >&2; exit 1; }
	tools+=(-files "$p:usr/sbin/$t")
done
# 3. u-root with lifeboat, and its version in /etc/lifeboat-version (go
# build's -X does not reach a command inside u-root's busybox). The commands are Go tools of this module (go.mod
# pins them); lifeboat boot is the program init starts.
cmds=$(cd "$top" && "$GO" list -f '{{.ImportPath}}' tool | grep '^github.com/u-root/u-root/cmds/' | grep -v '^github.com/u-root/u-root/cmds$')
echo "initramfs: building u-root with lifeboat and $(echo "$cmds" | wc -l) commands, $(wc -l < "$out/modules.txt") modules"
(cd "$top" && "$GO" tool u-root -o "$stage/initramfs.cpio" \
	-initcmd init -uinitcmd "lifeboat boot" -defaultsh gosh \
	-files "$stage/lib/modules:lib/modules" -files "$stage/lifeboat-version:etc/lifeboat-version" "${tools[@]}" \
	./cmd/lifeboat ./cmd/modprobe $cmds 2>&1 | grep -v "recommended Go versions\|Some packages may not compile\|golang.org/doc/install\|golang.org/dl/go1" || true)
[ -s "$stage/initramfs.cpio" ] || { echo "initramfs: u-root failed" >&2; exit 1; }
# Two compressions of the same archive. The kernel unpacks the initramfs
# while it starts, and a crypto self-test among its first steps waits for
# that: lz4 unpacks in about 0.5 s where zstd takes 0.85 s (0.5-0.9 s less
# from power-on to the UI under QEMU's emulation), worth its 5 MB more on a stick
# or a CD. Over TFTP those 5 MB cost more than they save, so network boot
# gets zstd. lz4 -l is the legacy frame format, the one the kernel reads.
zstd -q -19 -T0 -f "$stage/initramfs.cpio" -o "$out/initramfs.cpio.zst"
lz4 -q -l -12 -f "$stage/initramfs.cpio" "$out/initramfs.cpio.lz4"
ls -l "$out/vmlinuz" "$out/initramfs.cpio.lz4" "$out/initramfs.cpio.zst" | awk '{print "initramfs: " $NF " " $5 " bytes"}'
