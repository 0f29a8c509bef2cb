#!/usr/bin/env bash
# Builds what the integration tests boot, into OUT (default target/umk-test):
#   OUT/guest/           guest test programs, their fixture and native outputs
#   OUT/busybox.img      busybox-static root + test programs in /opt/tests
#                        + the fixture tree in /fixture
#   OUT/debian.img       (with --debian) busybox + Debian's bash, coreutils, less
#                        and their libraries, dynamically linked
#   OUT/python.img       (with --python) the same plus Debian's python3
# Everything comes from Debian packages and the repo; nothing is downloaded
# from anywhere else. Reruns reuse what is already built.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${1:-$ROOT/target/umk-test}
WANT_DEBIAN=0
WANT_PYTHON=0
for a in "${@:2}"; do
    case $a in
        --debian) WANT_DEBIAN=1 ;;
        --python) WANT_PYTHON=1 ;;
        *) echo "setup-images.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

ROOTFS_BIN=${UMK_ROOTFS:-}
if [[ -z $ROOTFS_BIN ]]; then
    for p in "$ROOT/target/release/umk-rootfs" "$ROOT/target/debug/umk-rootfs"; do
        [[ -x $p ]] && { ROOTFS_BIN=$p; break; }
    done
fi
if [[ -z $ROOTFS_BIN ]]; then
    (cd "$ROOT" && cargo build -q --release -p umk-rootfs)
    ROOTFS_BIN=$ROOT/target/release/umk-rootfs
fi

# Programs also built with glibc (tests/differential.rs runs them as glibc_NAME).
GLIBC_CASES="threads signals fork_wait futex_pi timers sched coredump pipes events reaper pidfd"

stamp() { find "$ROOT/tests/guest" "$ROOT/scripts" -type f -newer "$1" 2>/dev/null | head -1; }

# Guest programs, compiled and run natively once (the expected outputs).
if [[ ! -f $OUT/guest/.done || -n $(stamp "$OUT/guest/.done") ]]; then
    rm -rf "$OUT/guest"
    "$ROOT/tests/guest/run-native.sh" "$OUT/guest" >"$OUT/guest-native.log" 2>&1 || { cat "$OUT/guest-native.log"; exit 1; }
    # The process, thread and signal programs again, linked statically
    # against Debian's glibc: its pthreads, clone3 and signal code differ
    # from musl's.
    CC=gcc "$ROOT/tests/guest/run-native.sh" "$OUT/guest/glibc" $GLIBC_CASES \
        >>"$OUT/guest-native.log" 2>&1 || { cat "$OUT/guest-native.log"; exit 1; }
    # Programs that only make sense inside umk (escape attempts, --stats)...
    musl-gcc -static -O1 -o "$OUT/guest/bin/escape" "$ROOT/tests/guest/escape.c"
    musl-gcc -static -O1 -o "$OUT/guest/bin/calls" "$ROOT/tests/guest/calls.c"
    # ... and what natively needs privileges the host may not give (clone3 set_tid).
    musl-gcc -static -O1 -o "$OUT/guest/bin/set_tid" "$ROOT/tests/guest/set_tid.c"
    touch "$OUT/guest/.done"
fi

build_image() { # FLAVOR IMAGE
    local flavor=$1 img=$2 tree=$OUT/rootfs-$1
    if [[ -f $img && -z $(stamp "$img") && $img -nt $OUT/guest/.done ]]; then return; fi
    rm -rf "$tree"
    "$ROOT/scripts/make-rootfs.sh" "$tree" "$flavor" >/dev/null
    mkdir -p "$tree/opt/tests"
    cp "$OUT"/guest/bin/* "$tree/opt/tests/"
    mkdir -p "$tree/opt/tests/glibc"
    cp "$OUT"/guest/glibc/bin/* "$tree/opt/tests/glibc/"
    "$ROOT/tests/guest/make-fixture.sh" "$tree/fixture" /fixture
    "$ROOTFS_BIN" build -q --from "$tree" -o "$img" --force
}

build_image busybox "$OUT/busybox.img"
if [[ $WANT_DEBIAN == 1 ]]; then
    build_image debian "$OUT/debian.img"
fi
if [[ $WANT_PYTHON == 1 ]]; then
    build_image python "$OUT/python.img"
fi
