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

"""What this host knows of the images in its cache, kept on disk.

A base file is named by a one-way hash of its image ID, so the ID of a file
in ``_base`` cannot be recovered from its name: the catalog records it, with
the image metadata the pass learned from Glance, so that later passes (and
restarts) need not ask Glance again. It lives in ``_base/precache/``, which
nova's cache manager ignores, and is replaced atomically: a reader sees the
old file or the new one, never a torn one. A corrupt catalog is discarded
and rebuilt from the next passes.
"""

import json
import os
import re

from oslo_log import log as logging
from oslo_utils import timeutils

from nova import utils
from nova.virt.libvirt import imagecache

from nova_precache import files

LOG = logging.getLogger(__name__)

DIRNAME = 'precache'
FILENAME = 'catalog.json'
_TMP_PREFIX = '.catalog.'
_LOCK = 'precache-catalog'
_TMP = re.compile(re.escape(_TMP_PREFIX))
# The image metadata worth keeping: what ranking, budget and checks use.
FIELDS = ('name', 'size', 'virtual_size', 'owner', 'disk_format',
          'container_format', 'checksum', 'os_hash_algo', 'os_hash_value',
          'is_public', 'status', 'created_at', 'visibility', 'os_hidden')


def stamp(cache_dir):
    """What changes whenever the catalog file is replaced, or None."""
    try:
        st = os.stat(os.path.join(cache_dir, DIRNAME, FILENAME))
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class Catalog(object):

    def __init__(self, cache_dir, lock_path):
        self.cache_dir = cache_dir
        self.lock_path = lock_path
        self.path = os.path.join(cache_dir, DIRNAME, FILENAME)
        self.images = self._read()
        self._changed = set()

    def _read(self):
        try:
            with open(self.path, encoding='utf-8') as f:
                images = json.load(f)['images']
            if not isinstance(images, dict) or not all(
                    isinstance(v, dict) for v in images.values()):
                raise ValueError('"images" is not a mapping of mappings')
            return images
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            LOG.error('Discarding corrupt image catalog %(path)s: %(error)s',
                      {'path': self.path, 'error': e})
            return {}

    def base_file(self, image_id):
        return os.path.join(self.cache_dir,
                            imagecache.get_cache_fname(image_id))

    def metadata(self, image_id):
        """The metadata learned from Glance, or None if never asked."""
        entry = self.images.get(image_id)
        return entry if entry and 'learned_at' in entry else None

    def record(self, image_id):
        """Note that the cache holds (or is about to hold) ``image_id``."""
        if image_id not in self.images:
            self.images[image_id] = {}
            self._changed.add(image_id)

    def note_source(self, image_id, source):
        """Where the base file came from: Glance, or ``peer <host>``."""
        self.images.setdefault(image_id, {})['source'] = source
        self._changed.add(image_id)

    def source(self, image_id):
        return (self.images.get(image_id) or {}).get('source')

    def learn(self, image_id, image_meta):
        entry = {k: image_meta.get(k) for k in FIELDS}
        if hasattr(entry.get('created_at'), 'isoformat'):
            # nova's image API gives a datetime, a listing Glance's string.
            entry['created_at'] = entry['created_at'].isoformat()
        if self.source(image_id):
            entry['source'] = self.source(image_id)
        entry['learned_at'] = timeutils.utcnow().isoformat()
        self.images[image_id] = entry
        self._changed.add(image_id)

    def cached(self):
        """IDs of recorded images whose base file is present."""
        return [image_id for image_id in self.images
                if os.path.exists(self.base_file(image_id))]

    def save(self):
        """Merge what this process learned into the file, atomically.

        Temporary files that a crash left behind in an earlier save go,
        whether or not there is anything to save.
        """
        directory = os.path.dirname(self.path)
        # Each under the lock, so never a save under way.
        files.remove_leftovers(directory, _TMP, self.lock_path,
                               'an interrupted catalog save', lock_name=_LOCK)

        @utils.synchronized(_LOCK, external=True, lock_path=self.lock_path)
        def _save():
            if not self._changed:
                return
            merged = self._read()
            merged.update((i, self.images[i]) for i in self._changed)
            os.makedirs(directory, exist_ok=True)
            files.replace(self.path, json.dumps(
                {'version': 1, 'images': merged}, indent=1,
                sort_keys=True).encode('utf-8'), _TMP_PREFIX)
            self.images = merged
            self._changed.clear()

        _save()
