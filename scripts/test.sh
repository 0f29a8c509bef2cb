#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages),
# builds everything and runs every test. CI runs exactly this.
#
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cargo build --release --workspace --all-targets
# Test images (busybox, and Debian's bash/coreutils) are built once here so
# the test binaries, which run in parallel, find them ready.
bash tests/setup-images.sh target/umk-test --debian --python
cargo test --release --workspace "$@"
