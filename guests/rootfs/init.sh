#!/bin/busybox sh
# vfio-conform guest init (PID 1 of the initramfs). Brings up what the harness needs
# (modules, the SSH NIC, dropbear) and then stays out of the way: everything a suite
# does happens over SSH through the guest agent. Messages go to /dev/kmsg so that they
# land in the console log in order with the kernel's own lines.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

mkdir -p /proc /sys /dev /run /tmp /var/log
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

say() { echo "<5>vfio-conform: $*" > /dev/kmsg; }
say "init started, kernel $(uname -r)"

arg() { # value of name=value on the kernel command line
  for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}"; return;; esac; done
}

# A device probed before its IOMMU driver registered is put on the deferred-probe list
# (ACPI VIOT says it sits behind an IOMMU that is not there yet). When the IOMMU module
# then registers, the kernel retries those probes from a workqueue, racing with the next
# insmod: an e1000e loaded right after virtio_iommu could probe its NIC before the NIC's
# non-ACS root port was re-probed, and under virtio-iommu (groups form at probe) the NIC
# would get a group of its own on some boots and share the port's group on others. So once
# a module has registered an IOMMU, every PCI device without a driver is re-probed here,
# synchronously and in bus order (upstream bridges first), before the next module loads:
# the same order a kernel with the IOMMU driver built in probes them in.
iommus() { ls /sys/class/iommu 2>/dev/null | wc -l; }
reprobe_pci() {
  for d in /sys/bus/pci/devices/*; do
    [ -e "$d/driver" ] || echo "${d##*/}" > /sys/bus/pci/drivers_probe 2>/dev/null
  done
}

# Modules in dependency order, as the harness resolved them from modules.dep.
if [ -f /etc/vfio-conform/modules.load ]; then
  while read -r m params; do
    [ -n "$m" ] || continue
    before=$(iommus)
    insmod "$m" $params 2>/tmp/insmod.err || say "insmod $m failed: $(cat /tmp/insmod.err)"
    if [ "$(iommus)" -gt "$before" ]; then
      say "IOMMU registered by ${m##*/}: re-probing PCI devices without a driver"
      reprobe_pci
    fi
  done < /etc/vfio-conform/modules.load
fi

# module.param=value arguments on the command line, as modprobe would apply them (busybox
# insmod does not read /proc/cmdline): written to sysfs for modules that are loaded or built in.
for w in $(cat /proc/cmdline); do
  case "$w" in *.*=*) ;; *) continue;; esac
  mp=${w%%=*}; p=/sys/module/${mp%%.*}/parameters/${mp#*.}
  [ -w "$p" ] && { echo "${w#*=}" > "$p" || say "cannot set $mp"; }
done

# The harness NIC is found by its MAC (other NICs of the topology, e.g. an e1000e left on
# its host driver, get interfaces too).
mac=$(arg vfioconform.mac)
ifc=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for d in /sys/class/net/*; do
    [ "$(cat $d/address 2>/dev/null)" = "$mac" ] && ifc=${d##*/}
  done
  [ -n "$ifc" ] && break
  sleep 0.5
done
if [ -z "$ifc" ]; then
  say "FATAL: no network interface with MAC $mac"
else
  ip link set lo up
  ip link set "$ifc" up
  ip addr add 10.0.2.15/24 dev "$ifc"
  ip route add default via 10.0.2.2
fi

export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
# dropbear's log goes to the kernel log, hence the serial console: when the harness loses a
# guest's SSH, why dropbear ended the connection ("Exit (root) from ...: <reason>") is in the
# console the harness keeps, which outlives the guest (one connection per test file: few lines).
dropbear -F -E -s -j -k -p 22 -r /etc/dropbear/host_key -P /run/dropbear.pid 2>/dev/kmsg &
say "ready release=$(uname -r) iface=$ifc"

# PID 1 must never exit; reap orphans (agents killed with SIGKILL) as we wait.
while :; do wait; sleep 3600; done
