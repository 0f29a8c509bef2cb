#!/usr/bin/env bash
# Build a root-filesystem DIRECTORY tree for umk test images from Debian
# packages, without debootstrap or chroot.
#
#   scripts/make-rootfs.sh OUTDIR FLAVOR
#
# FLAVOR:
#   busybox  /bin/busybox (busybox-static) + a symlink per applet, /bin/sh ->
#            busybox, a minimal /etc, empty /tmp /proc /dev /sys /run /root
#            /home /var/tmp.  No /sbin/init, so `umk run` defaults to /bin/sh.
#            Plain (non-merged) /bin, /sbin, /usr/bin, /usr/sbin directories:
#            the simplest possible tree for bring-up.
#   debian   Debian 12 merged-/usr layout (/bin, /sbin, /lib, /lib64 are
#            symlinks into usr/), Debian's dynamically linked bash and
#            coreutils, less (with terminfo) plus their shared-library closure, then busybox applets
#            for every command those packages do not provide.  /bin/sh stays
#            busybox; bash is /bin/bash.
#   python   debian + python3.11 with its full standard library and test suite.
#
# The tree is then turned into an image by
#   umk-rootfs build --from OUTDIR -o IMG
#
# Downloaded .debs are cached in ${UMK_CACHE:-$HOME/.cache/umk}/debs.
# Needs: readelf (binutils), apt-get (with package lists: run `apt-get update` or
# scripts/install-deps.sh once), dpkg-deb, GNU tar.  No root needed for the
# content.
#
# Ownership: every file is meant to be owned by 0:0 except /etc/shadow
# (0:42, mode 0640).  When this script runs as root it chowns accordingly and
# the directory is exactly what the image should hold; when it runs as an
# ordinary user the files are owned by that user, and the image builder has
# to map ownership itself (e.g. squash everything to 0:0 and give
# /etc/shadow gid 42).
#
# OUTDIR must not exist, be empty, or be a tree this script made earlier (it
# has /etc/os-release naming "umk test image"); it is replaced atomically.
set -euo pipefail

die() { echo "make-rootfs.sh: error: $*" >&2; exit 1; }
note() { [[ -n ${UMK_VERBOSE:-} ]] && echo "make-rootfs.sh: $*" >&2 || true; }

[[ $# -eq 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
OUTDIR=$1
FLAVOR=$2
case $FLAVOR in busybox|debian|python) ;; *) die "unknown flavor '$FLAVOR' (busybox|debian|python)";; esac

for t in apt-get apt-cache dpkg-deb tar readelf; do
    command -v "$t" >/dev/null || die "'$t' not found (run scripts/install-deps.sh)"
done

CACHE=${UMK_CACHE:-$HOME/.cache/umk}/debs
mkdir -p "$CACHE"

if [[ -e $OUTDIR ]]; then
    [[ -d $OUTDIR ]] || die "$OUTDIR exists and is not a directory"
    if [[ -n $(ls -A "$OUTDIR") ]] && ! grep -qs 'umk test image' "$OUTDIR/etc/os-release"; then
        die "$OUTDIR is not empty and was not made by this script; refusing to replace it"
    fi
fi
OUTDIR=$(realpath -m "$OUTDIR")
mkdir -p "$(dirname "$OUTDIR")"
STAGE=$(mktemp -d "$OUTDIR.tmp.XXXXXX")   # same filesystem: mv is atomic
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root   # the tree being built

is_root() { [[ $(id -u) -eq 0 ]]; }

# ---- downloading -----------------------------------------------------------

