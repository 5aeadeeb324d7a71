// Command mkmedia writes Lifeboat's boot media from the rescue environment
// (Debian's signed kernel and the u-root initramfs) and Debian's boot
// loaders: lifeboat.img, a USB stick image that boots on UEFI (with Secure
// Boot) and on legacy BIOS, and lifeboat.iso, a hybrid ISO image. The
// partition tables and file systems are written with go-diskfs; the GRUB
// boot sectors for BIOS are patched in as grub-bios-setup would.
//
// make image runs it through build/media.sh, which fetches the inputs.
package main
