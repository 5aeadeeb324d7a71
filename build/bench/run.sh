#!/usr/bin/env bash
# run.sh LIFEBOAT_BINARY
#
# Lifeboat's benchmark (make bench): captures and restores one reference
# disk with Lifeboat, with Clonezilla's pipeline (per partition
# `partclone.<fs> -c | zstd -T0 -3`, and `zstd -dc | partclone.<fs> -r`
# back, after the partition table) and with the classic pipeline of
# disk-imaging scripts (`dd bs=4M | zstd -T0 -3` and its reverse), in one
# run on one machine, and prints wall time, CPU time (user+system of every
# process of the command) and image size, each with its ratio to Lifeboat's.
#
# Every command starts with a cold page cache (the disk is read from the
# storage, as a real disk would be). Restores go to a loop device over a new
# file, so every tool writes to a block device, and end with a sync. After
# each restore is timed it is checked: the dd restore is byte-identical to
# the reference disk; Lifeboat's reads back identical to its image (lifeboat
# verify --target); Lifeboat's and partclone's file systems pass e2fsck -fn,
# fsck.vfat -n and ntfsfix -n.
#
# Environment:
#   BENCH_DIR      work directory (default /var/tmp/lifeboat-bench); the
#                  reference disk is kept there and reused
#   BENCH_SIZE_MIB size of the reference disk (default 4096)
#   BENCH_EXTENTS  extent sizes to capture with, e.g. "1M 2M 4M" (default:
#                  Lifeboat's default only)
#   BENCH_RUNS     how many times each command runs; the fastest is kept
#                  (default 1)
set -euo pipefail

lifeboat=${1:?usage: run.sh LIFEBOAT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/var/tmp/lifeboat-bench}
size_mib=${BENCH_SIZE_MIB:-4096}
runs=${BENCH_RUNS:-1}
extents=${BENCH_EXTENTS:-default}

[ "$(id -u)" = 0 ] || { echo "bench: needs root (loop devices, dropping the page cache)" >&2; exit 1; }
mkdir -p "$work"
ref="$work/reference-${size_mib}M.img"
stamp=$(sha256sum "$here/refdisk.sh" | cut -c1-12)
if [ ! -f "$ref" ] || [ "$(cat "$ref.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -f "$ref" "$ref.stamp"
	"$here/refdisk.sh" "$ref" "$size_mib"
	echo "$stamp" > "$ref.stamp"
fi
ref_sum=$(sha256sum < "$ref" | cut -d' ' -f1)

loop=""
parts=() # loop devices over the partitions of the reference or target disk
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
	for l in "${parts[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	parts=()
}
trap cleanup EXIT

# The reference disk's partitions: offset, size, and partclone's name for
# the file system in each.
mapfile -t layout < <(sfdisk -d "$ref" | awk -F'[=,]' '/start=/ {
	t = toupper($6); gsub(/ /, "", t)
	fs = t == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" ? "vfat" : t == "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" ? "ntfs" : "extfs"
	printf "%.0f %.0f %s\n", $2 * 512, $4 * 512, fs }')
attach_parts() { # attach_parts FILE: parts[i] is a loop device over partition i+1 of FILE
	local l off sz fs
	for l in "${layout[@]}"; do
		read -r off sz fs <<< "$l"
		parts+=("$(losetup -f --show -o "$off" --sizelimit "$sz" "$1")")
	done
	export PARTS="${parts[*]}"
}
check_fs() { # check_fs NAME [note]: the target's file systems pass their checkers; with note, a failure is reported, not fatal
	local i fs off sz
	for i in "${!layout[@]}"; do
		read -r off sz fs <<< "${layout[$i]}"
		case $fs in
		extfs) e2fsck -fn "${parts[$i]}" ;;
		vfat) fsck.vfat -n "${parts[$i]}" ;;
		ntfs) ntfsfix -n "${parts[$i]}" ;;
		esac >"$work/fsck.log" 2>&1 && continue
		if [ -n "${2:-}" ]; then
			notes+=("after $1, the $fs checker reports: $(grep -iE 'bad|error|fail' "$work/fsck.log" | head -2 | tr '\n' ' ')")
			continue
		fi
		cat "$work/fsck.log" >&2
		echo "bench: $1 restored a $fs file system that is not clean" >&2
		exit 1
	done
}
# Clonezilla's commands, one partition after the other.
cz_capture="dd if='$ref' of='$work/cz/head.img' bs=1M count=1 status=none && sgdisk -b '$work/cz/gpt.bak' '$ref' >/dev/null"
cz_restore="dd if='$work/cz/head.img' of=\"\$LOOP\" bs=1M status=none && sgdisk -l '$work/cz/gpt.bak' \"\$LOOP\" >/dev/null 2>&1"
for i in "${!layout[@]}"; do
	read -r _ _ fs <<< "${layout[$i]}"
	cz_capture+=" && partclone.$fs -q -c -s \$(echo \$PARTS | cut -d' ' -f$((i + 1))) -o - 2>/dev/null | zstd -T0 -3 -q -o '$work/cz/part$((i + 1)).pc.zst'"
	cz_restore+=" && zstd -dc -q '$work/cz/part$((i + 1)).pc.zst' | partclone.$fs -q -r -s - -o \$(echo \$PARTS | cut -d' ' -f$((i + 1))) 2>/dev/null"
