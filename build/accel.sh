#!/usr/bin/env bash
# accel.sh VMLINUZ
#
# Prints the accelerator QEMU should use for make run, kvm or tcg, on
# stdout, and a one-line note on stderr when KVM was wanted but does not
# work here.
#
# A writable /dev/kvm is not enough: on some nested or paravirtual hosts
# KVM opens but cannot run a real guest, and QEMU then hangs (the boot
# stops at "Loading Lifeboat...") or stops with "emulation failure". So the
# probe boots the kernel VMLINUZ (the rescue environment's) under KVM, with
# no disk and no root file system, on the machine make run uses (1 GiB,
# two CPUs), and takes KVM only when the kernel gets through its start far
# enough to complain that it has no root file system. That takes a second
# or two where KVM works; the probe waits at most RUN_ACCEL_WAIT seconds
# (20).
#
# RUN_ACCEL chooses: unset (or auto) probes; kvm uses KVM even when the
# probe fails (and says so); tcg uses emulation without probing. Any other
# value, or a missing VMLINUZ, is an error (exit status 2).
set -euo pipefail

kernel=${1:?usage: accel.sh VMLINUZ}
want=${RUN_ACCEL:-auto}
wait=${RUN_ACCEL_WAIT:-20}
case $want in
auto | kvm) ;;
tcg) echo tcg; exit 0 ;;
*) echo "run: RUN_ACCEL=$want: want kvm or tcg (or unset, to use KVM when it works)" >&2; exit 2 ;;
esac
case $wait in
'' | *[!0-9]* | 0) echo "run: RUN_ACCEL_WAIT=$wait: want a whole number of seconds" >&2; exit 2 ;;
esac
[ -f "$kernel" ] || { echo "run: no kernel at $kernel to test KVM with" >&2; exit 2; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
# --foreground: Ctrl-C reaches QEMU (and this script) rather than only timeout.
timeout --foreground -k 5 "$wait" qemu-system-x86_64 -accel kvm -machine pc -nodefaults -m 1024 -smp 2 \
	-display none -no-reboot -serial file:"$dir/serial" \
	-kernel "$kernel" -append "console=ttyS0 panic=-1 quiet" \
	</dev/null >"$dir/qemu.log" 2>&1 || status=$?
if grep -qs 'VFS: Unable to mount root fs' "$dir/serial"; then
	echo kvm
	exit 0
fi

# Why not, in a few words: what QEMU said last (its warnings aside), or
# that the guest never got that far.
if grep -q 'emulation failure' "$dir/qemu.log"; then
	why='QEMU stopped with "emulation failure"'
elif [ $status = 124 ] || [ $status = 137 ]; then
	why="a test kernel did not start under it within $wait s"
else
	why=$(grep -v 'warning:' "$dir/qemu.log" | grep -v '^[[:space:]]*$' | tail -n 1 | sed 's/^qemu-system-x86_64: //' || true)
	[ -n "$why" ] || why="a test guest stopped before its kernel started (QEMU exit status $status)"
fi
if [ "$want" = kvm ]; then
	echo "run: RUN_ACCEL=kvm: using KVM, although it does not work here ($why)" >&2
	echo kvm
	exit 0
fi
echo "run: KVM does not work here ($why); using emulation (TCG), which is slower; RUN_ACCEL=kvm forces KVM, RUN_ACCEL=tcg skips this test" >&2
echo tcg
