#!/usr/bin/env bash
# screens.sh LIFEBOAT_BINARY OUT_DIR (make screens)
#
# Runs `lifeboat tui` in a real terminal (tmux, 80x24, TERM=xterm) on this
# machine with a demo disk image and a repository, walks through the main
# screens with the keyboard, and saves each screen as text in OUT_DIR
# (docs/screens, shown in the README).
set -euo pipefail

lifeboat=${1:?usage: screens.sh LIFEBOAT_BINARY OUT_DIR}
out=${2:?usage: screens.sh LIFEBOAT_BINARY OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v tmux >/dev/null || { echo "screens: tmux is missing (run make deps)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "screens: needs root (loop devices to build the demo disk)" >&2; exit 1; }

work=${SCREENS_DIR:-/var/tmp/lifeboat-screens}
rm -rf "$work"
mkdir -p "$work" "$out"
"$here/bench/refdisk.sh" "$work/laptop.img" 1024 >/dev/null
truncate -s 1G "$work/spare.img"
"$lifeboat" capture --quiet --repo "$work/repo" --name laptop-2026-11-25 "$work/laptop.img" >/dev/null

session=lifeboat-screens
tmux kill-session -t "$session" 2>/dev/null || true
tmux new-session -d -s "$session" -x 80 -y 24 -e TERM=xterm \
	"'$lifeboat' tui --find=false --repo '$work/repo' --disk '$work/laptop.img' --disk '$work/spare.img'"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT

# wait_for TEXT: until the pane shows TEXT (at most 30 s).
wait_for() {
	for _ in $(seq 300); do
		tmux capture-pane -p -t "$session" | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	echo "screens: the screen never showed '$1':" >&2
	tmux capture-pane -p -t "$session" >&2
	exit 1
}
shot() { tmux capture-pane -p -t "$session" > "$out/$1.txt"; echo "screens: $out/$1.txt"; }
# keys KEY...: one at a time, so that a terminal parser waiting for the rest
# of an escape sequence does not join two Escapes into Alt-Escape.
keys() { for k in "$@"; do tmux send-keys -t "$session" "$k"; sleep 0.3; done; }

wait_for "laptop.img"
# Select the demo disk so its partitions show.
for _ in $(seq 20); do
	tmux capture-pane -p -t "$session" | grep -qF " $work/laptop.img " && break
	keys Down
done
wait_for "ext4"
shot disks
keys i
wait_for "laptop-2026-11-25"
shot images
keys Enter
wait_for "Image details"
shot image-details
keys Escape r
wait_for "2/3 choose the disk"
keys End
shot restore-target
keys Enter
wait_for "Type spare.img"
shot restore-confirm
keys Escape Escape Escape Escape
wait_for "q quit"
keys c
wait_for "1/4"
keys Enter
wait_for "2/4"
keys Enter
wait_for "3/4"
shot capture-options
keys Escape Escape Escape
wait_for "q quit"
keys d
wait_for "Clone: 1/3"
keys Enter
wait_for "2/3 choose the disk to overwrite"
keys End Enter
wait_for "Type spare.img"
shot clone-confirm
keys Escape Escape Escape
wait_for "q quit"
keys q
wait_for "Quit Lifeboat"
keys y
sleep 0.5
