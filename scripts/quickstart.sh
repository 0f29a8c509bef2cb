#!/usr/bin/env bash
# From a fresh clone on Debian with Rust: install what umk needs, build it,
# build a busybox root filesystem image, and boot it into a shell.
#
#   scripts/quickstart.sh            # busybox image
#   scripts/quickstart.sh debian     # busybox + Debian's bash and coreutils
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flavor=${1:-busybox}
if [[ $(id -u) -eq 0 ]]; then
    bash scripts/install-deps.sh
else
    sudo bash scripts/install-deps.sh
fi
cargo build --release --workspace
mkdir -p images
if [[ ! -f images/$flavor.img ]]; then
    rm -rf "images/rootfs-$flavor"
    bash scripts/make-rootfs.sh "images/rootfs-$flavor" "$flavor"
    ./target/release/umk-rootfs build --from "images/rootfs-$flavor" -o "images/$flavor.img"
fi
shell=/bin/sh
[[ $flavor != busybox ]] && shell=/bin/bash
exec ./target/release/umk run --image "images/$flavor.img" -- "$shell"
