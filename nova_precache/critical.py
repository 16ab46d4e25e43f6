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

"""The operator's list of mission-critical images: its format.

One image UUID per line, optionally followed by a free-text note; blank
lines and lines starting with ``#`` are ignored::

    # image UUID                          note
    5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e  base OS for the billing cluster

The file is taken as operators' editors write it: a leading UTF-8
byte-order mark is ignored and lines may end in LF, CRLF or CR. It is
decoded line by line, as UTF-8: a line that is not UTF-8 keeps its image
(UUIDs are ASCII) and shows its note with replacement characters, as it
does control characters. A line that names no image, or repeats one, is
reported with its line number and skipped.

The file is read with ``bounded_read``: only a regular file (or a symlink
to one), at most ``MAX_BYTES``, waiting at most ``READ_TIMEOUT`` seconds.
1 MiB holds some 28,000 bare UUIDs, far more than a cache holds, so a
larger file is a mistake (a log or an image at the wrong path), not worth
nova-compute's memory. A healthy file system reads a file that size in
milliseconds; 5 seconds also waits out a slow NFS server, and is what a
hung one costs a periodic task, once.

``CriticalImages`` is the list nova-compute goes by (below); the edits
of ``nova-precache critical`` are in ``critical_edit``.
"""

import codecs
import collections
import os
import re
import threading

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_precache import bounded_read
from nova_precache import last_good

LOG = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024
READ_TIMEOUT = 5

# The most of a bad value a message quotes.
_SHOWN = 40
# The form Glance gives image IDs. uuidutils.is_uuid_like would also take
# the 32-digit form and braces, and is much slower on a long list.
_IMAGE_ID = re.compile('[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                       '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')


class Parsed(collections.namedtuple('Parsed', 'images problems')):
    """A file's {image_id: note}, in order, and [(line, problem, bad)].

    ``bad`` problems are lines that name no image; the others (a repeat,
    a note that is not UTF-8) lose nothing the file meant.
    """

    @property
    def malformed(self):
        return sum(1 for _, _, bad in self.problems if bad)

    @property
    def unusable(self):
        """Why the file cannot stand for the list, or None.

        A file in which no line names an image while some lines name none
        is a broken file, not a deliberate empty list: a file with no
        lines, or comments only, is the latter.
        """
        if self.images or not self.malformed:
            return None
        return ('no line names an image and %d %s malformed'
                % (self.malformed,
                   'line is' if self.malformed == 1 else 'lines are'))


def is_image_id(value):
    """Whether ``value`` is a canonical image UUID (one image, one form)."""
    return _IMAGE_ID.fullmatch(value) is not None


def _shown(value):
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + '...')


def _printable(note):
    return ''.join(c if c.isprintable() else ' ' if c.isspace() else
                   '\ufffd' for c in note).strip()


def decode(number, raw):
    """(text, is UTF-8) of line ``number``'s bytes, without its BOM."""
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode('utf-8'), True
    except UnicodeDecodeError:
        return raw.decode('utf-8', 'replace'), False


def parse(data):
    """The Parsed list of the file's bytes ``data``."""
    images = collections.OrderedDict()
    problems = []
    for number, raw in enumerate(data.splitlines(), 1):
        text, utf8 = decode(number, raw)
        fields = text.split(None, 1)
        if not fields or fields[0].startswith('#'):
            continue
        value = fields[0].lower()
        if not is_image_id(value):
            problems.append((number, '%s is not an image UUID%s; line '
                             'skipped' % (_shown(fields[0]), '' if utf8 else
                                          ' (the line is not UTF-8)'), True))
            continue
        if value in images:
            problems.append((number, 'image %s is listed twice; line '
                             'skipped' % value, False))
            continue
        images[value] = _printable(fields[1]) if len(fields) > 1 else ''
        if not utf8:
            problems.append((number, 'the line is not UTF-8: image %s is '
                             'kept, its note shows replacement characters'
                             % value, False))
    return Parsed(images, problems)


def log_problems(path, parsed):
    for number, problem, _ in parsed.problems:
        LOG.warning('%(path)s:%(line)d: %(problem)s',
                    {'path': path, 'line': number, 'problem': problem})


def read_bytes(path, unchanged=None):
    """(os.stat_result, bytes) of the file, or (stat, None) if unchanged.

    :raises OSError: the file cannot be read (bounded_read.Refused for
        one that is not a regular file, too large, or not answering).
    """
    return bounded_read.read(path, MAX_BYTES, READ_TIMEOUT, unchanged)


