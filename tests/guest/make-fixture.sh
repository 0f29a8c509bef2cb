#!/usr/bin/env bash
# Create the read-only fixture tree that tests/guest/files_read.c inspects.
#
#   tests/guest/make-fixture.sh DIR [ABSROOT]
#
# DIR must not exist (or be an empty directory).  ABSROOT is the absolute path
# at which the tree will be seen by the program under test; it is used only
# for the absolute symlink "link_abs" (default: DIR's own absolute path, for
# native runs).  For an image, build it with ABSROOT=/fixture and place it at
# /fixture in the root filesystem; files_read.c prints absolute link targets
# relative to the fixture path it is given, so both runs print the same.
#
# Everything is deterministic: contents, modes, and timestamps.
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 DIR [ABSROOT]" >&2; exit 2; }
D=$1
if [[ -e $D && -n $(ls -A "$D") ]]; then
    echo "make-fixture.sh: $D exists and is not empty" >&2; exit 1
fi
mkdir -p "$D"
ABS=${2:-$(cd "$D" && pwd -P)}
umask 022
cd "$D"

printf 'hello, world\n' > hello.txt                 # 13 bytes
: > empty.txt
# 100 KiB, content varies with offset (63-byte lines).
{ yes 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ' || true; } | head -c 102400 > big.bin
printf '#!/bin/sh\necho exec\n' > exec.sh
printf 'secret\n' > private.txt
mkdir -p dir/sub emptydir
printf 'a\n' > dir/a.txt
printf 'b file\n' > dir/b.txt
printf 'deep\n' > dir/sub/deep.txt
ln -s hello.txt link_rel                 # relative
ln -s "$ABS/hello.txt" link_abs          # absolute, within the tree
ln -s dir link_dir                       # symlink to a directory
ln -s ../hello.txt dir/up_link           # relative, climbing out of a subdir
ln -s sub/deep.txt dir/deep_link
ln -s nonexistent dangling
ln -s loop_b loop_a                      # a loop
ln -s loop_a loop_b
ln -s self_loop self_loop
mkfifo fifo

chmod 0644 hello.txt empty.txt big.bin dir/a.txt dir/b.txt dir/sub/deep.txt
chmod 0755 exec.sh . dir dir/sub emptydir
chmod 0600 private.txt
chmod 0644 fifo
# Fixed timestamps (not printed by the tests, but keeps images reproducible).
find . -depth -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
