# Lifeboat: see README.md. Every target installs what it needs (make deps).

SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED ?= 0

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/lifeboat

# Debian packages the tests and the benchmark use: partitioning and
# file-system tools to make and check real disks (and blkid to compare
# file-system recognition with), zstd and time for the side-by-side
# benchmark, tmux to run the text UI in a real terminal; QEMU, its UEFI
# firmware (OVMF) and network boot ROMs (iPXE) to boot the rescue media;
# GRUB's tools and BIOS modules to make them; nginx to serve repositories
# over HTTP in the tests.
DEB_PKGS := gdisk fdisk dosfstools e2fsprogs xfsprogs btrfs-progs exfatprogs mtools ntfs-3g \
	cryptsetup-bin lvm2 xorriso zstd lz4 time util-linux openssl tmux kmod qemu-system-x86 ovmf ipxe-qemu \
	grub-common grub-pc-bin partclone exfat-fuse squashfs-tools nginx-light
DEB_CMDS := sgdisk sfdisk mkfs.vfat mkfs.ext4 mkfs.xfs mkfs.btrfs mkfs.exfat mcopy mkfs.ntfs \
	cryptsetup pvcreate xorriso blkid zstd lz4 /usr/bin/time losetup openssl tmux depmod qemu-system-x86_64 \
	/usr/share/OVMF/OVMF_CODE_4M.secboot.fd /usr/lib/ipxe/qemu/efi-e1000.rom grub-mkimage /usr/lib/grub/i386-pc/boot.img \
	partclone.extfs mount.exfat-fuse mksquashfs /usr/sbin/nginx

# Fuzz targets run briefly by make test: package:target.
FUZZ := ./pkg/ptable:FuzzRead ./pkg/image:FuzzDecode ./pkg/repo:FuzzDecompress ./pkg/repo:FuzzParseNote ./pkg/repo:FuzzParseLock ./pkg/inventory:FuzzParseMountInfoLine ./pkg/inventory:FuzzParseSwapsLine ./pkg/inventory:FuzzParseVPD \
	./pkg/fsprobe:FuzzProbe ./pkg/kmod:FuzzParseDep ./pkg/kmod:FuzzParseAlias ./pkg/kmod:FuzzParseBuiltin ./pkg/kmod:FuzzMatch \
	./pkg/kmod:FuzzUeventModalias ./pkg/unattended:FuzzParse ./pkg/fsmap:FuzzRead ./pkg/layout:FuzzFAT ./pkg/fatfs:FuzzVolume ./pkg/efivars:FuzzLoadOption ./pkg/layout:FuzzExfat ./pkg/exfat:FuzzWalk ./pkg/kmod:FuzzParseSoftdep ./pkg/store:FuzzParseIndex
FUZZTIME ?= 6s

# The rescue environment's kernel: a Debian signed kernel package, pinned.
KERNEL_PKG ?= linux-image-6.1.0-56-amd64
KERNEL_VERSION ?= 6.1.192-2
BOOT_DIR := out/boot
BOOT := $(BOOT_DIR)/initramfs.cpio.lz4
MEDIA_DIR := out/media
MEDIA := $(MEDIA_DIR)/lifeboat.img
# lifeboat.img must fit this budget, in MiB (checked by make image).
USB_BUDGET := 128

.PHONY: all build test unit fuzz lint deps bench demo screens initramfs image run clean

all: build

build: $(BIN)

$(BIN): $(shell find cmd pkg tui -name '*.go' 2>/dev/null) go.mod go.sum
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/lifeboat

deps:
	@missing=0; for c in $(DEB_CMDS); do case $$c in /*) [ -e $$c ] || missing=1;; *) command -v $$c >/dev/null 2>&1 || missing=1;; esac; done; \
	if [ $$missing = 1 ]; then \
		echo "installing test tools: $(DEB_PKGS)"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps needs root (apt-get install $(DEB_PKGS))"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS) >/dev/null; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The unit, integration and CLI tests. They need root (loop devices) and
# the tools from make deps.
unit: deps $(BOOT) $(MEDIA)
	LIFEBOAT_BOOT_DIR=$(abspath $(BOOT_DIR)) LIFEBOAT_MEDIA_DIR=$(abspath $(MEDIA_DIR)) CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...

# A fuzz run that ends with Go's coordinator timing out on a busy machine
# ("context deadline exceeded", no failing input) is run again once; a
# failing input always fails.
fuzz: deps
	@for t in $(FUZZ); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		for try in 1 2; do \
			echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg 2>&1) && { echo "$$out" | tail -1; break; }; \
			echo "$$out"; \
			if [ $$try = 1 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input'; then \
				echo "fuzz: $$name: the fuzzing coordinator timed out, not a failing input; running it again"; continue; fi; \
			exit 1; \
		done; \
	done

test: lint unit fuzz

bench: deps $(BIN)
	build/bench/run.sh $(abspath $(BIN))

demo: deps $(BIN)
	build/demo.sh $(abspath $(BIN))

# Text captures of the main screens of the text UI, for the README.
screens: deps $(BIN)
	build/screens.sh $(abspath $(BIN)) docs/screens

clean:
	rm -rf bin out

# The rescue environment: Debian's kernel and a u-root initramfs with
# lifeboat, in out/boot.
initramfs: $(BOOT)

$(BOOT): $(shell find cmd pkg tui -name '*.go' 2>/dev/null) go.mod go.sum build/initramfs.sh | deps
	LIFEBOAT_VERSION=$(VERSION) KERNEL_PKG=$(KERNEL_PKG) KERNEL_VERSION=$(KERNEL_VERSION) GO=$(GO) build/initramfs.sh $(BOOT_DIR)

# The boot media: lifeboat.img (USB stick), lifeboat.iso and netboot/, in
# out/media.
image: $(MEDIA)

$(MEDIA): $(BOOT) build/media.sh $(wildcard build/mkmedia/*.go) | deps
	LIFEBOAT_VERSION=$(VERSION) GO=$(GO) build/media.sh $(BOOT_DIR) $(MEDIA_DIR)
	@size=$$(stat -c %s $(MEDIA)); \
	if [ $$size -gt $$(( $(USB_BUDGET) * 1024 * 1024 )) ]; then \
		echo "lifeboat.img is $$size bytes, over the $(USB_BUDGET) MiB budget" >&2; exit 1; fi; \
	echo "lifeboat.img: $$size bytes, budget $(USB_BUDGET) MiB"

# Builds everything and boots lifeboat.img in QEMU as a USB stick, with a
# bootable demo source disk and a blank target, the UI in this terminal.
run: $(MEDIA)
	build/run.sh $(abspath $(BOOT_DIR)) $(abspath $(MEDIA_DIR))
