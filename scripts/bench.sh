#!/usr/bin/env bash
# Run umk's micro-benchmarks natively and under umk, interleaved, and print
# the ratios to native next to the project's goals.
#
#   scripts/bench.sh [--rounds N] [--quick] [--pin CPU] [NAME...]
#
#   --rounds N  rounds per benchmark (default 5); each round runs the
#               benchmark once natively, then once under umk
#   --quick     1 round (unless --rounds) at UMK_BENCH_SCALE=0.1 (unless
#               UMK_BENCH_SCALE is set)
#   --pin CPU   run everything (native, umk and its guests, raw_trap) on
#               that one CPU (taskset): far steadier trap-heavy figures on a
#               busy machine, but not what an unpinned user sees
#   NAME...     a subset: getpid open_fstat_close pread4k seq_read
#               fork_exit_wait fork_exec_wait pipe_pingpong stat_deep
#               cpu_loop futex_pingpong pthread_create_join
#               signal_roundtrip boot_true (default: all)
#
# Figures are medians over the rounds; the ratio is the median of the
# per-round umk/native ratios (>1 = slower; for seq_read, of the time per
# MiB).  getpid rounds also run bench/raw_trap (the bare PTRACE_SYSEMU and
# seccomp RET_TRACE round trips on this machine) and umk's getpid is shown
# as a ratio to them.  boot_true is `umk run --image IMG -- /bin/true`
# against native `/bin/busybox true`, fork to wait (bench/spawn_time).
#
# Setup (any failure here exits 1): builds umk (cargo, release), the guest
# benchmarks (musl-gcc -static), the host helpers (cc), the data files and a
# busybox image with everything under /bench.  A benchmark that fails
# natively or under umk prints FAIL in its row; the script still exits 0.
#
# Env: UMK_BENCH_SCALE (float) scales iteration counts (default 1, --quick
#      0.1); UMK_BENCH_OUT work directory (default target/bench);
#      UMK_BENCH_TIMEOUT seconds per run (default 900); UMK (an umk binary
#      to use instead of building one); CC (default musl-gcc), HOST_CC
#      (default cc).
set -uo pipefail
export LC_ALL=C.UTF-8   # ${#s} counts characters (table padding)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
die() { echo "bench.sh: setup failed: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

# ---- the benchmarks ---------------------------------------------------------

# name | label | kind (ns: ns/op, rate: ns per MiB shown as GB/s, ms: total)
#      | umk goal | best peer (PEERS.md, copied: never read at run time)
SPECS=(
    "getpid|getpid (trapped)|ns|≤ 60×|109× UML"
    "open_fstat_close|open + fstat + close|ns|≤ 8×|21× gVisor"
    "pread4k|pread 4 KiB|ns|≤ 2×|37× gVisor"
    "seq_read|sequential read, 1 MiB reads|rate|≤ 1.1×|1.3× PRoot"
    "fork_exit_wait|fork + exit + wait|ns|≤ 2.5×|3.6× PRoot"
    "fork_exec_wait|fork + exec busybox true + wait|ns|≤ 2.5×|3.9× PRoot"
    "pipe_pingpong|pipe ping-pong|ns|≤ 2×|5.0× PRoot"
    "stat_deep|stat, 5 path components|ns|≤ 8×|16× gVisor"
    "cpu_loop|CPU loop, no syscalls|ms|1.0×|0.94× UML"
    "futex_pingpong|futex ping-pong|ns|-|-"
    "pthread_create_join|pthread create + join|ns|-|-"
    "signal_roundtrip|signal round trip|ns|-|-"
    "boot_true|boot to exit of /bin/true|ms|≤ 2.5×|2× PRoot"
)
GUEST_PROGS=(getpid open_fstat_close pread4k seq_read fork_exit_wait fork_exec_wait
             pipe_pingpong stat_deep cpu_loop futex_pingpong pthread_create_join
             signal_roundtrip)

spec_field() { # NAME FIELD(1-based)
    local s
    for s in "${SPECS[@]}"; do
        [[ ${s%%|*} == "$1" ]] && { cut -d'|' -f"$2" <<<"$s"; return 0; }
    done
    return 1
}

# ---- arguments --------------------------------------------------------------

ROUNDS=
QUICK=0
PIN=()
NAMES=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; ROUNDS=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --pin) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; PIN=(taskset -c "$2"); shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) spec_field "$1" 1 >/dev/null || { echo "bench.sh: unknown benchmark '$1'" >&2; usage; }
           NAMES+=("$1"); shift ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    SCALE=${UMK_BENCH_SCALE:-0.1}
else
    ROUNDS=${ROUNDS:-5}
    SCALE=${UMK_BENCH_SCALE:-1}
