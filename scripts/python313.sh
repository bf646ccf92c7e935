#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Prints the path of a working CPython 3.13 on stdout (Blender 5.1+ and its bpy module need 3.13); progress goes
# to stderr. Used by the Makefile for BLENDER=5.2 / 5.3.
#
# 1. $PYTHON313 if set, the project's cached build (.python313/), `python3.13` on PATH, pyenv's 3.13.x, in that
#    order: the first that imports ssl, ctypes, sqlite3, lzma, bz2, zlib, venv and ensurepip is used.
# 2. Otherwise it builds CPython 3.13 once into .python313/ (gitignored) from Debian trixie's source package
#    `python3.13` (its upstream tarball), fetched with the ordinary apt client through a private sources list
#    and private state folders under .python313-src/: the machine's own apt configuration is not changed. The
#    archive address is the one the machine's own apt sources use. The build needs gcc, make and the -dev
#    packages of OpenSSL, libffi, SQLite, xz, bzip2 and zlib; missing ones are installed from the machine's
#    own Debian release when running as root.
#
# PYTHON313_BUILD=1 skips step 1 (and rebuilds even when .python313/ exists): used to time the build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.python313"
work="$root/.python313-src"
modules="import ssl, ctypes, sqlite3, lzma, bz2, zlib, venv, ensurepip"

log() { echo "python313: $*" >&2; }

works() {
    local py="$1"
    [[ -x "$py" ]] || return 1
    "$py" -c "import sys; assert sys.version_info[:2] == (3, 13); $modules" >/dev/null 2>&1
}

if [[ "${PYTHON313_BUILD:-0}" != 1 ]]; then
    candidates=()
    [[ -n "${PYTHON313:-}" ]] && candidates+=("$PYTHON313")
    candidates+=("$prefix/bin/python3.13")
    command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
    for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*; do
        candidates+=("$dir/bin/python3.13")
    done
    for py in "${candidates[@]}"; do
        if works "$py"; then
            echo "$py"
            exit 0
        fi
    done
    log "no working CPython 3.13 found; building one into $prefix"
fi

# --- build from Debian trixie's source package ------------------------------------------------------------
exec 9>"$root/.python313.lock"
flock 9
if [[ "${PYTHON313_BUILD:-0}" != 1 ]] && works "$prefix/bin/python3.13"; then  # built meanwhile by another run
    echo "$prefix/bin/python3.13"
    exit 0
fi
start=$SECONDS

need=()
for pkg in gcc make libssl-dev libffi-dev libsqlite3-dev liblzma-dev libbz2-dev zlib1g-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]]; then
        log "installing build dependencies: ${need[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
    else
        log "missing build dependencies (install them as root): ${need[*]}"
        exit 1
    fi
fi

# The archive and keyring the machine's own apt uses (deb822 .sources or one-line sources.list).
uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
keyring=$(grep -hE '^Signed-By:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -1 || true)
if [[ -z "$uri" ]]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | awk '{for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' || true)
fi
uri=${uri:-http://deb.debian.org/debian}
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}

rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/dl"
echo "deb-src [signed-by=$keyring] $uri trixie main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root" -qq)
log "fetching the python3.13 source package from $uri (trixie)"
apt-get "${apt_opts[@]}" update >&2
(cd "$work/dl" && apt-get "${apt_opts[@]}" source --download-only python3.13 >&2)
tarball=$(ls "$work"/dl/python3.13_*.orig.tar.* | head -1)
log "building $(basename "$tarball") (about 4 minutes on 2 cores)"
mkdir -p "$work/src"
tar -xf "$tarball" -C "$work/src" --strip-components=1

rm -rf "$prefix"
(
    cd "$work/src"
    nice ./configure --prefix="$prefix" --without-ensurepip >"$work/configure.log" 2>&1
    nice make -j"$(nproc)" >"$work/make.log" 2>&1
    nice make install >"$work/install.log" 2>&1
) || { log "build failed; see $work/*.log"; exit 1; }
if ! works "$prefix/bin/python3.13"; then
    log "the built interpreter misses one of: $modules"
    "$prefix/bin/python3.13" -c "$modules" >&2 || true
    exit 1
fi
rm -rf "$work"
log "built $("$prefix/bin/python3.13" -V) in $((SECONDS - start)) s"
echo "$prefix/bin/python3.13"
