// Package kmod loads Linux kernel modules the way the rescue environment
// needs: for the hardware present, and on the kernel's own requests.
//
// An Index reads modules.dep, modules.alias and modules.builtin (made by
// depmod at build time) from a modules directory. Resolve turns a module
// name or an alias ("pci:v00008086d...", "fs-vfat", "crypto-crc32c") into
// module names by matching the alias patterns (shell globs) of
// modules.alias, with the rules modprobe uses (fnmatch(3)): a '*' matches
// a '/' too, as a DMI modalias's BIOS date ("bd04/01/2014") needs. Load
// loads a module after everything it depends on, each module once, with
// finit_module, so that a kernel in lockdown checks each file's signature;
// a module already loaded or built in is not an error.
//
// ForHardware walks /sys/devices for modalias files, without following
// sysfs's symlinks (which lead back into the tree), and loads every module
// whose alias matches one, in passes, because loading a bus driver (an
// HBA, virtio_pci, a USB host controller) makes new devices, with new
// modaliases, appear. It stops when a pass finds no module it has not
// tried yet. A module that fails to load is reported and the rest go on.
package kmod
