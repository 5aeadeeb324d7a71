// Command demoinit is the /init of the demo system that build/demodisk.sh
// puts on the demo source disk: a real, if tiny, bootable system that GRUB
// starts from the disk's ext4 partition.
//
// It mounts /proc, /sys and /dev, prints a fixed marker line
// (LIFEBOAT-DEMO-SYSTEM-UP), the disk's identity from /etc/demo-id in its
// own initramfs, the root= that GRUB passed (the root file system by UUID)
// and the block devices the kernel sees, to the console and
// to the first serial port, then powers the machine off. Tests boot a
// restored copy of the disk on its own and look for these lines to tell
// that it booted, and which disk it was.
//
// As process 1 it must never exit (the kernel panics when init does): if
// powering off fails, it sleeps forever.
package main
