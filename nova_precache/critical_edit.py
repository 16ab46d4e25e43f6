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

"""Edits of the critical list for ``nova-precache critical add|remove``.

Under a lock, on the file's bytes, so that every other line (its
encoding, its byte-order mark, its line ending) stays exactly as it was;
the file is replaced atomically, so that nova-compute reads the old list
or the new one. A symlink is kept: the file it names is edited. The file
is read as nova-compute reads it (``critical.read_bytes``): a FIFO, a
directory or a huge file is refused, not waited for.
"""

import codecs
import os

from oslo_concurrency import lockutils

from nova_precache import critical
from nova_precache import files

HEADER = b"""\
# Mission-critical images: always cached, never aged out.
# One image UUID per line, optionally followed by a note.
"""

_ENDINGS = (b'\r\n', b'\n', b'\r')


class EditError(ValueError):
    """An edit of the critical list that cannot be made, and why."""


def image_id(value):
    """The canonical form of image UUID ``value``; EditError if it is not."""
    if not critical.is_image_id(value):
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
                raise EditError('image %s is already listed in %s (line '
                                '%d)' % (new_id, path, number))
        ending = next((e for line in reversed(lines) for e in _ENDINGS
                       if line.endswith(e)), b'\n')
        if not lines:
            lines = HEADER.splitlines(keepends=True)
        elif not lines[-1].endswith(_ENDINGS):
            lines[-1] += ending
        line = '%s  %s' % (new_id, note) if note else new_id
        return lines + [line.encode('utf-8') + ending]

    _edit(path, _add, create=True)


def remove(path, value):
    """Remove every line that lists image ``value``."""
    old_id = image_id(value)

    def _remove(lines):
        drop = {number for number, listed in _listed(lines)
                if listed == old_id}
        if not drop:
            raise EditError('image %s is not listed in %s'
                            % (old_id, path))
        return [line for number, line in enumerate(lines, 1)
                if number not in drop]

    _edit(path, _remove)


def _listed(lines):
    """(line number, lower-cased first field) of the lines naming images."""
    for number, raw in enumerate(lines, 1):
        fields = critical.decode(number, raw)[0].split(None, 1)
        if fields and not fields[0].startswith('#'):
            yield number, fields[0].lower()


def _edit(path, change, create=False):
    """Replace ``path`` by ``change(its lines)``, atomically, under a lock.

    Lines are bytes with their ending: what ``change`` leaves alone is
    written back as it was read, after the byte-order mark if the file
    has one.
    """
    path = os.path.realpath(path)
    directory, name = os.path.split(path)
    with lockutils.external_lock('.%s.lock' % name, lock_path=directory):
        try:
            st, data = critical.read_bytes(path)
        except FileNotFoundError:
            if not create:
                raise
            st, data = None, b''
        # The byte-order mark is the file's, not its first line's.
        bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b''
        lines = data[len(bom):].splitlines(keepends=True)
        files.replace(path, bom + b''.join(change(lines)), '.%s.' % name,
                      like=st)
