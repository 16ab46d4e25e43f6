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
"""

import collections
import os

from oslo_log import log as logging
from oslo_utils import uuidutils

LOG = logging.getLogger(__name__)


def parse(path, lines):
    """Return an ordered {image_id: note} from the lines of the file."""
    images = collections.OrderedDict()
    for number, line in enumerate(lines, 1):
        fields = line.split(None, 1)
        if not fields or fields[0].startswith('#'):
            continue
        image_id = fields[0].lower()
        if not uuidutils.is_uuid_like(image_id) or len(image_id) != 36:
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
        except (OSError, ValueError) as e:
            # ValueError: undecodable bytes, or a NUL in the path.
            LOG.error('Cannot read critical images file %(path)s, keeping '
                      'the %(count)d images read before: %(error)s',
                      {'path': path, 'count': len(self._images), 'error': e})
            self._stamp = None
        return self._images
