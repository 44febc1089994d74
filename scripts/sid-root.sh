#!/usr/bin/env bash
# Makes, once, a Debian sid root holding CPython 3.14 and 3.15 (Debian's binaries need sid's
# glibc, so they run only inside such a root), and prints its path. The root is cached outside
# the clone: PYROMETER_SID_ROOT, else ~/.cache/pyrometer/sid-root.
#
#   bash scripts/sid-root.sh                 # make it when missing; print its path
#   bash scripts/sid-root.sh run CMD…        # run CMD in the root, with this checkout, the
#                                            # host's Rust toolchain and pyenv, /proc and /dev
#                                            # mounted
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${PYROMETER_SID_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrometer/sid-root}
# The tests also run git and pgrep.
PACKAGES=python3.14,python3.14-dev,python3.14-venv,python3.15,python3.15-dev,python3.15-venv,gcc,libc6-dev,ca-certificates,git,procps

make_root() {
    # The finished root's stamp holds its package list; a root made with fewer gets the rest.
    local stamp="$ROOT/.pyrometer-complete"
    if [ -e "$stamp" ]; then
        [ "$(cat "$stamp")" = "$PACKAGES" ] && return 0
        echo "sid-root: installing into $ROOT: ${PACKAGES//,/ }" >&2
        (run_in_root env DEBIAN_FRONTEND=noninteractive sh -c \
            'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' apt ${PACKAGES//,/ }) \
            >"$ROOT.log" 2>&1 || { echo "sid-root: apt-get failed; the end of its log:" >&2; tail -20 "$ROOT.log" >&2; exit 1; }
        rm -f "$ROOT.log"
        echo "$PACKAGES" >"$stamp"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        echo "sid-root: installing debootstrap" >&2
        apt-get install -y -qq debootstrap >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null
        }
    fi
    # The same mirror the host's apt uses.
    local mirror
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    local tmp="$ROOT.partial"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    echo "sid-root: debootstrap sid into $ROOT (a few minutes, about 500 MB)" >&2
    debootstrap --variant=minbase --include="$PACKAGES" sid "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
        echo "sid-root: debootstrap failed; the end of its log:" >&2
        tail -20 "$tmp.log" >&2
        exit 1
    }
    # The registries are reached through the host's trust store.
    cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt"
    # The mirror's sid index is older than its validity window.
    echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99pyrometer"
    echo "$PACKAGES" >"$tmp/.pyrometer-complete"
    rm -rf "$ROOT"
    mv "$tmp" "$ROOT"
    rm -f "$tmp.log"
}

# Runs a command in the root inside a private mount namespace, so the mounts vanish with it.
run_in_root() {
    local mounts=(/proc /dev /dev/pts /sys "$HERE")
    [ -d "$HOME/.rustup" ] && mounts+=("$HOME/.rustup")
    [ -d "$HOME/.cargo" ] && mounts+=("$HOME/.cargo")
    [ -d /opt/wheels ] && mounts+=(/opt/wheels)
    # pyenv's CPythons need only libc: some tests run other interpreters from there.
    local pyenv=${PYENV_ROOT:-$HOME/.pyenv}
    [ -d "$pyenv" ] && mounts+=("$pyenv")
    local script='set -e; root=$1; shift; n=$1; shift
        for ((i = 0; i < n; i++)); do
            mkdir -p "$root$1"; mount --rbind "$1" "$root$1"; shift
        done
        exec chroot "$root" "$@"'
    exec unshare --mount --propagation private bash -c "$script" run-in-root \
        "$ROOT" "${#mounts[@]}" "${mounts[@]}" \
        env -i HOME="$HOME" PATH="$HOME/.cargo/bin:/usr/local/bin:/usr/bin:/bin" \
        LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" PYENV_ROOT="$pyenv" \
        PYTHONUNBUFFERED="${PYTHONUNBUFFERED:-}" PYTHONDONTWRITEBYTECODE="${PYTHONDONTWRITEBYTECODE:-}" \
        PIP_CERT="${PIP_CERT:-}" PIP_FIND_LINKS="${PIP_FIND_LINKS:-}" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-60}" \
        RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-}" CARGO_TERM_COLOR=never \
        bash -c 'cd "$0" && exec "$@"' "$HERE" "$@"
}

make_root
if [ "${1:-}" = run ]; then
    shift
    run_in_root "$@"
fi
echo "$ROOT"
