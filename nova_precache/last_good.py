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

"""The last good critical list, kept across nova-compute restarts.

nova-compute keeps the last list it could use in
``<instances_path>/_base/precache/critical-images.json``, beside the
catalog, so that a critical list unreadable at start-up does not unpin
every image until it is fixed. The file is JSON: where the list was read
from and when, and its [image UUID, note] pairs in the file's order. It
is replaced atomically; what a crash left is removed by the next save; a
corrupt one is logged and ignored.
"""

import json
import os

from oslo_log import log as logging

from nova_precache import files

LOG = logging.getLogger(__name__)

FILENAME = 'critical-images.json'
_LOCK = 'precache-critical-images'


def record(source, read_at, images):
    """What ``write`` keeps of the list {image_id: note} read from source."""
    return {'version': 1, 'source': source, 'read_at': read_at,
            'images': [[image_id, note] for image_id, note in images.items()]}


def read(state_dir):
    """The record kept in ``state_dir``, or {} if none (or None given)."""
    if state_dir is None:
        return {}
    path = os.path.join(state_dir, FILENAME)
    try:
        with open(path, encoding='utf-8') as f:
            kept = json.load(f)
        if not (isinstance(kept['source'], str) and
                isinstance(kept['read_at'], str) and
                all(isinstance(i, str) and isinstance(n, str)
                    for i, n in kept['images'])):
            raise ValueError('not a list of [image UUID, note]')
        return kept
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        LOG.error('Discarding the corrupt last good critical list %(path)s: '
                  '%(error)s', {'path': path, 'error': e})
        return {}


def write(state_dir, lock_path, kept):
    """Keep ``kept`` in ``state_dir``; False if there is no cache yet.

    Without ``_base`` nothing is cached that aging could remove, and the
    directory is not ours to make: the caller tries again later.
    """
    if not os.path.isdir(os.path.dirname(state_dir)):
        return False
    files.write_locked(os.path.join(state_dir, FILENAME),
                       json.dumps(kept, indent=1).encode('utf-8'), _LOCK,
                       lock_path, 'an interrupted save of the critical list')
    return True
