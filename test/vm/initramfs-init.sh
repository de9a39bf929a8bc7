#!/bin/sh
# /init of the initramfs test/vm/prepare.sh builds (busybox): loads the 9p modules, mounts the
# host's / (9p tag "hostroot", read-only) and hands over to the script named by fm_init= on the
# kernel command line. Debian's kernel has virtio and 9p only as modules, hence this step.
/bin/busybox --install -s /bin
export PATH=/bin

halt() {
  echo "[vm initramfs] $*"
  echo o >/proc/sysrq-trigger
  sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci 9pnet_virtio 9p; do
  modprobe "$m" || halt "modprobe $m failed"
done
# The virtio device may still be probing when modprobe returns. Caching is safe on a root that
# is read-only for the guest's few minutes, and it spares re-reading Node's 120 MB binary.
tries=0
until mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /root 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -lt 50 ] || halt "cannot mount the 9p share hostroot"
  sleep 0.1
done
if [ -z "${fm_init:-}" ] || [ ! -x "/root$fm_init" ]; then
  halt "fm_init=${fm_init:-} is not an executable file on the host root"
fi
umount /proc /sys /dev
exec switch_root /root "$fm_init"