# The list nova-compute goes by.


class CriticalImages(object):
    """The list of ``[precache] critical_images_file`` that nova-compute uses.

    The file is read again whenever it changes (inode, mtime or size). A
    file that cannot be read, or that is ``Parsed.unusable``, keeps the
    last good list, and says so once per change of the file, at ERROR; an
    empty or comments-only file is a deliberate "nothing is critical", and
    is honoured.

    The last good list outlives nova-compute: it is kept in ``state_dir``
    (``<instances_path>/_base/precache``, beside the catalog) and read from
    there when the file is unusable at start-up, so that a restart cannot
    let nova's aging remove a critical image no instance uses. With
    ``read_only`` (the command line's plan and status) the kept list is
    used but never written: it is nova-compute's.

    :param state_dir: None keeps the last good list in memory only.
    :param lock_path: where the lock of the kept list lives (nova's lock
        directory); by default ``state_dir``.
    """

    def __init__(self, state_dir=None, lock_path=None, read_only=False):
        self.state_dir = state_dir
        self.lock_path = lock_path or state_dir
        self.read_only = read_only
        # Passes and the resource tracker's stats may load at once.
        self._lock = threading.Lock()
        self._stamp = None      # (path, bounded_read.Stamp) last parsed
        self._images = None     # the last good list, None until known
        self._read_at = None
        self._origin = ''       # where it came from, for the log
        self._kept = None       # the record in state_dir, {} if none
        self._dirty = False     # the last good list is not kept yet
        self._keep_error = None
        self._logged = None     # the fallback last logged

    def load(self, path):
        """Return the current {image_id: note}, re-reading a changed file."""
        if not path:
            self._stamp = None
            return collections.OrderedDict()
        with self._lock:
            images = self._load(path)
            if self._dirty:
                self._keep(path)
            return images

    def _load(self, path):
        unchanged = None
        if self._stamp is not None and self._stamp[0] == path:
            unchanged = self._stamp[1]
        try:
            st, data = read_bytes(path, unchanged)
        except OSError as e:
            self._stamp = None
            return self._fall_back(path, None, e.strerror or str(e))
        if data is None:
            return self._images
        stamp = bounded_read.stamp(st)
        self._stamp = (path, stamp)
        parsed = parse(data)
        log_problems(path, parsed)
        if parsed.unusable:
            return self._fall_back(path, stamp, parsed.unusable)
        self._images = parsed.images
        self._read_at = timeutils.utcnow().isoformat()
        self._origin = ', read at %s' % self._read_at
        self._logged = None
        LOG.info('Critical images file %(path)s: %(count)d images',
                 {'path': path, 'count': len(self._images)})
        kept = self._kept_record()
        self._dirty = (kept.get('source') != path or
                       kept.get('images') != last_good.record(
                           path, None, self._images)['images'])
        return self._images

    def _fall_back(self, path, stamp, reason):
        if self._images is None:
            kept = self._kept_record()
            self._images = collections.OrderedDict(kept.get('images', ()))
            self._origin = (', as read from %s at %s and kept in %s' % (
                kept['source'], kept['read_at'], self.state_dir)
                if kept else ', none read yet')
        if self._logged != (path, stamp, reason):
            self._logged = (path, stamp, reason)
            LOG.error('Critical images file %(path)s is not used: '
                      '%(reason)s. Keeping the last good list: %(count)d '
                      'images%(origin)s',
                      {'path': path, 'reason': reason,
                       'count': len(self._images), 'origin': self._origin})
        return self._images

    def _kept_record(self):
        """The last good list kept in state_dir, {} if none (read once)."""
        if self._kept is None:
            self._kept = last_good.read(self.state_dir)
        return self._kept

    def _keep(self, path):
        """Write the last good list to state_dir, if nova-compute's."""
        if self.state_dir is None or self.read_only:
            return
        record = last_good.record(path, self._read_at, self._images)
        try:
            if not last_good.write(self.state_dir, self.lock_path, record):
                return
        except OSError as e:
            # Not the message: it names a random temporary file.
            error = e.strerror or str(e)
            if error != self._keep_error:
                LOG.error('Cannot keep the last good critical list in '
                          '%(file)s: %(error)s. A restart while %(path)s is '
                          'unusable would start without it.',
                          {'file': os.path.join(self.state_dir,
                                                last_good.FILENAME),
                           'error': error, 'path': path})
            self._keep_error = error
            return
        self._kept, self._dirty, self._keep_error = record, False, None
