#!/usr/bin/env bash
# Builds what test/vm/agent-cgroup-v2.test.ts boots: Debian's current generic kernel and an
# initramfs that mounts this machine's / (virtio-9p, read-only) as the guest's root. Installs
# qemu when missing. The kernel and busybox packages are downloaded and unpacked into
# $STACK_DIR/vm, never installed, so this host's /boot and modules stay as they are.
#
# Debian's generic kernel, not the smaller cloud one: the cloud kernel has no 9p.
set -euo pipefail

VM_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
LOG_TAG=vm
# shellcheck source-path=SCRIPTDIR source=../../deploy/local-stack/lib.sh
source "$VM_SRC/../../deploy/local-stack/lib.sh"

command -v apt-get >/dev/null 2>&1 || die "needs a Debian-like host with apt-get (for qemu, the kernel and busybox)"
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd cpio cpio

init_stack_dir
VM_DIR="$STACK_DIR/vm"
mkdir -p "$VM_DIR"

kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
kpkg="$(kernel_package)"
if [[ -z "$kpkg" ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
  kpkg="$(kernel_package)"
fi
if [[ -z "$kpkg" ]]; then
  [[ -s "$VM_DIR/vmlinuz" && -s "$VM_DIR/initrd.img" ]] || die "apt knows no linux-image-amd64 and there is no kernel in $VM_DIR yet"
  log "apt knows no linux-image-amd64; keeping $(cat "$VM_DIR/kernel-package" 2>/dev/null) in $VM_DIR"
  exit 0
fi

# Rebuilt when Debian moves to a new kernel ABI or how the initramfs is made changed.
if [[ "$(cat "$VM_DIR/kernel-package" 2>/dev/null)" == "$kpkg" && -s "$VM_DIR/vmlinuz" &&
  "$VM_DIR/initrd.img" -nt "$VM_SRC/initramfs-init.sh" && "$VM_DIR/initrd.img" -nt "$VM_SRC/prepare.sh" ]]; then
  log "$kpkg and its initramfs are ready in $VM_DIR"
  exit 0
fi

started="$(now)"
work="$(mktemp -d "$VM_DIR/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "downloading $kpkg and busybox-static"
(cd "$work" && apt-get download -q "$kpkg" busybox-static 2>&1 | grep -v 'unsandboxed as root' >&2) ||
  die "apt-get download $kpkg busybox-static failed"
dpkg-deb -x "$work/${kpkg}"_*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
busybox="$work/busybox/bin/busybox"
version="${kpkg#linux-image-}"
"$busybox" depmod -b "$work/kernel" "$version"

# The modules that mount a 9p root, with everything they depend on, and their lines of
# modules.dep, so that busybox modprobe loads them in order.
modules="$work/kernel/lib/modules/$version"
rd="$work/initramfs"
mkdir -p "$rd/bin" "$rd/proc" "$rd/sys" "$rd/dev" "$rd/root" "$rd/lib/modules/$version"
awk -F': ?' '
  { deps[$1] = $2 }
  /(^|\/)(virtio_pci|9pnet_virtio|9p)\.ko:/ { wanted[$1] = 1 }
  END {
    for (m in wanted) { print m; n = split(deps[m], d, " "); for (i = 1; i <= n; i++) print d[i] }
  }' "$modules/modules.dep" | sort -u >"$work/closure"
while read -r m; do
  mkdir -p "$rd/lib/modules/$version/$(dirname "$m")"
  cp "$modules/$m" "$rd/lib/modules/$version/$m"
  grep "^$m:" "$modules/modules.dep" >>"$rd/lib/modules/$version/modules.dep"
done <"$work/closure"
cp "$busybox" "$rd/bin/busybox"
ln -s busybox "$rd/bin/sh" # for /init's #!/bin/sh, before it installs the other applets
install -m 755 "$VM_SRC/initramfs-init.sh" "$rd/init"
(cd "$rd" && find . | cpio -o -H newc --quiet | gzip -1) >"$VM_DIR/initrd.img.tmp"
cp "$work/kernel/boot/vmlinuz-$version" "$VM_DIR/vmlinuz.tmp"
mv "$VM_DIR/vmlinuz.tmp" "$VM_DIR/vmlinuz"
mv "$VM_DIR/initrd.img.tmp" "$VM_DIR/initrd.img"
echo "$kpkg" >"$VM_DIR/kernel-package"
log "built $VM_DIR/vmlinuz and initrd.img ($kpkg, modules: $(xargs -n1 basename <"$work/closure" | tr '\n' ' ')) in $(elapsed "$started")"
