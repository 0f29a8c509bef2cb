#!/usr/bin/env bash
# The long crash test of the overlay: a guest appends and fsyncs numbered
# lines; umk is killed with SIGKILL at random moments and rebooted on the
# same overlay, which must open and hold every line reported as synced.
# CI runs 5 rounds (tests/overlay.rs, fsynced_data_survives_kill_9); this
# runs as many as asked.
#
#   scripts/crash-test.sh [ROUNDS]     (default 200)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-200}
[[ $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] || { echo "usage: scripts/crash-test.sh [ROUNDS]" >&2; exit 2; }
cargo build --release --workspace --all-targets
bash tests/setup-images.sh target/umk-test --debian
UMK_CRASH_ROUNDS=$rounds cargo test --release --test overlay fsynced_data_survives_kill_9 -- --nocapture