# fetch PKG...: make sure the candidate .deb of every PKG is in the cache and
# record its path in DEB[PKG].  One apt-cache and one apt-get call for all.
declare -A DEB=()
fetch() {
    local info pkg ver arch file out missing=()
    info=$(apt-cache show --no-all-versions "$@" 2>/dev/null \
           | awk '/^Package: /{p=$2} /^Version: /{v=$2} /^Architecture: /{a=$2}
                  /^$/{if(p!="")print p, v, a; p=""} END{if(p!="")print p, v, a}') || true
    for pkg in "$@"; do
        read -r _ ver arch < <(awk -v p="$pkg" '$1==p' <<<"$info") || true
        if [[ -n ${ver:-} ]]; then
            file="$CACHE/${pkg}_${ver//:/%3a}_${arch}.deb"
            [[ -s $file ]] || missing+=("$pkg")
        else
            # No package lists (offline, never updated): newest cached copy.
            file=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
            [[ -n $file ]] || die "no package information for '$pkg' and nothing cached; run 'apt-get update' (or scripts/install-deps.sh) first"
            note "using cached $file (no package lists)"
        fi
        DEB[$pkg]=$file
        ver=
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        note "downloading ${missing[*]}"
        local sandbox=()
        is_root && sandbox=(-o APT::Sandbox::User=root)
        out=$(cd "$CACHE" && apt-get download -q "${sandbox[@]}" "${missing[@]}" 2>&1 </dev/null) || true
        for pkg in "${missing[@]}"; do
            if [[ ! -s ${DEB[$pkg]} ]]; then
                echo "$out" >&2
                die "download of Debian package '$pkg' failed (expected ${DEB[$pkg]})"
            fi
        done
    fi
}

# extract PKG: unpack PKG's cached .deb into the tree, following the
# merged-/usr directory symlinks (plain `dpkg-deb -x` would replace them with
# directories).
extract() {
    local deb=${DEB[$1]}
    local tar_owner=()
    is_root || tar_owner=(--no-same-owner)
    dpkg-deb --fsys-tarfile "$deb" \
        | tar -x -C "$R" --keep-directory-symlink --no-overwrite-dir "${tar_owner[@]}" -f - \
        || die "unpacking $deb failed"
}

# lib_closure ROOT...: the ROOT packages plus every lib* (and zlib*) package
# they (Pre-)Depend on, transitively.  Non-library dependencies (base-files,
# debianutils, gcc-12-base, dpkg ...) carry no code the programs load and
# are left out; the ld.so check below proves nothing is missing.
lib_closure() {
    local -A seen=()
    local frontier=("$@") next p d
    for p in "$@"; do seen[$p]=1; echo "$p"; done
    while [[ ${#frontier[@]} -gt 0 ]]; do
        next=()
        while read -r d; do
            [[ ( $d == lib* || $d == zlib* ) && -z ${seen[$d]:-} ]] || continue
            seen[$d]=1; echo "$d"; next+=("$d")
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts \
                    --no-breaks --no-replaces --no-enhances "${frontier[@]}" 2>/dev/null \
                 | sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^<][^ ]*\).*/\2/p' | sed 's/:any$//')
        frontier=("${next[@]}")
    done
}

# ---- layout ----------------------------------------------------------------

mkdir -p "$R"
if [[ $FLAVOR == busybox ]]; then
    mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin}
else
    # Debian 12 merged-/usr.
    mkdir -p "$R"/usr/{bin,sbin,lib,lib64}
    ln -s usr/bin "$R/bin"
    ln -s usr/sbin "$R/sbin"
    ln -s usr/lib "$R/lib"
    ln -s usr/lib64 "$R/lib64"
fi
mkdir -p "$R"/{etc,proc,dev,sys,run,home,var}
install -d -m 0700 "$R/root"
install -d -m 1777 "$R/tmp" "$R/var/tmp"

# ---- Debian packages (debian, python) ---------------------------------------

if [[ $FLAVOR != busybox ]]; then
    # less (with terminfo), script (bsdutils), tmux, screen, expect and
    # OpenSSH for the console tests; libc-bin for the C.UTF-8 locale tmux
    # insists on; netbase for /etc/services and /etc/protocols.
    roots=(bash coreutils less ncurses-base bsdutils tmux screen expect tcl-expect
        openssh-server openssh-client libc-bin netbase)
    # The full standard library and its test suite (python3 -m test).
    [[ $FLAVOR == python ]] && roots+=(python3.11-minimal libpython3.11-minimal python3-minimal libpython3.11-stdlib libpython3.11-testsuite)
    mapfile -t pkgs < <(lib_closure "${roots[@]}")
    [[ ${#pkgs[@]} -gt ${#roots[@]} ]] || die "could not resolve dependencies of ${roots[*]} (apt package lists missing? run apt-get update)"
    note "packages: ${pkgs[*]}"
    fetch "${pkgs[@]}" busybox-static
    for p in "${pkgs[@]}"; do extract "$p"; done
    # Maintainer scripts never run; python3-minimal's postinst would only
    # byte-compile.  The dynamic loader symlink lib64/ld-linux-x86-64.so.2
    # from libc6 is absolute, so it resolves inside the guest root.
fi

# ---- busybox ---------------------------------------------------------------

[[ -n ${DEB[busybox-static]:-} ]] || fetch busybox-static
extract busybox-static
BB=$R/bin/busybox
[[ -x $BB ]] || die "busybox-static did not provide /bin/busybox"
# Applet list from the very binary we install (static, runs natively).
"$BB" --list-full > "$STAGE/applets" || die "$BB --list-full failed"
while read -r a; do
    case $a in
        ''|linuxrc|sbin/init|*/init) continue ;;   # no init: umk run defaults to /bin/sh
    esac
    if [[ $FLAVOR != busybox ]]; then
        a=${a#/}
        case $a in bin/*|sbin/*) a=usr/$a ;; esac
    fi
    [[ -e $R/$a || -L $R/$a ]] && continue     # a Debian package provides it
    mkdir -p "$(dirname "$R/$a")"
    ln -s /bin/busybox "$R/$a"
done < "$STAGE/applets"
rm -f "$STAGE/applets"
ln -sfn busybox "$R/bin/sh"

# ---- /etc ------------------------------------------------------------------

cat > "$R/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
EOT
cat > "$R/etc/group" <<'EOT'
root:x:0:
shadow:x:42:
nogroup:x:65534:
EOT
cat > "$R/etc/shadow" <<'EOT'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
EOT
chmod 0644 "$R/etc/passwd" "$R/etc/group"
chmod 0640 "$R/etc/shadow"
echo umk > "$R/etc/hostname"
cat > "$R/etc/hosts" <<'EOT'
127.0.0.1	localhost
::1		localhost
EOT
cat > "$R/etc/os-release" <<EOT
PRETTY_NAME="umk test image ($FLAVOR)"
NAME="umk test image"
ID=umk
VERSION_ID="1"
VARIANT_ID=$FLAVOR
EOT

# Keep images small: documentation is of no use to a guest.
rm -rf "$R"/usr/share/{doc,man,info,lintian,locale,bug}

if is_root; then
    chown -hR 0:0 "$R"
    chown 0:42 "$R/etc/shadow"
fi

# ---- verification ----------------------------------------------------------

if [[ $FLAVOR != busybox ]]; then
    LDSO=$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
    [[ -f $LDSO ]] || die "libc6 did not provide $LDSO"
    LP=$R/usr/lib/x86_64-linux-gnu:$R/usr/lib
    # Every dynamically linked program and library must resolve all of its
    # libraries INSIDE the tree (ld.so would silently fall back to the host's).
    bad=0
    while IFS= read -r -d '' f; do
        head -c4 "$f" 2>/dev/null | grep -q $'^\x7fELF' || continue
        # Static binaries (busybox) have no program interpreter: skip.
        readelf -lW "$f" 2>/dev/null | grep -q 'program interpreter' || continue
        out=$("$LDSO" --library-path "$LP" --list "$f" 2>&1) \
            || { echo "  $f: ld.so --list failed: $out" >&2; bad=1; continue; }
        while read -r line; do
            case $line in
                *"not found"*) echo "  $f: $line" >&2; bad=1 ;;
                *"=> /"*)
                    path=${line#*=> }; path=${path%% (*}
                    [[ $path == "$R"/* ]] || { echo "  $f: $line (outside the tree)" >&2; bad=1; } ;;
            esac
        done <<<"$out"
    done < <(find "$R/usr/bin" "$R/usr/sbin" -type f -print0)
    [[ $bad -eq 0 ]] || die "unresolved shared libraries (see above)"

    got=$("$LDSO" --library-path "$LP" "$R/usr/bin/bash" -c 'echo ok') || true
    [[ $got == ok ]] || die "bash from the tree does not run natively (got '$got')"
    got=$("$LDSO" --library-path "$LP" "$R/usr/bin/ls" "$R/etc" | tr '\n' ' ') || true
    [[ $got == *os-release* ]] || die "ls from the tree does not run natively (got '$got')"
    if [[ $FLAVOR == python ]]; then
        got=$(PYTHONHOME=$R/usr PYTHONNOUSERSITE=1 "$LDSO" --library-path "$LP" \
                  "$R/usr/bin/python3.11" -S -c 'import os, sys, encodings; print(1)') || true
        [[ $got == 1 ]] || die "python3 from the tree does not run natively (got '$got')"
    fi
fi
got=$("$R/bin/busybox" sh -c 'echo ok') || true
[[ $got == ok ]] || die "busybox does not run natively"

# ---- install ---------------------------------------------------------------

chmod 0755 "$R"
if [[ -e $OUTDIR ]]; then
    old=$(mktemp -d "$OUTDIR.old.XXXXXX")
    mv "$OUTDIR" "$old/x"
    mv "$R" "$OUTDIR"
    rm -rf "$old"
else
    mv "$R" "$OUTDIR"
fi
note "built $FLAVOR tree in $OUTDIR"