done
cz_restore+=" && sync"

# measure COMMAND: runs COMMAND (a bash command line) BENCH_RUNS times, each
# after $BEFORE and with a cold cache, and sets WALL and CPU (seconds) of the
# fastest run.
measure() {
	local best_wall="" best_cpu="" i w u s c
	for (( i = 0; i < runs; i++ )); do
		[ -n "${BEFORE:-}" ] && eval "$BEFORE"
		sync
		echo 3 > /proc/sys/vm/drop_caches
		if ! /usr/bin/time -f '%e %U %S' -o "$work/time.txt" bash -c "$1" >/dev/null; then
			echo "bench: failed: $1" >&2
			exit 1
		fi
		read -r w u s < <(tail -1 "$work/time.txt")
		c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
		if [ -z "$best_wall" ] || awk -v a="$w" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
			best_wall=$w best_cpu=$c
		fi
	done
	WALL=$best_wall CPU=$best_cpu
}

new_target() { # a loop device over a new sparse file the size of the reference disk
	cleanup
	rm -f "$work/target.img"
	truncate -s "${size_mib}M" "$work/target.img"
	loop=$(losetup -f --show "$work/target.img")
	export LOOP=$loop
}

check_target() {
	local sum
	sum=$(sha256sum < "$loop" | cut -d' ' -f1)
	[ "$sum" = "$ref_sum" ] || { echo "bench: $1 restored a disk that differs from the reference" >&2; exit 1; }
}

repo_bytes() { find "$1" -type f -printf '%s\n' | awk '{ t += $1 } END { printf "%.0f\n", t }'; }

