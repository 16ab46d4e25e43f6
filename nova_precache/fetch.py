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

"""Fetch one image into the cache the way a spawn would.

The download is nova's own ``images.fetch_to_raw``: deep format inspection,
no backing files or data-files, raw conversion with ``force_raw_images``,
written to ``<base>.part`` and renamed only when complete. It runs under
the external lock that nova's image backend takes for the same base file,
so a spawn and a pre-fetch of one image never download it twice nor see a
half-written file. glanceclient checks the downloaded bytes against
Glance's ``os_hash_value`` (or ``checksum``); when the base file holds
those bytes unconverted, they are checked again on disk.
"""

import hashlib
import os
import re

from oslo_log import log as logging

from nova import exception
from nova import utils
from nova.virt import images

from nova_precache import files

LOG = logging.getLogger(__name__)

_LEFTOVERS = ('.part', '.converted')
_LEFTOVER = re.compile(r'^([0-9a-f]{40})(\.part|\.converted)$')
_CHUNK = 1024 * 1024


class ChecksumMismatch(exception.NovaException):
    msg_fmt = ('Image %(image_id)s: %(algo)s of %(path)s is %(actual)s, '
               'Glance says %(expected)s')


class SizeMismatch(exception.NovaException):
    msg_fmt = ('Image %(image_id)s: %(path)s has %(actual)d bytes, Glance '
               'says the image has %(expected)d')


def _file_digest(path, algo):
    digest = hashlib.new(algo)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def verify(image_id, path, meta):
    """Raise SizeMismatch or ChecksumMismatch if ``path`` is not Glance's.

    Only meaningful when the base file was not converted: a converted raw
    file differs from Glance's bytes by design. The size is checked first:
    an image Glance has no hash for (uploaded by an old Glance) is still
    refused when the download brought more, or fewer, bytes than it has.
    """
    size = meta.get('size')
    if isinstance(size, int) and os.path.getsize(path) != size:
        raise SizeMismatch(image_id=image_id, path=path,
                           actual=os.path.getsize(path), expected=size)
    if meta.get('os_hash_algo') and meta.get('os_hash_value'):
        algo, expected = meta['os_hash_algo'], meta['os_hash_value']
    elif meta.get('checksum'):
        algo, expected = 'md5', meta['checksum']
    else:
        return
    actual = _file_digest(path, algo)
    if actual != expected:
        raise ChecksumMismatch(image_id=image_id, algo=algo, path=path,
                               actual=actual, expected=expected)


def fetch(context, image_id, path, lock_path, meta, verify_on_disk):
    """Download ``image_id`` to base file ``path``; False if it was there.

    :param verify_on_disk: the base file keeps Glance's bytes unconverted,
        so compare its digest with Glance's.
    """
    @utils.synchronized(os.path.basename(path), external=True,
                        lock_path=lock_path)
    def _locked_fetch():
        if os.path.exists(path):
            return False
        # Under the lock nobody is writing these: they are what a crashed
        # download left behind.
        for leftover in (path + suffix for suffix in _LEFTOVERS):
            if os.path.exists(leftover):
                LOG.info('Removing %s left by an interrupted download',
                         leftover)
                os.unlink(leftover)
        images.fetch_to_raw(context, image_id, path)
        if verify_on_disk:
            try:
                verify(image_id, path, meta)
            except (ChecksumMismatch, SizeMismatch):
                os.unlink(path)
                raise
        return True

    return _locked_fetch()


def remove_leftovers(cache_dir, lock_path):
    """Remove what interrupted downloads left in ``cache_dir``.

    fetch() removes the leftovers of the image it fetches; these are those
    of images no longer fetched (a crash mid-download, then the image left
    the plan), which nova's own cache manager never looks at. A file whose
    base file's lock is taken is a download under way (ours or a spawn's),
    left alone without waiting for it.
    """
    def _lock(name):
        match = _LEFTOVER.match(name)
        return match.group(1) if match else None

    files.remove_leftovers(cache_dir, _lock, lock_path,
                           'an interrupted download', blocking=False)
