#!/usr/bin/env bash
# Build the guest test programs with musl-gcc -static and run each natively,
# twice, each time in a fresh scratch directory, checking that the two
# outputs are byte-identical (the programs must be deterministic to serve as
# umk's differential oracle) and that the exit status is the expected one.
#
#   tests/guest/run-native.sh OUTDIR [NAME...]
#
# OUTDIR gets:
#   bin/NAME              the static binaries (copy them into an image)
#   fixture/              the fixture tree (make-fixture.sh OUTDIR/fixture)
#   expected/NAME.out     stdout of the native run
#   expected/NAME.exit    its exit status
# Without NAMEs, every program listed in tests/guest/cases is built and run.
# Env: CC (default musl-gcc), CFLAGS_EXTRA, UMK_TEST_TIMEOUT (seconds, 60).
# Ends with the line "N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# -ge 1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
OUT=$1; shift
CC=${CC:-musl-gcc}
TIMEOUT=${UMK_TEST_TIMEOUT:-60}
command -v "$CC" >/dev/null || { echo "run-native.sh: $CC not found (scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$OUT/bin" "$OUT/expected"
OUT=$(cd "$OUT" && pwd)

# Parse the cases table.
declare -A EXIT ARGS
ORDER=()
while read -r name code rest; do
    [[ -z $name || $name == \#* ]] && continue
    EXIT[$name]=$code
    ARGS[$name]=$rest
    ORDER+=("$name")
done < "$HERE/cases"
if [[ $# -gt 0 ]]; then ORDER=("$@"); fi

"$CC" -static -O1 -o "$OUT/bin/.fresh-signals" "$HERE/fresh-signals.c"

rm -rf "$OUT/fixture"
"$HERE/make-fixture.sh" "$OUT/fixture"

close_extra_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

pass=0 fail=0
failed=()
for name in "${ORDER[@]}"; do
    [[ -n ${EXIT[$name]:-} ]] || { echo "FAIL $name: not in tests/guest/cases"; fail=$((fail+1)); continue; }
    src=$HERE/$name.c
    if ! "$CC" -static -O1 -Wall -Wextra -Wno-format-truncation -Wno-unused-result \
            -pthread ${CFLAGS_EXTRA:-} -o "$OUT/bin/$name" "$src" 2>"$OUT/bin/$name.cc.log"; then
        echo "FAIL $name: compile error"; cat "$OUT/bin/$name.cc.log"
        fail=$((fail+1)); failed+=("$name"); continue
    fi
    [[ -s $OUT/bin/$name.cc.log ]] && cat "$OUT/bin/$name.cc.log" >&2
    rm -f "$OUT/bin/$name.cc.log"
    args=${ARGS[$name]//@FIXTURE@/$OUT/fixture}
    ok=1
    for run in 1 2; do
        scratch=$(mktemp -d)
        set +e
        # shellcheck disable=SC2086
        # Run as umk runs a guest: in a session of its own, with only fds
        # 0-2 open and every signal at its default action. A CI runner may hand us extra descriptors and a session
        # whose leader is outside our pid namespace (getsid gives 0).
        (cd / && close_extra_fds && exec env -i PATH=/usr/bin:/bin HOME=/ UMK_TEST_GREETING=hi UMK_TEST_EMPTY= \
            setsid -w timeout "$TIMEOUT" "$OUT/bin/.fresh-signals" "$OUT/bin/$name" "$scratch" $args) \
            > "$OUT/expected/$name.run$run" 2> "$OUT/expected/$name.err$run" </dev/null
        code=$?
        set -e
        left=$(ls -A "$scratch")
        rm -rf "$scratch"
        echo "$code" > "$OUT/expected/$name.exit$run"
        if [[ $code != "${EXIT[$name]}" ]]; then
            echo "FAIL $name (run $run): exit status $code, expected ${EXIT[$name]}"
            tail -5 "$OUT/expected/$name.run$run" "$OUT/expected/$name.err$run"
            ok=0
        fi
        if [[ -s $OUT/expected/$name.err$run ]]; then
            echo "FAIL $name (run $run): wrote to stderr:"; head -5 "$OUT/expected/$name.err$run"; ok=0
        fi
        [[ -z $left ]] || { echo "FAIL $name (run $run): left files in scratch: $left"; ok=0; }
    done
    if ! cmp -s "$OUT/expected/$name.run1" "$OUT/expected/$name.run2"; then
        echo "FAIL $name: output differs between two native runs:"
        diff "$OUT/expected/$name.run1" "$OUT/expected/$name.run2" | head -20 || true
        ok=0
    fi
    mv "$OUT/expected/$name.run1" "$OUT/expected/$name.out"
    mv "$OUT/expected/$name.exit1" "$OUT/expected/$name.exit"
    rm -f "$OUT/expected/$name".{run2,exit2,err1,err2}
    if [[ $ok == 1 ]]; then
        echo "ok   $name ($(wc -l < "$OUT/expected/$name.out") lines)"
        pass=$((pass+1))
    else
        fail=$((fail+1)); failed+=("$name")
    fi
done
[[ ${#failed[@]} -eq 0 ]] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
