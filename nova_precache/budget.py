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

"""Cut the ranked plan to the host's budget.

Walking the plan best first, an image is kept while the plan holds fewer
than ``max_images`` images, and fetched if it is missing and its size
(Glance's, from the catalog) fits both under ``max_cache_gb`` for the whole
cache directory and above ``min_free_disk_gb`` of free disk. Images that
local instances use, and critical ones, are always kept and ignore
``max_images`` and ``max_cache_gb`` (the critical list wins over the
budget), but never the free-disk floor. The room they need is set aside
before any other image is kept, wherever they rank, so what falls off is
the lowest-ranked image that is neither in use nor critical. Nothing is
deleted here: an image left out is simply no longer protected, and nova's
own aging removes it once no instance uses it.
"""

import collections
import os
import stat

from oslo_utils import units

from nova_precache import conf
from nova_precache import fetch

CONF = conf.CONF

# Why an image that is missing and unknown to the catalog is not fetched:
# Glance has not told its size (yet).
NO_METADATA = 'no metadata from Glance'

Cut = collections.namedtuple('Cut', 'keep fetch left_out over_budget')
Cut.__doc__ = """The plan cut to budget.

``keep``: entries kept (present or to fetch), best first; ``fetch``: those
of them to download, best first; ``left_out``: (entry, why) pairs;
``over_budget``: whether images that must be kept exceed the budget.
"""


def cut(plan, must_keep, present, sizes, cache_bytes, free_bytes):
    """Apply the budget to ``plan``, a list of ranking.PlanEntry.

    :param must_keep: image IDs kept whatever the budget (in use, critical)
    :param present: image IDs whose base file is in the cache
    :param sizes: {image_id: bytes} of images not present
    :param cache_bytes: disk space the cache directory uses now
    :param free_bytes: free space on the cache's file system now
    """
    max_images = CONF.precache.max_images
    max_bytes = CONF.precache.max_cache_gb * units.Gi
    floor = CONF.precache.min_free_disk_gb * units.Gi
    keep, fetch, left_out = [], [], []
    # Room set aside for the must-keep images not walked yet.
    musts = [e.image_id for e in plan if e.image_id in must_keep]
    reserved_images = len(musts)
    reserved_bytes = sum(sizes.get(i) or 0 for i in musts
                         if i not in present)
    for entry in plan:
        image_id = entry.image_id
        must = image_id in must_keep
        size = sizes.get(image_id)
        if must:
            reserved_images -= 1
            if image_id not in present:
                reserved_bytes -= size or 0
        if not must and len(keep) + reserved_images >= max_images:
            why = 'beyond max_images=%d' % max_images
        elif image_id in present:
            why = None
        elif size is None:
            why = NO_METADATA
        elif free_bytes - size < floor:
            why = ('%d bytes would leave less than min_free_disk_gb=%g free'
                   % (size, CONF.precache.min_free_disk_gb))
        elif not must and cache_bytes + reserved_bytes + size > max_bytes:
            why = ('%d bytes would exceed max_cache_gb=%g'
                   % (size, CONF.precache.max_cache_gb))
        else:
            why = None
            fetch.append(entry)
            cache_bytes += size
            free_bytes -= size
        if why:
            left_out.append((entry, why))
        else:
            keep.append(entry)
    over = len(keep) > max_images or cache_bytes > max_bytes
    return Cut(keep, fetch, left_out, over)


def space_needed(meta):
    """Disk space a fetch of the image takes at most, or None if unknown.

    The download; and when nova converts it to raw, the raw file too
    (Glance's virtual_size), written while the download is still there. A
    compressed qcow2 of a few KiB may be GiBs of raw.
    """
    size = meta.get('size')
    if not isinstance(size, int):
        return None
    virtual_size = meta.get('virtual_size')
    if not fetch.unconverted(meta) and isinstance(virtual_size, int):
        return size + virtual_size
    return size


def cache_bytes(cache_dir):
    """Disk space the base files use.

    Not nova's get_disk_usage(): that counts what the cache takes from the
    instances' disk, and is 0 when the cache is on a file system of its own.
    """
    used = 0
    try:
        names = os.listdir(cache_dir)
    except FileNotFoundError:
        return 0
    for name in names:
        try:
            st = os.stat(os.path.join(cache_dir, name))
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            used += st.st_blocks * 512
    return used


def free_bytes(path):
    """Free space for the cache, before ``path`` exists too."""
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
