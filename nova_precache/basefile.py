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

"""What a file must pass to become an image's base file without Glance.

nova's download checks what Glance sent: its format inspection (the
format Glance declares, no backing file, no data file), qemu-img agreeing,
and glanceclient comparing the bytes with Glance's hash. A file that comes
from elsewhere (a peer's copy) passes the same checks, against the format
the base file has here: raw when nova converts images
(``force_raw_images``) and the image's ``disk_format`` otherwise, plus its
recorded size and SHA-256 (``nova_precache.digest``), and Glance's own
size and hash where the base file is Glance's bytes unconverted.
"""

import os
import stat

from oslo_utils.imageutils import format_inspector

from nova import exception
from nova.virt import images

from nova_precache import conf
from nova_precache import digest
from nova_precache import fetch

CONF = conf.CONF

# What qemu-img reads as raw, and so what a raw base file may look like.
_RAW_CONTENT = ('raw', 'gpt', 'iso')
# What nova does not inspect by name: their content is anything.
_AMI = ('ami', 'aki', 'ari')


class Rejected(Exception):
    """A file, or what is said of it, is not to become a base file."""


class Expected(object):
    """What the base file of an image is, from what this host knows.

    :param meta: the image's metadata as far as known here (the catalog's,
        or an instance's image properties): ``disk_format``, and Glance's
        ``size``, ``virtual_size`` and hashes when present.
    """

    def __init__(self, image_id, meta):
        self.image_id = image_id
        self.disk_format = meta.get('disk_format')
        if not (CONF.force_raw_images or self.disk_format):
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='its disk_format is not known here, so neither is '
                       'the format of its base file')
        # Whether the base file holds Glance's bytes, or nova's raw
        # conversion of them (disk_format unknown: one or the other, raw).
        self.unconverted = fetch.unconverted(meta)
        size = meta.get('size' if self.unconverted else 'virtual_size')
        self.size = size if type(size) is int else None
        self.glance_hash = (fetch.glance_hash(meta) if self.unconverted
                            else None)

    def check_size(self, size):
        if self.size is not None and size != self.size:
            raise Rejected('%d bytes, where the image\'s base file has %d'
                           % (size, self.size))

    def check(self, path, sha256, size):
        """Raise Rejected unless ``path`` is the base file, ``size`` long.

        The cheap checks first; the file is read once, for every digest.
        """
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise Rejected('it is not a regular file')
        if st.st_size != size:
            raise Rejected('it has %d bytes, its digest file says %d'
                           % (st.st_size, size))
        self.check_size(size)
        self.check_format(path)
        algorithms = [digest.ALGORITHM]
        if self.glance_hash:
            algorithms.append(self.glance_hash[0])
        sums = digest.compute(path, algorithms)
        if sums[digest.ALGORITHM] != sha256:
            raise Rejected('its %s is %s, its digest file says %s' % (
                digest.ALGORITHM, sums[digest.ALGORITHM], sha256))
        if self.glance_hash:
            algo, value = self.glance_hash
            if sums[algo] != value:
                raise Rejected('its %s is %s, Glance says %s'
                               % (algo, sums[algo], value))

    def check_format(self, path):
        """Raise unless ``path`` passes what nova's download checks.

        nova's rules (``images.fetch_to_raw``), with reasons that say what
        was found: the format inspector's safety checks and detected
        format (a raw image may hold a GPT disk, an AMI anything), then
        qemu-img agreeing, with no backing file and no data file.
        """
        if self.unconverted and self.disk_format:
            qemu_format = ('raw' if self.disk_format in _AMI + ('iso',)
                           else self.disk_format)
            allowed = (None if self.disk_format in _AMI else
                       {self.disk_format} | ({'gpt'} if self.disk_format ==
                                             'raw' else set()))
        else:
            qemu_format, allowed = 'raw', set(_RAW_CONTENT)
        if not CONF.workarounds.disable_deep_image_inspection:
            try:
                inspector = images.get_image_format(path)
                inspector.safety_check()
            except format_inspector.SafetyCheckFailed as e:
                raise Rejected('it fails the safety check: %s' % e)
            except format_inspector.ImageFormatError as e:
                raise Rejected('its format is ambiguous: %s' % e)
            if allowed is not None and str(inspector) not in allowed:
                raise Rejected('it is %s, not %s' % (
                    inspector, ' or '.join(sorted(allowed))))
        info = images.qemu_img_info(path)
        if info.file_format != qemu_format:
            raise Rejected('qemu-img reads it as %s, not %s'
                           % (info.file_format, qemu_format))
        if info.backing_file is not None:
            raise Rejected('it has a backing file: %s' % info.backing_file)
        try:
            data_file = info.format_specific['data']['data-file']
        except (KeyError, TypeError, AttributeError):
            data_file = None
        if data_file is not None:
            raise Rejected('it has a data file: %s' % data_file)