fi
[[ ${#NAMES[@]} -gt 0 ]] || for s in "${SPECS[@]}"; do NAMES+=("${s%%|*}"); done
TIMEOUT=${UMK_BENCH_TIMEOUT:-900}
BOOT_RUNS=$([[ $QUICK == 1 ]] && echo 5 || echo 20)

OUT=${UMK_BENCH_OUT:-$ROOT/target/bench}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/bin            # guest programs (copied to /bench in the image)
HOSTBIN=$OUT/host       # raw_trap, spawn_time
DATA=$OUT/data          # copied to /bench/data in the image
TREE=$OUT/rootfs        # busybox tree (scripts/make-rootfs.sh)
IMG=$OUT/bench.img
LOGS=$OUT/logs

# ---- setup ------------------------------------------------------------------

build_umk() {
    if [[ -n ${UMK:-} ]]; then
        [[ -x $UMK ]] || die "UMK=$UMK is not executable"
        ROOTFS_BIN=${UMK_ROOTFS:-$(dirname "$UMK")/umk-rootfs}
    else
        note "building umk (cargo build --release --workspace)"
        (cd "$ROOT" && cargo build -q --release --workspace) || die "cargo build failed"
        UMK=$ROOT/target/release/umk
        ROOTFS_BIN=$ROOT/target/release/umk-rootfs
    fi
    [[ -x $ROOTFS_BIN ]] || die "umk-rootfs not found at $ROOTFS_BIN"
}

build_programs() {
    local cc=${CC:-musl-gcc} hcc=${HOST_CC:-cc} n
    command -v "$cc" >/dev/null || die "$cc not found (scripts/install-deps.sh)"
    mkdir -p "$BIN" "$HOSTBIN" || die "mkdir $BIN"
    for n in "${GUEST_PROGS[@]}"; do
        if [[ ! $BIN/$n -nt $ROOT/bench/$n.c || $ROOT/bench/bench.h -nt $BIN/$n ]]; then
            "$cc" -static -O2 -Wall -Wextra -pthread -o "$BIN/$n" "$ROOT/bench/$n.c" \
                || die "compiling bench/$n.c"
        fi
    done
    # Host programs: raw_trap needs the kernel headers musl-gcc cannot see.
    for n in raw_trap spawn_time; do
        if [[ ! $HOSTBIN/$n -nt $ROOT/bench/$n.c ]]; then
            "$hcc" -O2 -Wall -Wextra -o "$HOSTBIN/$n" "$ROOT/bench/$n.c" || die "compiling bench/$n.c"
        fi
    done
}

make_data() {
    mkdir -p "$DATA/a/b" || die "mkdir $DATA"
    [[ $(stat -c %s "$DATA/file4k" 2>/dev/null) == 4096 ]] \
        || { head -c 4096 /dev/zero | tr '\0' 'f' > "$DATA/file4k"; } || die "writing file4k"
    if [[ $(stat -c %s "$DATA/big" 2>/dev/null) != 67108864 ]]; then
        { yes 'umk benchmark data 0123456789abcdefghijklmnopqrstuvwxyz' || true; } \
            | head -c 67108864 > "$DATA/big" || die "writing big"
    fi
    # stat_deep's target: /bench/data/a/b/c in the guest is 5 components.
    [[ -f $DATA/a/b/c ]] || echo x > "$DATA/a/b/c" || die "writing a/b/c"
    # Natively the same depth: /tmp/umkb.XXXXXX/a/b/c.
    NATIVE_STAT_DIR=$(mktemp -d /tmp/umkb.XXXXXX) || die "mktemp"
    trap 'rm -rf "$NATIVE_STAT_DIR"' EXIT
    mkdir -p "$NATIVE_STAT_DIR/a/b" && echo x > "$NATIVE_STAT_DIR/a/b/c" || die "native stat dir"
}

build_image() {
    if [[ ! -x $TREE/bin/busybox ]]; then
        note "building the busybox tree (scripts/make-rootfs.sh)"
        "$ROOT/scripts/make-rootfs.sh" "$TREE" busybox >/dev/null || die "make-rootfs.sh failed"
    fi
    if [[ -f $IMG && -z $(find "$BIN" "$DATA" "$TREE/bin" -newer "$IMG" 2>/dev/null | head -1) ]]; then
        return
    fi
    note "building $IMG"
    rm -rf "$TREE/bench"
    mkdir -p "$TREE/bench" && cp "$BIN"/* "$TREE/bench/" && cp -r "$DATA" "$TREE/bench/data" \
        || die "copying into $TREE/bench"
    "$ROOTFS_BIN" build -q --from "$TREE" -o "$IMG" --force || die "umk-rootfs build failed"
    # Smoke test: the image boots.
    local got
    got=$(timeout 60 "$UMK" run --image "$IMG" -- /bin/echo ok </dev/null 2>&1) \
        || die "umk run --image $IMG -- /bin/echo ok failed: $got"
}

# ---- running ----------------------------------------------------------------

# cmd_for WHERE NAME: the command line (in CMD) for one run.
cmd_for() {
    local where=$1 name=$2 args=()
    if [[ $where == native ]]; then
        case $name in
            open_fstat_close|pread4k) args=("$DATA/file4k") ;;
            seq_read)       args=("$DATA/big") ;;
            stat_deep)      args=("$NATIVE_STAT_DIR/a/b/c") ;;
            fork_exec_wait) args=(/bin/busybox true) ;;
        esac
        if [[ $name == boot_true ]]; then
            CMD=("$HOSTBIN/spawn_time" boot_true "$BOOT_RUNS" /bin/busybox true)
        else
            CMD=(env UMK_BENCH_SCALE="$SCALE" "$BIN/$name" "${args[@]}")
        fi
    else
        case $name in
            open_fstat_close|pread4k) args=(/bench/data/file4k) ;;
            seq_read)       args=(/bench/data/big) ;;
            stat_deep)      args=(/bench/data/a/b/c) ;;
            fork_exec_wait) args=(/bin/true) ;;
        esac
        if [[ $name == boot_true ]]; then
            CMD=("$HOSTBIN/spawn_time" boot_true "$BOOT_RUNS" "$UMK" run --image "$IMG" -- /bin/true)
        else
            CMD=("$UMK" run --image "$IMG" --env UMK_BENCH_SCALE="$SCALE" -- "/bench/$name" "${args[@]}")
        fi
    fi
}

# run_one WHERE NAME ROUND: prints the NS_PER_OP figure; non-zero on failure
# (stdout and stderr kept in $LOGS).
run_one() {
    local where=$1 name=$2 round=$3 log=$LOGS/$2.$1.r$3 fig rc
    cmd_for "$where" "$name"
    timeout "$TIMEOUT" "${PIN[@]}" "${CMD[@]}" </dev/null >"$log.out" 2>"$log.err"
    rc=$?
    fig=$(awk -v n="$name" '$1 == n && $3 ~ /^[0-9.]+$/ { f = $3 } END { if (f != "") print f }' "$log.out")
    if [[ $rc -ne 0 || -z $fig ]]; then
        echo "exit status $rc$([[ $rc == 124 ]] && echo " (timeout ${TIMEOUT}s)")" >>"$log.err"
        return 1
    fi
    echo "$fig"
}

median() { # numbers on stdin
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

fmt() { # KIND NS
    awk -v k="$1" -v v="$2" 'BEGIN {
        if (k == "rate")   printf "%.2f GB/s", 1048576 / v
        else if (k == "ms") printf "%.2f ms", v / 1e6
        else if (v < 1000) printf "%.0f ns", v
        else if (v < 1e6)  printf "%.2f µs", v / 1e3
        else               printf "%.2f ms", v / 1e6 }'
}

dashes() { local s=""; while [[ ${#s} -lt $1 ]]; do s+=-; done; printf '%s' "$s"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

declare -A RAW=()   # raw_trap mode -> per-round figures (newline separated)
UMK_GETPID=""       # per-round umk getpid figures, for the raw_trap ratios

run_raw_trap() { # ROUND
    local log=$LOGS/raw_trap.r$1 mode fig
    timeout "$TIMEOUT" "${PIN[@]}" env UMK_BENCH_SCALE="$SCALE" "$HOSTBIN/raw_trap" >"$log.out" 2>"$log.err" \
        || { note "raw_trap failed (see $log.err)"; return; }
    while read -r mode _ fig; do
        RAW[${mode#raw_trap_}]+="$fig"$'\n'
    done <"$log.out"
}

# bench NAME: all rounds, then one table row.  A failed umk run costs its
# round; two failures in a row end the benchmark.  Any failure shows as
# FAIL in the umk column (with K/N when some rounds did succeed).
bench() {
    local name=$1 label kind goal peer r nat umk nats=() umks=() ratios=()
    local fails=0 streak=0 first_err="" natfail=0
    label=$(spec_field "$name" 2); kind=$(spec_field "$name" 3)
    goal=$(spec_field "$name" 4); peer=$(spec_field "$name" 5)
    for ((r = 1; r <= ROUNDS; r++)); do
        [[ $name == getpid && -x $HOSTBIN/raw_trap ]] && run_raw_trap "$r"
        if ! nat=$(run_one native "$name" "$r"); then
            natfail=1; first_err="native: $(err_line "$LOGS/$name.native.r$r.err")"; break
        fi
        if ! umk=$(run_one umk "$name" "$r"); then
            fails=$((fails + 1)); streak=$((streak + 1))
            [[ -n $first_err ]] || first_err="round $r: $(err_line "$LOGS/$name.umk.r$r.err")"
            [[ $streak -ge 2 ]] && break
            continue
        fi
        streak=0
        nats+=("$nat"); umks+=("$umk"); ratios+=("$(ratio "$umk" "$nat")")
        [[ $name == getpid ]] && UMK_GETPID+="$umk"$'\n'
    done
    [[ -n $first_err ]] && FAILURES+=("$name: $first_err (logs: $LOGS/$name.*)")
    if [[ $natfail == 1 ]]; then
        row "$label" FAIL - - - "$goal" "$peer"; return
    fi
    if [[ ${#umks[@]} -eq 0 ]]; then
        row "$label" "$(fmt "$kind" "$(printf '%s\n' "$nat" | median)")" FAIL - - "$goal" "$peer"; return
    fi
    local umkcol range
    umkcol=$(fmt "$kind" "$(printf '%s\n' "${umks[@]}" | median)")
    [[ $fails -gt 0 ]] && umkcol="FAIL $fails/$((fails + ${#umks[@]}))"
    range=$(printf '%s\n' "${ratios[@]}" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { printf "%.1f–%.1f", lo, hi }')
    row "$label" \
        "$(fmt "$kind" "$(printf '%s\n' "${nats[@]}" | median)")" \
        "$umkcol" \
        "$(printf '%s\n' "${ratios[@]}" | median | awk '{ printf "%.2f×", $1 }')" \
        "$range" "$goal" "$peer"
}

err_line() { # LOG: the first line saying what went wrong
    grep -v '^exit status' "$1" 2>/dev/null | head -1 | cut -c1-160 | grep . || tail -1 "$1" 2>/dev/null
}

# Column padding by characters, not bytes (µ, ≤ and × are multibyte).
lpad() { local s=$2; while [[ ${#s} -lt $1 ]]; do s+=" "; done; printf '%s' "$s"; }
rpad() { local s=$2; while [[ ${#s} -lt $1 ]]; do s=" $s"; done; printf '%s' "$s"; }
row() {
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(lpad 32 "$1")" "$(rpad 11 "$2")" \
        "$(rpad 11 "$3")" "$(rpad 9 "$4")" "$(rpad 11 "$5")" "$(lpad 8 "$6")" "$(lpad 11 "$7")"
}

raw_trap_section() {
    [[ ${#RAW[@]} -gt 0 ]] || return 0
    local g mode m
    echo
    echo "Raw trap round trips on this machine (bench/raw_trap, a null handler on getpid):"
    g=$(printf '%s' "$UMK_GETPID" | median) || g=""
    printf '| %-44s | %10s | %-26s |\n' "mechanism" "round trip" "umk getpid / it"
    echo "|$(dashes 46)|$(dashes 12)|$(dashes 28)|"
    for mode in native sysemu sysemu_regs seccomp_cont seccomp_regs; do
        [[ -n ${RAW[$mode]:-} ]] || continue
        m=$(printf '%s' "${RAW[$mode]}" | median)
        local what rel="-"
        case $mode in
            native)       what="getpid, untraced" ;;
            sysemu)       what="PTRACE_SYSEMU, resume at once" ;;
            sysemu_regs)  what="PTRACE_SYSEMU + GETREGS/SETREGS" ;;
            seccomp_cont) what="seccomp RET_TRACE + PTRACE_CONT" ;;
            seccomp_regs) what="RET_TRACE + GETREGS, skip, SETREGS, CONT" ;;
        esac
        [[ -n $g ]] && rel=$(awk -v a="$g" -v b="$m" 'BEGIN { printf "%.2f×", a / b }')
        [[ $mode == sysemu ]] && rel+=" (target ≤ 1.3×)"
        printf '| %s | %s | %s |\n' "$(lpad 44 "$what")" "$(rpad 10 "$(fmt ns "$m")")" "$(lpad 26 "$rel")"
    done
}

# ---- main -------------------------------------------------------------------

build_umk
build_programs
make_data
build_image
rm -rf "$LOGS"; mkdir -p "$LOGS" || die "mkdir $LOGS"

echo "umk benchmarks: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds: $ROUNDS, UMK_BENCH_SCALE=$SCALE, $([[ ${#PIN[@]} -gt 0 ]] && echo "pinned: ${PIN[*]}" || echo unpinned), image: $IMG"
echo
row "benchmark" "native" "umk" "ratio" "ratio range" "goal" "best peer"
echo "|$(dashes 34)|$(dashes 13)|$(dashes 13)|$(dashes 11)|$(dashes 13)|$(dashes 10)|$(dashes 13)|"
FAILURES=()
for n in "${NAMES[@]}"; do bench "$n"; done
raw_trap_section
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs: $LOGS"
if [[ ${#FAILURES[@]} -gt 0 ]]; then
    echo "failures (FAIL: a run exited non-zero or printed no figure):"
    printf '  %s\n' "${FAILURES[@]}"
fi
exit 0
