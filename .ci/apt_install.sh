#!/usr/bin/env bash
# Installs Debian/Ubuntu packages with apt-get, as root or through sudo when it needs no password.
# Where that is not possible (no apt-get, no rights, no network) it says which packages are
# missing and exits 0: the steps that need them then fail with their own errors.
# Usage: .ci/apt_install.sh PACKAGE...   (nothing to do without arguments)
set -euo pipefail
[ "$#" -gt 0 ] || exit 0

warn() { echo "=== warning: could not install $* ($reason); install them for the steps that need them ===" >&2; }

if ! command -v apt-get >/dev/null; then
    reason="no apt-get"; warn "$@"; exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        reason="not root, and no sudo without a password"; warn "$@"; exit 0
    fi
fi
echo "=== apt-get install $* ==="
if ! "${as_root[@]}" apt-get update -qq ||
   ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
    reason="apt-get failed"; warn "$@"
fi
