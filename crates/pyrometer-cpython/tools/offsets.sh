#!/bin/sh
# Measures the layout offsets of every installed interpreter (see offsets.c).
# Usage: tools/offsets.sh [PREFIX...]   (default: the pyenv 3.11-3.13 builds and /usr)
set -e
here=$(dirname "$0")
prefixes=${*:-"/root/.pyenv/versions/3.11.7 /root/.pyenv/versions/3.12.1 /root/.pyenv/versions/3.13.0 /usr"}
for prefix in $prefixes; do
    for inc in "$prefix"/include/python3.1[1-9]; do
        [ -f "$inc/Python.h" ] || continue
        echo "== $inc"
        gcc -w -DPy_BUILD_CORE -I"$inc" -I"$inc/internal" "$here/offsets.c" -o /tmp/pyrometer-offsets
        /tmp/pyrometer-offsets
    done
done
