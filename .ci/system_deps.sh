#!/usr/bin/env bash
# What CI needs from the system before anything else, as a fresh Debian/Ubuntu image lacks it:
# python3 with venv (ensurepip) and its headers (the extension module compiles against Python.h),
# a C toolchain and cmake. Installs what is missing (.ci/apt_install.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
python3 -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
    2>/dev/null || missing+=(python3-dev)
{ command -v cc >/dev/null && command -v make >/dev/null; } || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)
bash .ci/apt_install.sh "${missing[@]}"
