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

"""Copy an image's base file from a peer compute, checked as a download is.

The copy goes through nova's own channel between computes, the one a
resize or cold migration uses: ``libvirt_utils.copy_image`` with ``[libvirt]
remote_filesystem_transport`` (scp or rsync over ssh, as the nova user, to
the peer's address). Every compute has the same instances_path, so the
peer's base file and its digest file (``nova_precache.digest``) are named
from the image ID here; nothing the peer sends names a path.

The copy is written to ``<base file>.part``, the name nova's download
uses (rsync writes ``.<base file>.part.XXXXXX`` first), under nova's lock
for the base file, and becomes the base file only after checks that a
corrupt or hostile file cannot pass: a regular file, the size and SHA-256
its digest file records (the copy is stopped as soon as it brings more),
nova's format inspection (no backing file, no data file, the format the
base file must have), and Glance's own hash where the base file is
Glance's bytes unconverted. A copy that fails any of them is removed, and
the next peer is tried.
"""

import collections
import os
import re
import shutil
import stat
import tempfile
import threading
import time

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import fileutils

from nova import exception
from nova import utils
from nova.virt.libvirt import imagecache
from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import basefile
from nova_precache import conf
from nova_precache import digest
from nova_precache import files

LOG = logging.getLogger(__name__)
CONF = conf.CONF

Peer = collections.namedtuple('Peer', ['host', 'address'])

PART = '.part'
# What rsync writes before renaming to the .part file.
_RSYNC_TMP = re.compile(r'^\.([0-9a-f]{40})\.part\.[A-Za-z0-9]{6}$')
_WATCH_INTERVAL = 0.05


class PeerCopyFailed(exception.NovaException):
    msg_fmt = 'No peer could provide image %(image_id)s: %(reasons)s'


def base_dir():
    return os.path.join(CONF.instances_path,
                        CONF.image_cache.subdirectory_name)


def copy_from_peers(context, image_id, peers, meta=None, cache_dir=None,
                    lock_path=None):
    """Copy ``image_id``'s base file from the first of ``peers`` that can.

    :param context: the caller's, as for a download; the copy itself runs
        as the nova user over ssh and needs no credentials.
    :param peers: Peer(host, address) tuples, in the order to try them.
    :param meta: what is known of the image (the catalog's metadata, or
        the instance's image properties): its ``disk_format`` decides the
        format the base file must have; Glance's ``size`` and hashes are
        checked too where the base file is Glance's bytes unconverted.
    :returns: the host name of the peer whose copy is now the base file,
        or None if the base file was there already.
    :raises: PeerCopyFailed naming every peer tried and why it failed;
        ImageUnacceptable if nothing here says what format the base file
        must have (``disk_format`` unknown, no ``force_raw_images``).
    """
    cache_dir = cache_dir or base_dir()
    lock_path = lock_path or os.path.join(CONF.instances_path, 'locks')
    base_name = imagecache.get_cache_fname(image_id)

    @utils.synchronized(base_name, external=True, lock_path=lock_path)
    def _locked_copy():
        return copy_locked(image_id, peers, meta, cache_dir)

    return _locked_copy()


def copy_locked(image_id, peers, meta=None, cache_dir=None):
    """copy_from_peers() for a caller holding nova's lock for the file."""
    cache_dir = cache_dir or base_dir()
    base = os.path.join(cache_dir, imagecache.get_cache_fname(image_id))
    if os.path.exists(base):
        return None
    fileutils.ensure_tree(cache_dir)
    expected = basefile.Expected(image_id, meta or {})
    _remove_partial(base)
    reasons = []
    for host, address in peers:
        started = time.monotonic()
        try:
            _copy(address, base, expected)
        except (basefile.Rejected, OSError,
                processutils.ProcessExecutionError,
                exception.NovaException) as e:
            why = _reason(e)
            LOG.warning('Not using image %(image)s from peer %(peer)s '
                        '(%(address)s): %(why)s',
                        {'image': image_id, 'peer': host,
                         'address': address, 'why': why})
            reasons.append('%s: %s' % (host, why))
            continue
        finally:
            _remove_partial(base)
        LOG.info('Copied image %(image)s from peer %(peer)s (%(address)s) '
                 'in %(seconds).1f s',
                 {'image': image_id, 'peer': host, 'address': address,
                  'seconds': time.monotonic() - started})
        return host
    raise PeerCopyFailed(image_id=image_id,
                         reasons='; '.join(reasons) or 'no peer to ask')


