#!/usr/bin/env bash
# refdisk.sh OUT [SIZE_MIB]
#
# Builds the benchmark's reference disk: a GPT disk image (default 4096 MiB)
# laid out like a real dual-boot machine, made with the real tools:
#
#   1  EFI system partition, 300 MiB, FAT32 (mkfs.vfat, files copied with mtools)
#   2  Linux root, ext4, about half full of copies of this system's /usr and
#      /etc, 11% of it random (incompressible) data; before it was
#      filled, other files were written and deleted, so its free space is
#      not zeros
#   3  Microsoft basic data, NTFS, a quarter of the disk (mkfs.ntfs, files
#      through ntfs-3g), a third full, with deleted files too
#
# The kernel here makes no partition devices for loop devices, so each file
# system is made on a loop device that starts at its partition's offset.
# The file list is sorted and the random data comes from a fixed seed, so
# two builds on the same machine give the same disk.
set -euo pipefail

out=${1:?usage: refdisk.sh OUT [SIZE_MIB]}
size_mib=${2:-4096}
esp_mib=300
ntfs_mib=$(( size_mib * 25 / 100 ))

need() { command -v "$1" >/dev/null || { echo "refdisk: $1 is missing (run make deps)" >&2; exit 1; }; }
for c in sgdisk losetup mkfs.vfat fsck.vfat mcopy mmd mkfs.ext4 e2fsck mkfs.ntfs ntfs-3g openssl; do need "$c"; done

