#!/bin/sh
# PID 1 of the VM test/vm/agent-cgroup-v2.test.ts boots, on the host's / (read-only 9p). Mounts a
# pure cgroup v2 hierarchy (the kernel runs with cgroup_no_v1=all), runs processes with known use
# in cgroups of its own and `faasmeter agent --once` over them, and writes everything to the 9p
# share "results". The test on the host judges; this script only records, then powers off.
# fm_node= on the kernel command line is the host's Node 24 binary.
set -u
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out=/tmp/results
cg=/sys/fs/cgroup

poweroff() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 10
}
fail() {
  echo "[vm guest] $*"
  echo "$*" >"$out/failed"
  poweroff
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir "$out"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "$out" || fail "cannot mount the results share"
# Seconds since the kernel started: the boot time, up to here.
cut -d' ' -f1 /proc/uptime >"$out/boot-seconds"
# shellcheck disable=SC2154 # the kernel passes fm_node= from its command line as a variable
node="${fm_node:-}"
[ -x "$node" ] || fail "fm_node=$node is not an executable file on the host root"

mount -t cgroup2 cgroup2 "$cg" || fail "cannot mount cgroup2"
echo '+cpu +memory' >"$cg/cgroup.subtree_control" || fail "cannot enable cpu and memory at the root"
mkdir "$cg/fm-vm"
echo '+cpu +memory' >"$cg/fm-vm/cgroup.subtree_control" || fail "cannot enable cpu and memory in fm-vm"
mkdir "$cg/fm-vm/work" "$cg/fm-vm/oom"
cat >/tmp/map.json <<'EOF'
[
  { "path": "fm-vm/work", "tenant": "vm", "function": "v2-work", "revision": "r1", "instance": "work" },
  { "path": "fm-vm/oom", "tenant": "vm", "function": "v2-oom", "revision": "r1", "instance": "oom" }
]
EOF

agent() { # name: one `agent --once` into name.jsonl, name.err, name.rc
  FAASMETER_CGROUP_ROOT="$cg" FAASMETER_CGROUP_MAP_FILE=/tmp/map.json FAASMETER_NODE_NAME=vm \
    "$node" "$repo/cli/faasmeter.ts" agent --once >"$out/$1.jsonl" 2>"$out/$1.err"
  echo "$?" >"$out/$1.rc"
}

# The work process joins its cgroup before exec, so all it ever uses is charged there. It holds
# 64 MiB it touched, burns 500 ms of CPU, reports both, and waits to be killed.
work_js='
const held = [];
for (let i = 0; i < 8; i++) held.push(Buffer.allocUnsafeSlow(8 << 20).fill(1));
const used = () => { const u = process.cpuUsage(); return u.user + u.system; };
const until = used() + 500000;
let x = 0;
while (used() < until) for (let i = 0; i < 100000; i++) x = (x * 31 + 7) % 1000003;
const fs = require("node:fs");
const file = process.argv[1];
fs.writeFileSync(file + ".tmp", JSON.stringify({ heldBytes: held.reduce((n, b) => n + b.length, 0), cpuUs: used(), x }));
fs.renameSync(file + ".tmp", file);
setInterval(() => {}, 1 << 30);
'
# shellcheck disable=SC2016 # $0..$3 expand in the inner shell
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$1" -e "$2" "$3"' "$cg/fm-vm/work" "$node" "$work_js" "$out/work-child.json" &
work_pid=$!
waited=0
until [ -s "$out/work-child.json" ]; do
  kill -0 "$work_pid" 2>/dev/null || fail "the work process exited early"
  waited=$((waited + 1))
  [ "$waited" -lt 600 ] || fail "the work process did not report within 60 s"
  sleep 0.1
done
# Sampled with the work process alive and the OOM cgroup limited but still empty, then again
# after the kernel OOM-killed a process there.
echo 32M >"$cg/fm-vm/oom/memory.max"
agent before
for f in memory.current memory.peak memory.events cpu.stat; do
  printf '== %s\n' "$f"
  cat "$cg/fm-vm/work/$f"
done >"$out/work-cgroup.txt"
kill "$work_pid"
wait "$work_pid"

# dd's 256 MiB buffer, which reading /dev/zero touches page by page, in 32 MiB.
# shellcheck disable=SC2016
sh -c 'echo $$ >"$0/cgroup.procs" && exec dd if=/dev/zero of=/dev/null bs=256M count=1' "$cg/fm-vm/oom" 2>"$out/oom-child.err"
echo "$?" >"$out/oom-child.rc"
agent after
cat "$cg/fm-vm/oom/memory.events" >"$out/oom-memory.events"

cut -d' ' -f1 /proc/uptime >"$out/done"
poweroff
