#!/usr/bin/env bash
# Build the benchmarks (musl-gcc -static -O2) and, unless --build-only,
# run each natively once, printing one "NAME ITERATIONS NS_PER_OP" line each.
#
#   bench/run-native.sh OUTDIR [--build-only] [NAME...]
#
# OUTDIR gets bin/NAME (copy into an image, e.g. /bench/) and data/ with the
# benchmark inputs:
#   data/file4k      4 KiB file          (open_fstat_close)
#   data/big         16 MiB file         (pread4k, seq_read)
#   data/a/b/c/file  for stat_deep (inside a guest: /bench/data/a/b/c/file
#                    is 5 components)
# fork_exec_wait runs busybox (static) as "true".
# Env: UMK_BENCH_SCALE (float, default 1) scales the iteration counts;
#      CC (default musl-gcc).
# The same invocations inside umk:  see bench/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# -ge 1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
OUT=$1; shift
build_only=0
if [[ ${1:-} == --build-only ]]; then build_only=1; shift; fi
CC=${CC:-musl-gcc}
mkdir -p "$OUT/bin" "$OUT/data/a/b/c"
OUT=$(cd "$OUT" && pwd)

ALL=(getpid open_fstat_close pread4k fork_exit_wait fork_exec_wait pipe_pingpong
     cpu_loop stat_deep seq_read futex_pingpong pthread_create_join signal_roundtrip)
NAMES=("$@")
[[ ${#NAMES[@]} -gt 0 ]] || NAMES=("${ALL[@]}")

for n in "${NAMES[@]}"; do
    "$CC" -static -O2 -Wall -Wextra -pthread -o "$OUT/bin/$n" "$HERE/$n.c"
done

# Deterministic inputs.
[[ -s $OUT/data/file4k ]] || head -c 4096 /dev/zero | tr '\0' 'f' > "$OUT/data/file4k"
if [[ $(stat -c %s "$OUT/data/big" 2>/dev/null || echo 0) != 16777216 ]]; then
    { yes 'umk benchmark data 0123456789abcdefghijklmnopqrstuvwxyz' || true; } \
        | head -c 16777216 > "$OUT/data/big"
fi
echo x > "$OUT/data/a/b/c/file"

[[ $build_only == 1 ]] && exit 0

BUSYBOX=$(command -v busybox || true)
for n in "${NAMES[@]}"; do
    case $n in
        open_fstat_close) args=("$OUT/data/file4k") ;;
        pread4k|seq_read) args=("$OUT/data/big") ;;
        stat_deep)        args=("$OUT/data/a/b/c/file") ;;
        fork_exec_wait)
            [[ -n $BUSYBOX ]] || { echo "bench: busybox not found (scripts/install-deps.sh)" >&2; exit 1; }
            args=("$BUSYBOX" true) ;;
        *)                args=() ;;
    esac
    "$OUT/bin/$n" "${args[@]}"
done
