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

"""The instance disks on this host's storage and the base files behind them.

nova finds each disk's backing file with a prlimit-wrapped ``qemu-img
info``; the qcow2 header (``nova_precache.qcow2``) answers in-process, and
anything the header reader is unsure of still goes to qemu-img as in nova.
"""

import collections
import os
import re

from oslo_concurrency import processutils
from oslo_utils import units

from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import qcow2

# The disks nova's libvirt driver creates in an instance directory: root,
# ephemeral and swap.
_DISK_NAME = re.compile(r'^disk(\.local|\.swap|\.eph[0-9]+)?$')

Disk = collections.namedtuple('Disk', 'instance name virtual_size')


def backing_file(disk_path):
    """(backing file name or None, virtual size or None) of a disk."""
    try:
        header = qcow2.read_header(disk_path)
    except OSError:
        header = None
    if header is None:
        return libvirt_utils.get_disk_backing_file(disk_path), None
    name, size = header
    return name and os.path.basename(name), size


def existing_backing_file(disk_path):
    """backing_file(), or (None, None) for a disk deleted meanwhile."""
    try:
        return backing_file(disk_path)
    except processutils.ProcessExecutionError:
        # As nova (bug 1261442): a disk deleted under our feet.
        if not os.path.exists(disk_path):
            return None, None
        raise


def root_gb(virtual_size):
    """The flavor root_gb a disk of ``virtual_size`` bytes was made for.

    None when the size is unknown or not whole GiB (not a flavor's).
    """
    if virtual_size and virtual_size % units.Gi == 0:
        return virtual_size // units.Gi
    return None


def instance_disks(directory):
    """[(disk name, backing file name, virtual size)] of an instance's disks.

    Only disks with a backing file; a disk deleted meanwhile is skipped.
    """
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not _DISK_NAME.match(name) or not os.path.isfile(path):
            continue
        base, size = existing_backing_file(path)
        if base:
            found.append((name, base, size))
    return found


def scan(instances_path, skip=()):
    """{backing file name: [Disk]} of the instance disks on this host.

    Every directory of ``instances_path`` but those named in ``skip`` is
    taken for an instance directory: without nova's database, a disk left
    by a deleted instance counts as in use, which errs on the side of
    keeping its base file.
    """
    found = collections.defaultdict(list)
    for instance in sorted(os.listdir(instances_path)):
        directory = os.path.join(instances_path, instance)
        if instance in skip or not os.path.isdir(directory):
            continue
        for name, base, size in instance_disks(directory):
            found[base].append(Disk(instance, name, size))
    return dict(found)
