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

"""The operator's list of mission-critical images.

One image UUID per line, optionally followed by a free-text note; blank
lines and lines starting with ``#`` are ignored::

    # image UUID                          note
    5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e  base OS for the billing cluster

Operators edit the file while nova-compute runs: it is read again whenever
its modification time or size changes. Nothing in it can stop the pass: a
bad line is logged with its line number and skipped, and a file that cannot
be read keeps the last list read successfully.

``add()`` and ``remove()`` edit the file for ``nova-precache critical``:
under a lock, keeping every other line as it is, and replacing the file
atomically so that nova-compute reads the old list or the new one.
"""

import collections
import os
import tempfile

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import uuidutils

LOG = logging.getLogger(__name__)


HEADER = """\
# Mission-critical images: always cached, never aged out.
# One image UUID per line, optionally followed by a note.
"""


class EditError(ValueError):
    """An edit of the critical list that cannot be made, and why."""


def _is_image_id(value):
    return uuidutils.is_uuid_like(value) and len(value) == 36


def image_id(value):
    """The canonical form of image UUID ``value``; EditError if it is not."""
    if not _is_image_id(value):
        raise EditError('%r is not an image UUID (expected the form '
                        'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)' % value)
    return value.lower()


def add(path, value, note=''):
    """Append image ``value`` with ``note``; the file is made if missing."""
    new_id = image_id(value)
    if note and (not note.isprintable() or note != note.strip()):
        raise EditError('the note must be one line of printable text '
                        'without surrounding blanks: %r' % note)

    def _add(lines):
        for number, listed in _listed(lines):
            if listed == new_id:
                raise EditError('image %s is already listed in %s (line %d)'
                                % (new_id, path, number))
        line = '%s  %s' % (new_id, note) if note else new_id
        return (lines or HEADER.splitlines()) + [line]

    _edit(path, _add, create=True)


def remove(path, value):
    """Remove every line that lists image ``value``."""
    old_id = image_id(value)

    def _remove(lines):
        drop = {number for number, listed in _listed(lines)
                if listed == old_id}
        if not drop:
            raise EditError('image %s is not listed in %s' % (old_id, path))
        return [line for number, line in enumerate(lines, 1)
                if number not in drop]

    _edit(path, _remove)


def _listed(lines):
    """(line number, lower-cased first field) of the lines naming images."""
    for number, line in enumerate(lines, 1):
        fields = line.split(None, 1)
        if fields and not fields[0].startswith('#'):
            yield number, fields[0].lower()


def _edit(path, change, create=False):
    """Replace ``path`` by ``change(its lines)``, atomically, under a lock."""
    directory, name = os.path.split(os.path.abspath(path))
    with lockutils.external_lock('.%s.lock' % name, lock_path=directory):
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.read().splitlines()
            st = os.stat(path)
        except FileNotFoundError:
            if not create:
                raise
            lines, st = [], None
        new_lines = change(lines)
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, dir=directory)
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(''.join(line + '\n' for line in new_lines))
                f.flush()
                os.fsync(f.fileno())
            if st is not None:
                os.chmod(tmp, st.st_mode & 0o7777)
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    os.chown(tmp, st.st_uid, st.st_gid)
            else:
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def parse(path, lines):
    """Return an ordered {image_id: note} from the lines of the file."""
    images = collections.OrderedDict()
    for number, line in enumerate(lines, 1):
        fields = line.split(None, 1)
        if not fields or fields[0].startswith('#'):
            continue
        image_id = fields[0].lower()
        if not _is_image_id(image_id):
            LOG.warning('%(path)s:%(line)d: %(value)r is not an image UUID; '
                        'line skipped',
                        {'path': path, 'line': number, 'value': fields[0]})
            continue
        if image_id in images:
            LOG.warning('%(path)s:%(line)d: image %(image)s is listed '
                        'twice; line skipped',
                        {'path': path, 'line': number, 'image': image_id})
            continue
        images[image_id] = fields[1].strip() if len(fields) > 1 else ''
    return images


class CriticalImages(object):
    """The critical list named by ``[precache] critical_images_file``."""

    def __init__(self):
        self._path = None
        self._stamp = None
        self._images = collections.OrderedDict()
        self._error = None

    def load(self, path):
        """Return the current {image_id: note}, re-reading a changed file."""
        if not path:
            self._path, self._stamp = None, None
            self._images = collections.OrderedDict()
            return self._images
        try:
            st = os.stat(path)
            stamp = (path, st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self._stamp:
                with open(path, encoding='utf-8') as f:
                    self._images = parse(path, f.read().splitlines())
                self._stamp = stamp
                LOG.info('Critical images file %(path)s: %(count)d images',
                         {'path': path, 'count': len(self._images)})
            self._error = None
        except (OSError, ValueError) as e:
            # ValueError: undecodable bytes, or a NUL in the path. Logged
            # once, not at every pass and stats update, until it changes.
            if str(e) != self._error:
                LOG.error('Cannot read critical images file %(path)s, '
                          'keeping the %(count)d images read before: '
                          '%(error)s', {'path': path,
                                        'count': len(self._images),
                                        'error': e})
            self._error = str(e)
            self._stamp = None
        return self._images
