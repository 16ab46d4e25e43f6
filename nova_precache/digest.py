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

"""The digest of a base file, recorded by the host that made it.

A base file made from Glance's download (whose bytes glanceclient checked
against Glance's hash) is, once nova converted it to raw, bytes that
Glance has no hash for. So the host that wrote it records its SHA-256 and
size then, in a sidecar file ``_base/precache/digests/<base file name>``,
and a host that copies the base file from it copies the sidecar too and
checks the copy against it; the copy's own sidecar says the same, so the
copy can be passed on in turn.

A sidecar, not a field of the catalog: it is written under the base
file's lock next to the file it describes (the catalog is saved at the end
of a pass, and a crash before would lose it), it is found on a peer from
the image ID alone, as the base file is, and a peer sends one small file
for the one image asked for, not its whole catalog. The sidecar's name is
derived from the image ID: nothing a peer sends names a path.
"""

import hashlib
import json
import os
import re

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import fileutils

from nova import utils

from nova_precache import catalog
from nova_precache import files

LOG = logging.getLogger(__name__)

DIRNAME = 'digests'
ALGORITHM = 'sha256'
# A sidecar is a few dozen bytes: anything longer is not one.
MAX_BYTES = 1024
_CHUNK = 1024 * 1024
_HEX = re.compile(r'^[0-9a-f]{64}$')
_BASE_NAME = re.compile(r'^([0-9a-f]{40})$')
# What files.replace() writes before its rename: left only by a crash.
_TMP = re.compile(r'^\.([0-9a-f]{40})\.')


class BadDigestFile(ValueError):
    pass


def directory(cache_dir):
    return os.path.join(cache_dir, catalog.DIRNAME, DIRNAME)


def path(cache_dir, base_name):
    return os.path.join(directory(cache_dir), base_name)


def compute(file_path, algorithms=(ALGORITHM,)):
    """{algorithm: hex digest} of ``file_path``, read once for them all."""
    digests = {algo: hashlib.new(algo) for algo in set(algorithms)}
    with open(file_path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            for digest in digests.values():
                digest.update(chunk)
    return {algo: digest.hexdigest() for algo, digest in digests.items()}


def encode(sha256, size):
    return (json.dumps({'algorithm': ALGORITHM, 'digest': sha256,
                        'size': size}, sort_keys=True) + '\n').encode()


def decode(data):
    """(sha256, size) of a sidecar's bytes; BadDigestFile if malformed."""
    if len(data) > MAX_BYTES:
        raise BadDigestFile('%d bytes, more than a digest file holds'
                            % len(data))
    try:
        record = json.loads(data.decode('utf-8'))
    except ValueError as e:
        raise BadDigestFile('not JSON: %s' % e)
    if not isinstance(record, dict) or record.get('algorithm') != ALGORITHM:
        raise BadDigestFile('not a %s digest record' % ALGORITHM)
    sha256, size = record.get('digest'), record.get('size')
    if not isinstance(sha256, str) or not _HEX.match(sha256):
        raise BadDigestFile('malformed digest %r' % (sha256,))
    if type(size) is not int or size < 0:
        raise BadDigestFile('malformed size %r' % (size,))
    return sha256, size


def read(file_path):
    """(sha256, size) recorded in sidecar ``file_path``."""
    with open(file_path, 'rb') as f:
        return decode(f.read(MAX_BYTES + 1))


def record(cache_dir, base_name, sha256, size):
    """Write the sidecar of ``base_name``, atomically.

    Called under nova's lock for the base file.
    """
    os.makedirs(directory(cache_dir), exist_ok=True)
    files.replace(path(cache_dir, base_name), encode(sha256, size),
                  prefix='.%s.' % base_name)


def recorded(cache_dir, base_name):
    """(sha256, size) recorded for ``base_name``, or None."""
    try:
        return read(path(cache_dir, base_name))
    except FileNotFoundError:
        return None
    except (OSError, BadDigestFile) as e:
        LOG.warning('Ignoring digest file %(path)s: %(error)s',
                    {'path': path(cache_dir, base_name), 'error': e})
        return None


def remove_leftovers(cache_dir, lock_path):
    """Remove sidecars whose base file is gone, and interrupted writes.

    nova's cache manager ages base files out and knows nothing of their
    sidecars. Under the base file's lock, not waited for (a file being
    fetched or copied now is left alone), a sidecar without its base file
    is no one's.
    """
    files.remove_leftovers(
        directory(cache_dir), _TMP, lock_path,
        'an interrupted write', blocking=False)
    try:
        names = os.listdir(directory(cache_dir))
    except FileNotFoundError:
        return
    for name in names:
        base_name = _match(_BASE_NAME, name)
        if base_name is None or os.path.exists(
                os.path.join(cache_dir, base_name)):
            continue

        @utils.synchronized(base_name, external=True, lock_path=lock_path,
                            blocking=False)
        def _locked_remove():
            # Again under the lock: a fetch may have ended meanwhile.
            if not os.path.exists(os.path.join(cache_dir, base_name)):
                LOG.info('Removing digest file %s: its base file is gone',
                         path(cache_dir, base_name))
                fileutils.delete_if_exists(path(cache_dir, base_name))

        try:
            _locked_remove()
        except lockutils.AcquireLockFailedException:
            continue


def _match(pattern, name):
    match = pattern.match(name)
    return match.group(1) if match else None
