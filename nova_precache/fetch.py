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
those bytes unconverted, they are checked again on disk. The base file's
SHA-256 is recorded then (``nova_precache.digest``), in the same read, so
that peers can check a copy of it.
"""

import os
import re

from oslo_log import log as logging

from nova import exception
from nova import utils
from nova.virt import images

from nova_precache import conf
from nova_precache import digest
from nova_precache import files

LOG = logging.getLogger(__name__)
CONF = conf.CONF

_LEFTOVERS = ('.part', '.converted')
_LEFTOVER = re.compile(r'^([0-9a-f]{40})(\.part|\.converted)$')


class ChecksumMismatch(exception.NovaException):
    msg_fmt = ('Image %(image_id)s: %(algo)s of %(path)s is %(actual)s, '
               'Glance says %(expected)s')


class SizeMismatch(exception.NovaException):
    msg_fmt = ('Image %(image_id)s: %(path)s has %(actual)d bytes, Glance '
               'says the image has %(expected)d')


def unconverted(meta):
    """Whether the image's base file holds Glance's bytes as they are.

    nova converts to raw only with ``force_raw_images``, and a raw image
    needs no conversion.
    """
    return meta.get('disk_format') == 'raw' or not CONF.force_raw_images


def glance_hash(meta):
    """(algorithm, hex digest) of Glance's bytes, or None."""
    if meta.get('os_hash_algo') and meta.get('os_hash_value'):
        return meta['os_hash_algo'], meta['os_hash_value']
    if meta.get('checksum'):
        return 'md5', meta['checksum']
    return None


def verify(image_id, path, meta, digests=None):
    """Raise SizeMismatch or ChecksumMismatch if ``path`` is not Glance's.

    Only meaningful when the base file was not converted: a converted raw
    file differs from Glance's bytes by design. The size is checked first:
    an image Glance has no hash for (uploaded by an old Glance) is still
    refused when the download brought more, or fewer, bytes than it has.
    ``digests`` ({algorithm: hex}) are the file's, if already computed.
    """
    size = meta.get('size')
    if isinstance(size, int) and os.path.getsize(path) != size:
        raise SizeMismatch(image_id=image_id, path=path,
                           actual=os.path.getsize(path), expected=size)
    expected_hash = glance_hash(meta)
    if expected_hash is None:
        return
    algo, expected = expected_hash
    actual = (digests or {}).get(algo) or digest.compute(path, [algo])[algo]
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
        sums = _digests(path, meta, verify_on_disk)
        if verify_on_disk:
            try:
                verify(image_id, path, meta, sums)
            except (ChecksumMismatch, SizeMismatch):
                os.unlink(path)
                raise
        _record_digest(path, sums)
        return True

    return _locked_fetch()


def _digests(path, meta, verify_on_disk):
    """The base file's digests, Glance's with ours, in one read; or {}."""
    algorithms = [digest.ALGORITHM]
    expected_hash = glance_hash(meta)
    if verify_on_disk and expected_hash:
        algorithms.append(expected_hash[0])
    try:
        return digest.compute(path, algorithms)
    except OSError as e:
        LOG.warning('Cannot read base file %(path)s for its digest: '
                    '%(error)s', {'path': path, 'error': e})
        return {}


def _record_digest(path, sums):
    """Record what peers check a copy of the base file against."""
    if digest.ALGORITHM not in sums:
        return
    try:
        digest.record(os.path.dirname(path), os.path.basename(path),
                      sums[digest.ALGORITHM], os.path.getsize(path))
    except OSError as e:
        LOG.warning('Cannot record the digest of base file %(path)s, so '
                    'no peer can copy it from here: %(error)s',
                    {'path': path, 'error': e})


def remove_leftovers(cache_dir, lock_path):
    """Remove what interrupted downloads left in ``cache_dir``.

    fetch() removes the leftovers of the image it fetches; these are those
    of images no longer fetched (a crash mid-download, then the image left
    the plan), which nova's own cache manager never looks at. A file whose
    base file's lock is taken is a download under way (ours or a spawn's),
    left alone without waiting for it.
    """
    files.remove_leftovers(cache_dir, _LEFTOVER, lock_path,
                           'an interrupted download', blocking=False)
