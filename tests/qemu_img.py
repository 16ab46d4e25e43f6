# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Real qemu-img for the tests: make images, and read them as qemu would."""

import json
import os
import subprocess
import tempfile


def run(*args):
    subprocess.run(('qemu-img',) + args, check=True, capture_output=True)


def info(path):
    """``qemu-img info`` of ``path`` as a dict (force-share: may be open)."""
    return json.loads(subprocess.run(
        ['qemu-img', 'info', '--output=json', '-U', path], check=True,
        capture_output=True, text=True).stdout)


def backing_chain(disk):
    """Files qemu would open for ``disk``: it fails if a layer is missing."""
    out = subprocess.run(
        ['qemu-img', 'info', '--backing-chain', '--output=json', '-U', disk],
        check=True, capture_output=True, text=True).stdout
    return [layer['filename'] for layer in json.loads(out)]


def write(path, pattern, offset, length, fmt='qcow2'):
    """Write byte ``pattern`` over a range of the disk, as a guest would."""
    subprocess.run(
        ['qemu-io', '-f', fmt, '-c',
         'write -P %#x %d %d' % (pattern, offset, length), path],
        check=True, capture_output=True)


def holds(path, pattern, offset, length, fmt='qcow2'):
    """Whether the guest reads ``pattern`` all over that range."""
    return subprocess.run(
        ['qemu-io', '-f', fmt, '-r', '-U', '-c',
         'read -P %#x %d %d' % (pattern, offset, length), path],
        capture_output=True).returncode == 0


def qcow2_image(virtual_size='64M', pattern=None):
    """Bytes of a real qcow2 image: empty, or ``pattern`` over 1 MiB."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'image.qcow2')
        run('create', '-q', '-f', 'qcow2', path, virtual_size)
        if pattern is not None:
            write(path, pattern, 0, 2 ** 20)
        with open(path, 'rb') as f:
            return f.read()


def qcow2_of(raw, *options):
    """Bytes of a qcow2 image holding ``raw`` (``-c``: compressed)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, 'image.raw')
        path = os.path.join(tmp, 'image.qcow2')
        with open(source, 'wb') as f:
            f.write(raw)
        run('convert', '-q', '-f', 'raw', '-O', 'qcow2', *options + (
            source, path))
        with open(path, 'rb') as f:
            return f.read()


def check(path):
    """``qemu-img check``: raises CalledProcessError if ``path`` is bad."""
    run('check', '-U', path)
