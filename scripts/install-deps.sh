#!/usr/bin/env bash
# Install the host packages that umk's test and benchmark scripts need.
#
#   scripts/install-deps.sh
#
# Idempotent; meant to run as root on Debian 12 (CI runs it with CI=true and no
# stdin).  Quiet when everything is already installed or installs cleanly; on
# failure it prints apt's output and exits non-zero.
#
# What needs what:
#   e2fsprogs       mkfs.ext4/debugfs (umk-rootfs, image inspection)
#   musl-tools      musl-gcc: guest test programs and benchmarks (static)
#   gcc, libc6-dev  musl-gcc drives gcc; native helpers
#   busybox-static  host-side busybox --list-full for scripts/make-rootfs.sh
#   python3         scripts/gen-guest-abi.py and test harness helpers
#   binutils        readelf in scripts/make-rootfs.sh
#   dpkg, apt       apt-get download + dpkg-deb -x in scripts/make-rootfs.sh
#   coreutils, findutils, diffutils  mkfifo/sort/find/cmp/diff in the scripts
#   gdb             reads the core files guests leave (tests/coredump.rs)
set -euo pipefail

PKGS=(e2fsprogs musl-tools busybox-static python3 gcc libc6-dev binutils
      dpkg apt coreutils findutils diffutils gdb)

export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PKGS[@]}"; do
    # dpkg-query prints "install ok installed" for a properly installed package.
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || missing+=("$p")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: missing packages: ${missing[*]}; re-run as root" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
    if ! "$@" >>"$log" 2>&1 </dev/null; then
        echo "install-deps.sh: FAILED: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# apt-get update once: only when the package lists are absent or a first
# install attempt fails because they are stale.
lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
updated=0
if ! lists_present; then
    run apt-get update -q
    updated=1
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 </dev/null; then
    if [[ $updated -eq 1 ]]; then
        echo "install-deps.sh: FAILED: apt-get install ${missing[*]}" >&2
        cat "$log" >&2
        exit 1
    fi
    run apt-get update -q
    run apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