notes=()
rows=()
row() { rows+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"); } # name, wall, cpu, bytes

echo "bench: reference disk $ref ($size_mib MiB), $(nproc) CPUs, $runs run(s) each, cold cache"
lb_capture_name=""
for ext in $extents; do
	flag="" label="lifeboat capture"
	if [ "$ext" != default ]; then flag="--extent-size $ext" label="lifeboat capture ($ext extents)"; fi
	BEFORE="rm -rf '$work/repo'"
	measure "'$lifeboat' capture --quiet --repo '$work/repo' --name ref $flag '$ref'"
	row "$label" "$WALL" "$CPU" "$(repo_bytes "$work/repo")"
	[ -z "$lb_capture_name" ] && lb_capture_name=$label && cp_wall=$WALL cp_cpu=$CPU
	last_ext=$ext
done
# The repository of the last capture is the one restored from; capture it
# again with the first extent size if several were measured.
if [ "$last_ext" != "$(echo $extents | cut -d' ' -f1)" ]; then
	first=$(echo $extents | cut -d' ' -f1)
	rm -rf "$work/repo"
	flag=""; [ "$first" != default ] && flag="--extent-size $first"
	"$lifeboat" capture --quiet --repo "$work/repo" --name ref $flag "$ref"
fi
BEFORE="rm -rf '$work/repo-fast'"
measure "'$lifeboat' capture --quiet --repo '$work/repo-fast' --name ref --level fast '$ref'"
row "lifeboat capture --level fast" "$WALL" "$CPU" "$(repo_bytes "$work/repo-fast")"
rm -rf "$work/repo-fast"
BEFORE=""

attach_parts "$ref"
BEFORE="rm -rf '$work/cz' && mkdir -p '$work/cz'"
measure "$cz_capture"
row "partclone | zstd -T0 -3 (Clonezilla)" "$WALL" "$CPU" "$(repo_bytes "$work/cz")"
cleanup
BEFORE=""

measure "dd if='$ref' bs=4M status=none | zstd -T0 -3 -q -f -o '$work/ref.img.zst'"
row "dd bs=4M | zstd -T0 -3" "$WALL" "$CPU" "$(stat -c %s "$work/ref.img.zst")"

BEFORE="new_target"
measure "'$lifeboat' restore --quiet --yes --repo '$work/repo' --name ref \"\$LOOP\" && sync"
"$lifeboat" verify --repo "$work/repo" --name ref --target "$loop" >/dev/null ||
	{ echo "bench: lifeboat restore wrote a disk that differs from its image" >&2; exit 1; }
attach_parts "$work/target.img"
check_fs "lifeboat restore"
row "lifeboat restore" "$WALL" "$CPU" "-"

# The same restore from the repository served by nginx on loopback
# (read-only, over http://): what the network path costs beside the disk.
ngx="$work/nginx"
rm -rf "$ngx" && mkdir -p "$ngx"
port=$(( 20000 + RANDOM % 20000 ))
cat > "$ngx/nginx.conf" <<CONF
daemon off;
master_process off;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events {}
http {
	access_log off;
	client_body_temp_path $ngx/body;
	proxy_temp_path $ngx/proxy;
	fastcgi_temp_path $ngx/fastcgi;
	uwsgi_temp_path $ngx/uwsgi;
	scgi_temp_path $ngx/scgi;
	server { listen 127.0.0.1:$port; root $work/repo; autoindex on; }
}
CONF
/usr/sbin/nginx -c "$ngx/nginx.conf" -p "$ngx" -e "$ngx/error.log" &
ngx_pid=$!
trap 'kill $ngx_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
BEFORE="new_target"
measure "'$lifeboat' restore --quiet --yes --repo 'http://127.0.0.1:$port/' --name ref \"\$LOOP\" && sync"
"$lifeboat" verify --repo "$work/repo" --name ref --target "$loop" >/dev/null ||
	{ echo "bench: lifeboat restore from http:// wrote a disk that differs from its image" >&2; kill "$ngx_pid"; exit 1; }
kill "$ngx_pid"
wait "$ngx_pid" 2>/dev/null || true
trap cleanup EXIT
row "lifeboat restore from http://" "$WALL" "$CPU" "-"

BEFORE="new_target && attach_parts '$work/target.img'"
measure "$cz_restore"
check_fs "partclone -r" note
row "zstd -dc | partclone -r (Clonezilla)" "$WALL" "$CPU" "-"

BEFORE="new_target"
measure "zstd -dc -q '$work/ref.img.zst' | dd of=\"\$LOOP\" bs=4M iflag=fullblock conv=fsync status=none"
check_target "zstd -d | dd"
row "zstd -dc | dd bs=4M" "$WALL" "$CPU" "-"
BEFORE=""
cleanup
loop=""

# Browsing: how long from lifeboat mount to the first listing of the ext4
# root, next to what an image explorer that must restore the partition
# first pays (Rescuezilla: partclone -r of the partition into a file, then
# a mount); then one large file read out of the mounted image, next to the
# same file read from the reference disk itself and to the whole restore.
mnt="$work/mnt" refmnt="$work/refmnt"
mkdir -p "$refmnt"
read -r p2_off p2_size _ <<< "${layout[1]}"
browse_cleanup() {
	"$lifeboat" umount "$mnt" >/dev/null 2>&1 || true
	umount "$refmnt" 2>/dev/null || true
	umount "$work/p2mnt" 2>/dev/null || true
}
trap 'browse_cleanup; cleanup' EXIT
BEFORE="'$lifeboat' umount '$mnt' >/dev/null 2>&1 || true"
measure "'$lifeboat' mount --background --repo '$work/repo' --name ref '$mnt' >/dev/null && ls -la '$mnt'/2-*/ >/dev/null"
browse_rows=("lifeboat mount, first listing"$'\t'"$WALL")
BEFORE="umount '$work/p2mnt' 2>/dev/null || true; rm -f '$work/p2.img'; truncate -s $p2_size '$work/p2.img'; mkdir -p '$work/p2mnt'"
measure "zstd -dc -q '$work/cz/part2.pc.zst' | partclone.extfs -q -r -s - -O '$work/p2.img' 2>/dev/null && mount -o ro,loop,noload '$work/p2.img' '$work/p2mnt' && ls -la '$work/p2mnt' >/dev/null"
browse_rows+=("partclone -r of the partition, mount, list"$'\t'"$WALL")
umount "$work/p2mnt"
rm -f "$work/p2.img"
big=$(cd "$mnt"/2-*/ && find . -xdev -type f -printf '%s %P\n' | sort -n | tail -1)
big_size=${big%% *} big=${big#* }
big_mib=$(awk -v b="$big_size" 'BEGIN { printf "%.0f", b / 1048576 }')
BEFORE=""
measure "cat '$mnt'/2-*/'$big' > /dev/null"
browse_rows+=("read $big ($big_mib MiB) from lifeboat mount"$'\t'"$WALL")
"$lifeboat" umount "$mnt" >/dev/null
p2=$(losetup -r -f --show -o "$p2_off" --sizelimit "$p2_size" "$ref")
parts+=("$p2")
mount -o ro,noload "$p2" "$refmnt"
measure "cat '$refmnt/$big' > /dev/null"
browse_rows+=("read it from the reference disk"$'\t'"$WALL")
umount "$refmnt"
cleanup
browse_rows+=("lifeboat restore of the whole disk"$'\t'"$(printf '%s\n' "${rows[@]}" | awk -F'\t' '$1 == "lifeboat restore" { print $2 }')")

# Table: each peer line compares with Lifeboat's line of the same kind.
printf '\n%-34s %9s %6s %9s %6s %12s %6s\n' "command" "wall s" "x" "CPU s" "x" "size MiB" "x"
json="["
base_wall="" base_cpu="" base_size=""
for r in "${rows[@]}"; do
	IFS=$'\t' read -r name wall cpu bytes <<< "$r"
	case "$name" in
	"lifeboat capture"*) [ -z "$base_size" ] && base_wall=$wall base_cpu=$cpu base_size=$bytes ;;
	"lifeboat restore") base_wall=$wall base_cpu=$cpu base_size="" ;;
	esac
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else printf "-" }'; }
	mib="-"; [ "$bytes" != "-" ] && mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
	printf '%-34s %9s %6s %9s %6s %12s %6s\n' "$name" "$wall" "$(ratio "$wall" "$base_wall")" \
		"$cpu" "$(ratio "$cpu" "$base_cpu")" "$mib" "$(ratio "$bytes" "${base_size:-0}")"
	[ "$json" != "[" ] && json+=","
	json+=$(printf '\n  {"command": "%s", "wall_s": %s, "cpu_s": %s, "bytes": %s}' "$name" "$wall" "$cpu" "$([ "$bytes" = - ] && echo null || echo "$bytes")")
done
json+=$'\n]'
printf '\n%-46s %9s %6s\n' "browse" "wall s" "x"
browse_base="" read_base=""
json=${json%$'\n]'}
for r in "${browse_rows[@]}"; do
	IFS=$'\t' read -r name wall <<< "$r"
	case "$name" in
	"lifeboat mount, first listing") browse_base=$wall base=$wall ;;
	"read "*"from lifeboat mount") read_base=$wall base=$wall ;;
	*) base=${read_base:-$browse_base} ;;
	esac
	printf '%-46s %9s %6s\n' "$name" "$wall" "$(awk -v a="$wall" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')"
	json+=","
	json+=$(printf '\n  {"browse": "%s", "wall_s": %s}' "$name" "$wall")
done
json+=$'\n]'
echo "$json" > "$work/bench.json"
echo
echo "x: ratio to Lifeboat's line of the same kind (capture or restore; in browse, the mount's first listing"
echo "   or the read of the file out of the mounted image); above 1 means Lifeboat is faster or smaller."
echo "Results also in $work/bench.json"
for n in "${notes[@]}"; do echo "note: $n"; done