tmp=$(mktemp -d /var/tmp/lifeboat-refdisk.XXXXXX)
loops=()
mnts=()
cleanup() {
	for m in "${mnts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

img="$out.tmp"
rm -f "$img"
truncate -s "${size_mib}M" "$img"

# Partition table: ESP, ext4 root, NTFS data (to the end).
total=$(( size_mib * 2048 ))
esp_end=$(( 2048 + esp_mib * 2048 - 1 ))
root_end=$(( total - 34 - ntfs_mib * 2048 ))
root_end=$(( root_end / 2048 * 2048 - 1 ))
sgdisk -q -Z "$img" >/dev/null 2>&1 || true
sgdisk -U 4c1f4a3e-2b6d-4d1e-9a55-6c6f6966ea70 \
	-n 1:2048:$esp_end -t 1:ef00 -c 1:"EFI system partition" -u 1:6a7c1b0e-0b1e-4f0b-8a1a-000000000001 \
	-n 2:$(( esp_end + 1 )):$root_end -t 2:8300 -c 2:root -u 2:6a7c1b0e-0b1e-4f0b-8a1a-000000000002 \
	-n 3:$(( root_end + 1 )):0 -t 3:0700 -c 3:data -u 3:6a7c1b0e-0b1e-4f0b-8a1a-000000000003 \
	"$img" >/dev/null

part() { # part N -> "start_bytes size_bytes"
	local f l
	read -r f l < <(sgdisk -i "$1" "$img" 2>/dev/null | awk '/^First sector:/ {f=$3} /^Last sector:/ {l=$3} END {print f, l}')
	echo "$(( f * 512 )) $(( (l - f + 1) * 512 ))"
}
loop_for() { # loop_for N: sets LOOP to a loop device over partition N
	local s z
	read -r s z < <(part "$1")
	LOOP=$(losetup -f --show -o "$s" --sizelimit "$z" "$img")
	loops+=("$LOOP")
}

# Deterministic pseudo-random bytes: AES-CTR keystream of a fixed key.
random_bytes() { # random_bytes MIB SEED
	openssl enc -aes-128-ctr -nosalt -pass "pass:$2" -pbkdf2 -in <(head -c "$(( $1 * 1048576 ))" /dev/zero)
}

# Sorted files under DIRS, up to BUDGET bytes, as a list for tar -T.
file_list() { # file_list BUDGET DIR...
	local budget=$1; shift
	{ find "$@" -xdev -type f -size -64M -readable -printf '%s\t%p\n' 2>/dev/null || true; } |
		LC_ALL=C sort -t "$(printf '\t')" -k2 |
		awk -F'\t' -v b="$budget" '!done { if (t + $1 > b) { done = 1; next } t += $1; print $2 }'
}
copy_files() { # copy_files DEST BUDGET DIR...
	local dest=$1 budget=$2; shift 2
	file_list "$budget" "$@" > "$tmp/list"
	tar -cf - --no-recursion -T "$tmp/list" 2>/dev/null | tar -xf - -C "$dest"
}

echo "refdisk: ESP (FAT32)"
loop_for 1; esp=$LOOP
mkfs.vfat -F 32 -n ESP "$esp" >"$tmp/mkfs.log" 2>&1 || { cat "$tmp/mkfs.log" >&2; exit 1; }
# mtools reads the partition through the image file at its offset (on a
# loop device it asks for a disk geometry that loop devices do not have).
read -r s _ < <(part 1)
fat="$img@@$s"
export MTOOLS_SKIP_CHECK=1
mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$fat" /usr/local/go/bin/go ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$fat" /usr/local/go/bin/gofmt ::/EFI/debian/grubx64.efi
random_bytes 20 esp > "$tmp/initrd.img"
mcopy -i "$fat" "$tmp/initrd.img" ::/EFI/debian/initrd.img

echo "refdisk: root (ext4)"
loop_for 2; root=$LOOP
mkfs.ext4 -q -F -L root -U 9b3a5d0c-5c1e-4b5e-8e0b-00000000e4e4 -E lazy_itable_init=0,lazy_journal_init=0 "$root"
mkdir -p "$tmp/root"
mount "$root" "$tmp/root"
mnts+=("$tmp/root")
root_bytes=$(df -B1 --output=size "$tmp/root" | tail -1)
root_mib=$(( root_bytes / 1048576 ))
# Data that is written, then deleted: it stays in the free space.
mkdir -p "$tmp/root/old"
copy_files "$tmp/root/old" $(( root_bytes / 5 )) /usr/lib/jvm /usr/lib/gcc /usr/libexec
random_bytes $(( root_mib * 4 / 100 )) old > "$tmp/root/old/download.bin"
sync
rm -rf "$tmp/root/old"
sync
# The system: copies of /usr and /etc up to about half of the file system,
# 11% of it random data (300 MiB on the 4 GiB disk).
rand_mib=$(( root_mib * 11 / 100 ))
random_bytes $rand_mib root > "$tmp/root/var.bin"
copy_files "$tmp/root" $(( root_bytes / 2 - rand_mib * 1048576 )) /etc /usr/bin /usr/sbin /usr/share /usr/include /usr/lib/x86_64-linux-gnu /usr/lib/python3 /usr/local/go
sync
df -h "$tmp/root" | tail -1 | awk '{print "refdisk: root used " $3 " of " $2}'
umount "$tmp/root"
mnts=()
e2fsck -fn "$root" >"$tmp/fsck.log" 2>&1 || { cat "$tmp/fsck.log" >&2; echo "refdisk: the ext4 file system is not clean" >&2; exit 1; }
fsck.vfat -n "$esp" >"$tmp/fsck.log" 2>&1 || { cat "$tmp/fsck.log" >&2; echo "refdisk: the FAT file system is not clean" >&2; exit 1; }

echo "refdisk: data (NTFS)"
loop_for 3; data=$LOOP
read -r s _ < <(part 3)
mkfs.ntfs -q -f -L data -p $(( s / 512 )) -H 255 -S 63 "$data" >"$tmp/mkfs.log" 2>&1 || { cat "$tmp/mkfs.log" >&2; exit 1; }
mkdir -p "$tmp/data"
ntfs-3g "$data" "$tmp/data"
mnts+=("$tmp/data")
mkdir -p "$tmp/data/Temp" "$tmp/data/Documents"
copy_files "$tmp/data/Temp" $(( ntfs_mib * 15 / 100 * 1048576 )) /usr/lib/llvm-14 /usr/lib/jvm /usr/share/locale
sync
rm -rf "$tmp/data/Temp"
copy_files "$tmp/data/Documents" $(( ntfs_mib * 25 / 100 * 1048576 )) /usr/share/doc /usr/share/man /usr/share/locale /usr/lib/python3
random_bytes $(( ntfs_mib * 5 / 100 )) data > "$tmp/data/Documents/photos.bin"
sync
umount "$tmp/data"
mnts=()

for l in "${loops[@]}"; do losetup -d "$l"; done
loops=()
sgdisk -v "$img" 2>/dev/null | grep -q 'No problems found' || { echo "refdisk: sgdisk -v finds problems" >&2; exit 1; }
mv "$img" "$out"
echo "refdisk: $out ready ($size_mib MiB)"
