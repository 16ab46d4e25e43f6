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

"""What a host holds, as published in its compute node's ``stats``.

The driver adds one key to the stats that ``get_available_resource()``
returns; the resource tracker stores them in ``ComputeNode.stats``, where
the scheduler (``HostState.stats``) and the other computes
(``ComputeNodeList``) read them: no new service and no extra RPC.

``precache_images`` is a JSON object, image ID -> list of root disk sizes
(GiB) with a ready resize target, in the plan's order (best first, then the
rest). ``precache_critical`` is the JSON list of the host's critical
images. nova keeps only strings in stats, hence the JSON. At most
``MAX_IMAGES`` images of each are published (about 40 bytes each), so that
the stats every scheduler request reads stay small; the lowest-priority
images are dropped first.
"""

import json

from oslo_utils import uuidutils

KEY = 'precache_images'
CRITICAL_KEY = 'precache_critical'
MAX_IMAGES = 64


def encode(images, critical=()):
    """Stats entries: ``images`` ({image_id: [root_gb]}) and ``critical``."""
    kept = list(images.items())[:MAX_IMAGES]
    return {KEY: json.dumps(dict(kept), separators=(',', ':')),
            CRITICAL_KEY: json.dumps(list(critical)[:MAX_IMAGES],
                                     separators=(',', ':'))}


def decode(stats):
    """{image_id: set of target sizes} from a host's stats.

    A host that publishes nothing, or something malformed (a stock
    compute, another version), holds nothing as far as readers know.
    """
    try:
        published = json.loads((stats or {}).get(KEY) or '{}')
    except (TypeError, ValueError):
        return {}
    if not isinstance(published, dict):
        return {}
    return {image_id: {size for size in sizes
                       if isinstance(size, int) and size > 0}
            for image_id, sizes in published.items()
            if uuidutils.is_uuid_like(image_id) and isinstance(sizes, list)}


def decode_critical(stats):
    """The set of critical image IDs a host publishes; empty if none."""
    try:
        published = json.loads((stats or {}).get(CRITICAL_KEY) or '[]')
    except (TypeError, ValueError):
        return set()
    if not isinstance(published, list):
        return set()
    return {i for i in published
            if isinstance(i, str) and uuidutils.is_uuid_like(i)}
