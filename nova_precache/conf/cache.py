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

"""Options of the pre-caching pass on nova-compute: what to keep, within
which budget, fetched how."""

from oslo_config import cfg
from oslo_config import types

opts = [
    cfg.BoolOpt('enabled',
        default=False,
        help="""
Run the pre-caching pass after nova's own image cache bookkeeping.

Possible values:

* True: each image cache pass also ranks, keeps and fetches images.
* False: ``PrecacheImageCacheManager`` behaves exactly like nova's
  ``ImageCacheManager``, fetching and protecting nothing more.

Related options:

* ``compute_driver = precache.PrecacheLibvirtDriver``
"""),
    cfg.ListOpt('rankers',
        default=['critical', 'operator_owned', 'local_usage',
                 'cluster_usage'],
        help="""
Rankers that order the images to keep, highest priority first: images are
compared on the first ranker's score, ties broken by the next.

Possible values:

* A list of plug-in names of the ``nova_precache.rankers`` namespace;
  shipped: ``critical``, ``operator_owned``, ``local_usage``,
  ``cluster_usage``. An unknown name stops nova-compute at start-up.

Related options:

* ``critical_images_file``, ``operator_projects``
"""),
    cfg.StrOpt('critical_images_file',
        help="""
File listing mission-critical images: one image UUID per line, optionally
followed by a note; ``#`` starts a comment. Listed images are always
cached and never aged out. Changes are picked up at the next pass. A file
that cannot be read, or in which no line names an image while some lines
are malformed, keeps the last good list, which nova-compute keeps in
``<instances_path>/_base/precache/`` so that it outlives a restart.

Possible values:

* The path of a regular file, or of a symlink to one, of at most 1 MiB:
  UTF-8, a byte-order mark and CRLF line ends are taken; a note in another
  encoding shows with replacement characters. An empty file, or one of
  comments only, makes no image critical.
* Unset: no image is critical.

Related options:

* ``rankers`` (the ``critical`` ranker)
"""),
    cfg.ListOpt('operator_projects',
        default=[],
        help="""
Project IDs whose images the ``operator_owned`` ranker puts above images
uploaded by users.

Possible values:

* A list of project IDs; empty, no image is the operator's.

Related options:

* ``rankers`` (the ``operator_owned`` ranker)
"""),
    cfg.IntOpt('max_images',
        default=10,
        min=0,
        help="""
Most images the plan keeps in the cache. Images that local instances use
and critical images are kept even beyond this number.

Possible values:

* An integer of 0 or more; 0 keeps only what is in use or critical.

Related options:

* ``max_cache_gb``, ``min_free_disk_gb``
"""),
    cfg.FloatOpt('max_cache_gb',
        default=50.0,
        min=0.0,
        help="""
Most disk space, in GiB, that the whole image cache directory may use,
nova's own files included. The pass starts no fetch that would go beyond
it, except for critical images.

Possible values:

* A number of GiB, 0 or more.

Related options:

* ``max_images``, ``min_free_disk_gb``
"""),
    cfg.FloatOpt('min_free_disk_gb',
        default=10.0,
        min=0.0,
        help="""
Free disk space, in GiB, that must remain on the image cache's file system
after a fetch. The pass starts no fetch that would leave less, critical
images included: a full disk hurts every instance on the host.

Possible values:

* A number of GiB, 0 or more.

Related options:

* ``max_cache_gb``
"""),
    cfg.ListOpt('resize_target_sizes',
        item_type=types.Integer(min=1),
        default=[],
        help="""
Root disk sizes, in GiB, to build resize targets for, for every image the
plan keeps, besides the sizes local instances already use. A resize
target is the qcow2 root disk a spawn of that size needs, made in advance,
so that the spawn copies it instead of running qemu-img.

Possible values:

* A list of integers of 1 or more: the ``root_gb`` of the flavors this
  host runs. Empty: only the sizes local instances use.

Related options:

* ``max_images``
"""),
    cfg.IntOpt('fetch_concurrency',
        default=2,
        min=1,
        max=16,
        help="""
Most images fetched from Glance at the same time by one pass. Downloads
overlap on nova-compute's native threads (nova's default since 2026.2);
under its deprecated eventlet mode they take turns on the hash checks and
disk writes, and more than 1 gains little.

Possible values:

* An integer from 1 to 16.

Related options:

* ``[DEFAULT] concurrency_backend``, ``[glance] timeout``
"""),
]
