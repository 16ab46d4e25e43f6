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


def qcow2_image(virtual_size='64M'):
    """Bytes of a real, empty qcow2 image."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'image.qcow2')
        run('create', '-q', '-f', 'qcow2', path, virtual_size)
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
