#!/usr/bin/env bash
# Writable-root benchmarks: the same busybox commands natively (in a host
# scratch directory) and inside umk (on the VM's overlay), in one run,
# with ratios to native.
#
#   scripts/bench-overlay.sh
#
# Needs target/umk-test/busybox.img (tests/setup-images.sh) and a release
# umk. Each figure is one run; the host's busybox does the native side.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UMK=${UMK:-$ROOT/target/release/umk}
IMG=$ROOT/target/umk-test/busybox.img
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OVL=$WORK/bench.overlay
BB=/bin/busybox

# A 50 MB tarball of a few thousand small files, made natively and put in
# the guest's /tmp through stdin.
mkdir -p "$WORK/src"
for d in $(seq 1 40); do
    mkdir -p "$WORK/src/d$d"
    for f in $(seq 1 100); do head -c $((8000 + (d * f) % 9000)) /dev/urandom > "$WORK/src/d$d/f$f"; done
done
tar -C "$WORK" -cf "$WORK/tree.tar" src
size=$(du -m "$WORK/tree.tar" | cut -f1)

now() { date +%s.%N; }
native() { local t0; t0=$(now); (cd "$WORK/n" && $BB sh -c "$1") >/dev/null 2>&1; echo "$(now) - $t0" | bc; }
guest() { local t0; t0=$(now); "$UMK" run --image "$IMG" --overlay "$OVL" -- /bin/sh -c "cd /root && $1" < "${2:-/dev/null}" >/dev/null 2>&1; echo "$(now) - $t0" | bc; }

mkdir -p "$WORK/n"
printf '%-44s %10s %10s %8s\n' benchmark native umk ratio
row() { printf '%-44s %9.3fs %9.3fs %7.2fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

n=$(native "$BB tar -xf $WORK/tree.tar && rm -rf src")
g=$(guest "tar -xf - && rm -rf src" "$WORK/tree.tar")
row "untar ${size} MB (4000 files) + rm -rf" "$n" "$g"

n=$(native "$BB dd if=/dev/zero of=big bs=1M count=64 conv=fsync && rm big")
g=$(guest "dd if=/dev/zero of=big bs=1M count=64 conv=fsync && rm big && sync")
row "write 64 MiB + fsync" "$n" "$g"

# Upper data written by an earlier boot, read back (page cache warm on
# both sides: what differs is how the data gets to the reader).
$BB sh -c "cd $WORK/n && $BB dd if=/dev/urandom of=big bs=1M count=64" >/dev/null 2>&1
"$UMK" run --image "$IMG" --overlay "$OVL" -- /bin/sh -c "cd /root && dd if=/dev/urandom of=big bs=1M count=64" >/dev/null 2>&1
n=$(native "cat big > /dev/null; cat big > /dev/null")
g=$(guest "cat big > /dev/null; cat big > /dev/null && rm big")
rm -f "$WORK/n/big"
row "read 64 MiB written by an earlier boot, x2" "$n" "$g"

script='i=0; while [ $i -lt 10000 ]; do echo x > f$i; i=$((i+1)); done'
n=$(native "mkdir s && cd s && $script")
rm -rf "$WORK/n/s"
g=$(guest "mkdir s && cd s && $script && sync")
row "create+write+close 10000 small files" "$n" "$g"

# Boot with an overlay now holding those 10000 changes, against a fresh one.
t0=$(now); "$UMK" run --image "$IMG" --overlay "$OVL" -- /bin/true; t1=$(now)
t2=$(now); "$UMK" run --image "$IMG" --ephemeral -- /bin/true; t3=$(now)
row "boot with 10000 changes (vs empty overlay)" "$(echo "$t3 - $t2" | bc)" "$(echo "$t1 - $t0" | bc)"
echo "overlay file: $(du -h "$OVL" | cut -f1)"

# umk's own memory while the guest writes much more than that to its root.
MEM=$WORK/mem.overlay
/usr/bin/time -f %M -o "$WORK/rss" "$UMK" run --image "$IMG" --overlay "$MEM" -- \
    /bin/sh -c "dd if=/dev/zero of=/root/big bs=1M count=256 && sync" >/dev/null 2>&1
echo "umk peak RSS writing 256 MiB: $(( $(cat "$WORK/rss") / 1024 )) MiB"
