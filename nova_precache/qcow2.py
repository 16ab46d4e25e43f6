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

"""Read a qcow2 disk's backing file name and virtual size in-process.

nova learns each instance disk's backing file with ``qemu-img info``
through its prlimit wrapper: three execs and a Python start per disk, about
40 ms. The two facts the image cache needs sit in the first bytes of the
qcow2 header (see qemu's docs/interop/qcow2.txt), so a bounded read of at
most ``MAX_READ`` bytes answers in microseconds. Anything that is not a
plain, well-formed qcow2 header returns None, and the caller asks qemu-img
as nova does.
"""

import struct

QCOW2_MAGIC = b'QFI\xfb'
# magic, version, backing_file_offset, backing_file_size, cluster_bits,
# size (virtual, bytes).
_HEADER = struct.Struct('>4sIQIIQ')
# qemu refuses backing file names longer than this.
MAX_BACKING_NAME = 1023
MAX_READ = 64 * 1024


def read_header(path):
    """(backing file name or None, virtual size) of qcow2 ``path``.

    Returns None when ``path`` is not a qcow2 image this reader is sure
    about; raises OSError when it cannot be read.
    """
    with open(path, 'rb') as f:
        head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return None
        magic, version, offset, length, _, size = _HEADER.unpack(head)
        if magic != QCOW2_MAGIC or version not in (2, 3):
            return None
        if not offset:
            return None if length else (None, size)
        if (not 0 < length <= MAX_BACKING_NAME or
                offset < _HEADER.size or offset + length > MAX_READ):
            return None
        f.seek(offset)
        raw = f.read(length)
    if len(raw) != length:
        return None
    try:
        return raw.decode('utf-8'), size
    except UnicodeDecodeError:
        return None
