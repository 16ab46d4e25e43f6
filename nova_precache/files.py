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

"""The small file idioms the cache relies on, written once.

Each guards one promise: a reader sees the old file or the new one, never
a torn one (``replace``); what a crash left behind goes, but never a file
someone is writing now (``remove_leftovers``, and both for a small state
file, ``write_locked``); the mtime nova ages by is
freshened under nova's own lock for the file (``touch``).
"""

import os
import re
import tempfile

from oslo_concurrency import lockutils
from oslo_log import log as logging

import nova.privsep.path
from nova import utils

LOG = logging.getLogger(__name__)


def replace(path, data, prefix, like=None, mode=0o644):
    """Replace ``path`` by ``data`` (bytes) atomically and durably.

    The temporary file is ``prefix`` + random in the same directory, so
    that ``remove_leftovers`` can find what a crash left. ``like``, an
    ``os.stat_result``, gives the new file that mode and owner.
    """
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if like is None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, like.st_mode & 0o7777)
            if (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(tmp, like.st_uid, like.st_gid)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def remove_leftovers(directory, pattern, lock_path, what, blocking=True,
                     lock_name=None):
    """Remove the files of ``directory`` a crash left behind.

    :param pattern: compiled regular expression that the names of such
        files match; its first group names the lock that guards the file
        (its base file's), unless ``lock_name`` is given.
    :param what: how the log says they came to be left, e.g. "an
        interrupted download".
    :param blocking: wait for a lock held by someone else; if False, a
        file whose lock is taken is being written now and is left alone.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        leftover = os.path.join(directory, name)

        @utils.synchronized(lock_name or match.group(1), external=True,
                            lock_path=lock_path, blocking=blocking)
        def _locked_remove():
            if os.path.exists(leftover):
                LOG.info('Removing %(path)s left by %(what)s',
                         {'path': leftover, 'what': what})
                os.unlink(leftover)

        try:
            _locked_remove()
        except lockutils.AcquireLockFailedException:
            LOG.debug('Not removing %s: it is being written', leftover)


def write_locked(path, data, lock_name, lock_path, what):
    """``replace`` a small state file under nova's lock ``lock_name``.

    What a crash left of an earlier write (``.<name>.*`` beside it) goes
    first, under the same lock, so never a write under way.
    :param what: how the log says leftovers came to be, as for
        ``remove_leftovers``.
    """
    directory, name = os.path.split(path)
    prefix = '.%s.' % os.path.splitext(name)[0]
    remove_leftovers(directory, re.compile(re.escape(prefix)), lock_path,
                     what, lock_name=lock_name)

    @utils.synchronized(lock_name, external=True, lock_path=lock_path)
    def _locked_write():
        os.makedirs(directory, exist_ok=True)
        replace(path, data, prefix)

    _locked_write()


def touch(path, lock_path, lock_name=None):
    """Freshen ``path``'s mtime under nova's lock for its base file.

    ``lock_name`` is that base file's name (by default ``path``'s). A file
    gone meanwhile is no error; one libvirt gave to the qemu user is
    touched through privsep, as nova does.
    """
    @utils.synchronized(lock_name or os.path.basename(path), external=True,
                        lock_path=lock_path)
    def _locked_touch():
        try:
            os.utime(path)
        except FileNotFoundError:
            pass
        except PermissionError:
            nova.privsep.path.utime(path)

    _locked_touch()
