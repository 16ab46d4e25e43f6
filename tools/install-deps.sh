#!/bin/bash
# Prepare a fresh Debian/Ubuntu machine (as root) to run nova-precache's
# demonstration and tests: qemu-img for real images, tox for the rest
# (tox builds its own virtualenvs with nova 34.0.0 from PyPI).
set -euo pipefail

if ! command -v qemu-img >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq qemu-utils >/dev/null
fi
if ! python3 -m tox --version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check 'tox>=4.6'
fi
