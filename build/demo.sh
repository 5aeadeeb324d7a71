#!/usr/bin/env bash
# demo.sh LIFEBOAT_BINARY (make demo)
#
# Shows the command line on a demo disk: builds a 1 GiB GPT disk image with
# an EFI system partition, an ext4 root and an NTFS data partition (the
# benchmark's reference disk, smaller), captures it, captures it again
# after a change (only the changed chunks are stored), verifies the image,
# mounts it and copies a file out of it, restores it onto a new disk image
# file and checks the restored disk against the image.
set -euo pipefail

lifeboat=${1:?usage: demo.sh LIFEBOAT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
work=${DEMO_DIR:-/var/tmp/lifeboat-demo}
[ "$(id -u)" = 0 ] || { echo "demo: needs root (loop devices to build the demo disk)" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$@"; "$@"; }

"$here/bench/refdisk.sh" "$work/laptop.img" 1024 >/dev/null
export LIFEBOAT_REPO="$work/repo"

run "$lifeboat" capture --name laptop-monday "$work/laptop.img"
# A small change: a few KiB written into the middle of the ext4 partition.
printf 'Tuesday' | dd of="$work/laptop.img" bs=1 seek=$(( 600 * 1048576 + 12345 )) conv=notrunc status=none
run "$lifeboat" capture --name laptop-tuesday "$work/laptop.img"
run "$lifeboat" images
run "$lifeboat" verify --name laptop-tuesday
# Files back without a restore: the image mounted, then files copied out.
run "$lifeboat" mount --background --name laptop-tuesday "$work/mnt"
run ls -l "$work/mnt"
run ls "$work/mnt/3-data-ntfs/Documents"
run "$lifeboat" umount "$work/mnt"
run "$lifeboat" files ls --name laptop-tuesday
run "$lifeboat" files ls --name laptop-tuesday --part 3 /Documents/photos.bin
run "$lifeboat" files cp --name laptop-tuesday --part 3 /Documents/photos.bin "$work"
run "$lifeboat" restore --name laptop-tuesday --yes "$work/restored.img"
run "$lifeboat" verify --name laptop-tuesday --target "$work/restored.img"
# (cmp of laptop.img and restored.img would differ: only what the file
# systems use was captured, and the free space of the new disk is zeros
# where the old one held deleted files. verify --target compares every
# byte the image holds.)
echo
echo "demo: files in $work (remove with: rm -rf $work)"
