#!/bin/bash
# Copy the part of this machine's /sys that pkg/inventory reads, with
# /proc/self/mountinfo and /proc/swaps, into a fixture directory:
#
#	testdata/sysfs/capture.sh OUTDIR
#
# Run as root it first sets up two loop devices so the capture has them in
# use: one with an ext4 file system mounted at a path with a space in it, one
# holding active swap. Both are torn down again on exit.
#
# What is copied, for every /sys/block/NAME:
#   - the link block/NAME and the link dev/block/MAJ:MIN
#   - in the device's directory: dev size removable ro serial wwid
#     queue/{logical,physical}_block_size queue/rotational loop/backing_file
#     dm/name, the links in holders/ and slaves/, and for every partition
#     subdirectory: partition start size ro dev and its holders/
#   - the device link and, in its target: model vendor serial wwid name
#     vpd_pg80 vpd_pg83; and up its ancestors, idVendor and serial
#   - the links in fs/btrfs/*/devices/
# Symbolic links keep their relative targets; an absolute one is rewritten
# relative so the copy resolves inside OUTDIR/sys.
#
# mountinfo keeps the lines of block devices (a major number other than 0)
# and of the basic pseudo file systems (/, /proc, /sys, /dev, /dev/shm,
# /dev/pts, /run, /tmp); other lines are specific to the host and dropped.
set -euo pipefail

out=${1:?usage: capture.sh OUTDIR}
sys=/sys

if [ -e "$out" ]; then
	echo "capture.sh: $out exists" >&2
	exit 1
fi

work=
loops=()
cleanup() {
	set +e
	if [ -n "$work" ]; then
		mountpoint -q "$work/mnt point" && umount "$work/mnt point"
		for l in "${loops[@]}"; do
			swapoff "$l" 2>/dev/null
			losetup -d "$l"
		done
		rm -rf "$work"
	fi
}
trap cleanup EXIT

if [ "$(id -u)" = 0 ]; then
	mkdir /tmp/lifeboat-capture # fixed, so a new capture names the same paths
	work=/tmp/lifeboat-capture
	truncate -s 16M "$work/fs.img"
	mkfs.ext4 -q "$work/fs.img"
	l=$(losetup -f --show "$work/fs.img")
	loops+=("$l")
	mkdir "$work/mnt point"
	mount "$l" "$work/mnt point"
	truncate -s 8M "$work/swap.img"
	l=$(losetup -f --show "$work/swap.img")
	loops+=("$l")
	mkswap -q "$l"
	swapon "$l"
fi

mkdir -p "$out/sys"

# copy_file ABS: copy one file of /sys if it exists and can be read.
copy_file() {
	local abs=$1 rel=${1#"$sys"/}
	[ -f "$abs" ] || return 0
	mkdir -p "$out/sys/$(dirname "$rel")"
	cat "$abs" >"$out/sys/$rel" 2>/dev/null || rm -f "$out/sys/$rel"
}

# copy_link ABS: copy one symbolic link of /sys, relative.
copy_link() {
	local abs=$1 rel=${1#"$sys"/} target
	[ -L "$abs" ] || return 0
	target=$(readlink "$abs")
	case $target in
	/*) target=$(realpath -m --relative-to="$(dirname "$abs")" "$target") ;;
	esac
	mkdir -p "$out/sys/$(dirname "$rel")"
	ln -sfn "$target" "$out/sys/$rel"
}

copy_links_in() {
	local l
	for l in "$1"/*; do
		[ -L "$l" ] && copy_link "$l"
	done
	return 0
}

for b in "$sys"/block/*; do
	copy_link "$b"
	dir=$(realpath "$b")
	for f in dev size removable ro serial wwid queue/logical_block_size \
		queue/physical_block_size queue/rotational loop/backing_file dm/name; do
		copy_file "$dir/$f"
	done
	copy_links_in "$dir/holders"
	copy_links_in "$dir/slaves"
	for p in "$dir"/*/partition; do
		[ -f "$p" ] || continue
		pdir=$(dirname "$p")
		for f in partition start size ro dev; do
			copy_file "$pdir/$f"
		done
		copy_links_in "$pdir/holders"
	done
	if [ -L "$dir/device" ]; then
		copy_link "$dir/device"
		ddir=$(realpath "$dir/device")
		for f in model vendor serial wwid name vpd_pg80 vpd_pg83; do
			copy_file "$ddir/$f"
		done
		a=$ddir
		while [ "$a" != "$sys/devices" ] && [ "$a" != / ]; do
			if [ -f "$a/idVendor" ]; then
				copy_file "$a/idVendor"
				copy_file "$a/serial"
				break
			fi
			a=$(dirname "$a")
		done
	fi
done

copy_links_in "$sys/dev/block"
for d in "$sys"/fs/btrfs/*/devices; do
	[ -d "$d" ] && copy_links_in "$d"
done

awk '{ split($3, n, ":") }
	n[1] != 0 || $5 ~ /^\/(proc|sys|dev|dev\/shm|dev\/pts|run|tmp)?$/' \
	/proc/self/mountinfo >"$out/mountinfo"
if [ -r /proc/swaps ]; then
	cat /proc/swaps >"$out/swaps"
else
	printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >"$out/swaps"
fi
echo "captured into $out"
