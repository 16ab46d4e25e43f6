#!/bin/bash
# Prepare a fresh Debian/Ubuntu machine (as root) to run nova-precache's
# demonstration and tests: qemu-img for real images; sshd and rsync for
# the tests that copy base files between hosts (each test host runs an
# sshd of its own on a loopback address; the machine's own sshd, if any,
# is not used); tox for the rest (tox builds its own virtualenvs with
# nova 34.0.0 from PyPI).
set -euo pipefail

packages=()
command -v qemu-img >/dev/null || packages+=(qemu-utils)
[ -x /usr/sbin/sshd ] || packages+=(openssh-server)
command -v rsync >/dev/null || packages+=(rsync)
if [ ${#packages[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${packages[@]}" >/dev/null
fi
# sshd's privilege separation directory (the service makes it at boot).
mkdir -p /run/sshd
if ! python3 -m tox --version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check 'tox>=4.6'
fi