def _copy(address, base, expected):
    """Copy and check the peer's file; make it the base file."""
    cache_dir, base_name = os.path.split(base)
    remote_digest = digest.path(cache_dir, base_name)
    with tempfile.TemporaryDirectory() as tmp:
        local_digest = os.path.join(tmp, base_name)
        _transfer(remote_digest, local_digest, address, digest.MAX_BYTES,
                  lambda: _sizes(tmp, lambda name: True), 'digest file')
        try:
            sha256, size = digest.read(local_digest)
        except (OSError, digest.BadDigestFile) as e:
            raise basefile.Rejected('its digest file is unusable: %s' % e)
    try:
        expected.check_size(size)
    except basefile.Rejected as e:
        raise basefile.Rejected('its digest file says %s' % e)
    part = base + PART
    _transfer(base, part, address, size,
              lambda: _sizes(cache_dir, lambda name: _partial_of(name) ==
                             base_name),
              'base file')
    expected.check(part, sha256, size)
    os.chmod(part, 0o644)
    # Durable before it is named a base file: scp and rsync do not sync,
    # and after a crash a base file must not be torn.
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # The digest first: a crash between the two leaves a digest file with
    # no base file, which the pass removes, never a base file without one.
    digest.record(cache_dir, base_name, sha256, size)
    os.rename(part, base)


def _transfer(remote, local, address, limit, written, what):
    """nova's copy of ``remote`` on ``address`` to ``local``, bounded.

    Stopped as soon as ``written()`` passes ``limit`` bytes: a peer cannot
    fill this host's disk with a file larger than it says.
    """
    watch = _Watch(limit, written)
    try:
        # Uncompressed: a raw disk's data is mostly incompressible, and
        # compressing it costs more CPU than a datacenter network saves.
        libvirt_utils.copy_image(remote, local, host=address, receive=True,
                                 on_execute=watch.start,
                                 on_completion=watch.stop, compression=False)
    except processutils.ProcessExecutionError:
        if watch.exceeded is not None:
            raise basefile.Rejected(
                'its %s has more than the %d bytes expected: the copy was '
                'stopped at %d' % (what, limit, watch.exceeded))
        raise
    finally:
        watch.stop()


class _Watch(object):
    """Kills a copy whose files grow beyond a limit."""

    def __init__(self, limit, written):
        self.limit = limit
        self.written = written
        self.exceeded = None
        self._done = threading.Event()
        self._thread = None

    def start(self, process):
        self._thread = threading.Thread(target=self._run, args=(process,),
                                        name='precache-peer-watch',
                                        daemon=True)
        self._thread.start()

    def stop(self, process=None):
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, process):
        while not self._done.wait(_WATCH_INTERVAL):
            written = self.written()
            if written > self.limit:
                self.exceeded = written
                process.kill()
                return


def _sizes(directory, wanted):
    """Bytes written to the files of ``directory`` that ``wanted`` names.

    A directory counts with the files it holds: ``copy_image`` copies
    recursively, and a peer may have one where its base file should be.
    A hole rsync skips takes no disk space, and counts once it is
    written past.
    """
    total = 0
    for name in os.listdir(directory):
        if not wanted(name):
            continue
        path = os.path.join(directory, name)
        paths = [path]
        for parent, _, names in os.walk(path):
            paths += [os.path.join(parent, child) for child in names]
        for each in paths:
            try:
                st = os.lstat(each)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _rsync_tmp_of(name):
    match = _RSYNC_TMP.match(name)
    return match.group(1) if match else None


def _partial_of(name):
    """The base file name whose copy writes ``name``, or None."""
    if name.endswith(PART) and len(name) == 40 + len(PART):
        return name[:40]
    return _rsync_tmp_of(name)


def _remove_partial(base):
    """Remove what a copy (or a crash) left of ``base``; under its lock."""
    cache_dir, base_name = os.path.split(base)
    for name in os.listdir(cache_dir):
        if _partial_of(name) == base_name:
            path = os.path.join(cache_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


def _reason(error):
    if isinstance(error, processutils.ProcessExecutionError):
        lines = [line.strip() for line in (error.stderr or '').splitlines()
                 if line.strip()]
        return '%s failed (exit code %s): %s' % (
            error.cmd.split()[0] if error.cmd else 'the copy',
            error.exit_code, ' '.join(lines)[:400] or 'no message')
    return str(error)


def remove_leftovers(cache_dir, lock_path):
    """Remove what interrupted peer copies left in ``cache_dir``.

    Their ``.part`` files are the download's (``fetch.remove_leftovers``
    takes them); rsync's own temporary files, which a killed copy leaves,
    and digest files whose base file nova has removed, go here. A copy
    under way holds its base file's lock and is left alone.
    """
    files.remove_leftovers(cache_dir, _RSYNC_TMP, lock_path,
                           'an interrupted peer copy', blocking=False)
    digest.remove_leftovers(cache_dir, lock_path)
