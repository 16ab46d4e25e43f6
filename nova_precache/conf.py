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

"""Options of the ``[precache]`` group in nova.conf.

They are registered on nova's own CONF object, so nova-compute and
nova-scheduler read them from the files they already load.
"""

import glob
import math
import os

from oslo_config import cfg
from oslo_config import types

import nova.conf
from nova import exception

precache_group = cfg.OptGroup(
    'precache',
    title='Image pre-caching options',
    help="""
Options of the nova-precache plugin for the libvirt driver: which images
each compute node keeps ready in its image cache, and how the scheduler
uses what the nodes hold.
""")

precache_opts = [
    cfg.BoolOpt('enabled',
        default=False,
        help="""
Run the pre-caching pass after nova's own image cache bookkeeping.

When False, ``PrecacheImageCacheManager`` behaves exactly like nova's
``ImageCacheManager``: it fetches nothing and protects nothing beyond what
nova itself protects.
"""),
    cfg.ListOpt('rankers',
        default=['critical', 'operator_owned', 'local_usage',
                 'cluster_usage'],
        help="""
Rankers that order the images to keep, highest priority first.

Each name is a plug-in in the ``nova_precache.rankers`` namespace. Images
are compared on the first ranker's score, ties broken by the next one, and
so on. An unknown name stops nova-compute at start-up.
"""),
    cfg.StrOpt('critical_images_file',
        help="""
File listing mission-critical images: one image UUID per line, optionally
followed by a note; ``#`` starts a comment. Listed images are always cached
and never aged out. Changes are picked up at the next pass. A file that
cannot be read, or in which no line names an image while some lines are
malformed, keeps the last good list, which nova-compute keeps in
``<instances_path>/_base/precache/`` so that it outlives a restart.

Possible values:

* The path of a regular file, or of a symlink to one, of at most 1 MiB:
  UTF-8, a byte-order mark and CRLF line ends are taken; a note in another
  encoding shows with replacement characters. An empty file, or one of
  comments only, makes no image critical.
* Unset: no image is critical.
"""),
    cfg.ListOpt('operator_projects',
        default=[],
        help="""
Project IDs whose images are the cloud operator's own: the
``operator_owned`` ranker puts them above images uploaded by users.
"""),
    cfg.IntOpt('max_images',
        default=10,
        min=0,
        help="""
Most images the plan keeps in the cache. Images that local instances use
and critical images are kept even beyond this number.
"""),
    cfg.FloatOpt('max_cache_gb',
        default=50.0,
        min=0.0,
        help="""
Most disk space, in GiB, that the whole image cache directory may use,
nova's own files included. The pass starts no fetch that would go beyond
it, except for critical images.
"""),
    cfg.FloatOpt('min_free_disk_gb',
        default=10.0,
        min=0.0,
        help="""
Free disk space, in GiB, that must remain on the image cache's file system
after a fetch. The pass starts no fetch that would leave less, critical
images included: a full disk hurts every instance on the host.
"""),
    cfg.ListOpt('resize_target_sizes',
        item_type=types.Integer(min=1),
        default=[],
        help="""
Root disk sizes, in GiB, to build resize targets for, for every image the
plan keeps, besides the sizes local instances already use. A resize target
is the qcow2 root disk a spawn of that size needs, made in advance, so that
the spawn copies it instead of running qemu-img. List the root_gb of the
flavors this host runs.
"""),
    cfg.IntOpt('fetch_concurrency',
        default=2,
        min=1,
        max=16,
        help="""
Most images fetched from Glance at the same time by one pass. Downloads
overlap on nova-compute's native threads (nova's default since 2026.2);
under its deprecated eventlet mode (``[DEFAULT] concurrency_backend =
eventlet``) they take turns on the hash checks and disk writes, and more
than 1 gains little.
"""),
    cfg.IntOpt('glance_retry_max_interval',
        default=3600,
        min=60,
        help="""
Longest wait, in seconds, between two tries of a Glance that is
unavailable. After a failure the pass stops calling Glance, waits 60
seconds before the next try, and doubles the wait after each failed try up
to this value. Requests that hang are bounded by nova's ``[glance]
timeout``.
"""),
    cfg.FloatOpt('weight_multiplier',
        default=15.0,
        help="""
Multiplier of ``nova_precache.scheduler.ImageCacheWeigher``: how much the
scheduler prefers hosts that already hold the requested image. Its weights
are on a fixed scale, where an image held by every candidate host is worth
1/3 of the scale and one held by a tenth of them about 1/5 (the fourth
root of the share), while nova's own weighers spread their whole range
over the candidates: with the default of 15, a host that holds an image
held by more than one candidate in 40, and runs no instance of it yet,
outweighs the whole range of RAMWeigher and CPUWeigher together
(multiplier 1.0 each).
Negative values avoid warm hosts. Host aggregate metadata
``precache_weight_multiplier`` overrides it for the aggregate's hosts.
"""),
    cfg.IntOpt('max_same_image_per_host',
        default=12,
        min=1,
        help="""
Instances of one image on one host at which ``ImageCacheWeigher`` stops
preferring that host for the image: the preference falls with each such
instance and is gone at this number, so that one host failure cannot take
all the instances of an image. Lower values spread an image's instances
over more hosts, at the cost of more boots on hosts that must download
the image first: in the project's cloud simulation, a cap of 5 left one
boot in 13 cold however strong the preference, mostly because every host
holding the image was at the cap; 12 leaves fewer than one in 20.
"""),
    cfg.BoolOpt('peer_fetch',
        default=False,
        help="""
Copy missing images from other computes before asking Glance.

An image the plan wants and this host lacks is copied from a compute that
publishes it, over nova's own channel between computes (``[libvirt]
remote_filesystem_transport``, as the nova user, to the peer's
``my_ip``), and checked as a download is. Only ``glance_seeders`` hosts
download an image no compute holds yet; the others wait for them. While
Glance is unavailable, the pass copies what it lacks from peers, and a
spawn whose image is not cached here copies its base file from a peer.

Possible values:

* True: the nova user on every compute can ssh to the others, as for cold
  migration (see the README's set-up).
* False: every image comes from Glance, and no ssh is started.

Related options:

* ``glance_seeders``, ``peer_wait``
* ``[libvirt] remote_filesystem_transport``
"""),
    cfg.IntOpt('glance_seeders',
        default=3,
        min=1,
        help="""
Number of computes that download an image from Glance when no compute
holds it yet; the others copy it from them, and from each other, once
they hold it. Every compute picks the same seeders from the image ID and
the compute nodes nova knows, without asking the others. Used only with
``peer_fetch``.

Possible values:

* A positive integer: more seeders put more load on Glance and survive
  more seeder failures.

Related options:

* ``peer_fetch``, ``peer_wait``
"""),
    cfg.IntOpt('peer_wait',
        min=0,
        help="""
Seconds a compute that is not a seeder waits for a peer to hold an image
before it downloads the image from Glance itself. It does not wait when
every seeder is down. Used only with ``peer_fetch``.

Possible values:

* 0: download from Glance as soon as no peer holds the image.
* A positive integer.
* Unset: twice ``[image_cache] manager_interval``.

Related options:

* ``peer_fetch``, ``glance_seeders``
* ``[image_cache] manager_interval``
"""),
]


def register_opts(conf):
    conf.register_group(precache_group)
    conf.register_opts(precache_opts, group=precache_group)


def check(conf):
    """Read every ``[precache]`` option once; raise on the first bad value.

    oslo.config checks a value when it is first read, which for most of
    these is deep in a periodic pass. Called when nova-compute starts, this
    stops it with InvalidConfiguration naming the option and the value as
    written, instead of every pass failing. nan, which oslo.config's float
    type takes, is refused: it compares false with everything, so
    ``min_free_disk_gb = nan`` would be a floor that never holds; and so
    is an empty value (None) where the option has a default.
    """
    for opt in precache_opts:
        try:
            value = getattr(conf.precache, opt.dest)
        except (cfg.Error, ValueError) as e:
            # Also a "$name" that substitutes nothing.
            raise exception.InvalidConfiguration(
                'Invalid value %r of [precache] %s: %s'
                % (_written(conf, opt.name), opt.name, e))
        if isinstance(value, float) and math.isnan(value):
            why = 'not a number'
        elif value is None and opt.default is not None:
            # What oslo.config makes of "max_images =".
            why = 'a value is required'
        else:
            continue
        raise exception.InvalidConfiguration(
            'Invalid value %r of [precache] %s: %s'
            % (_written(conf, opt.name), opt.name, why))


def _written(conf, name):
    """The value of ``[precache] name`` as the configuration files say."""
    paths = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        paths += sorted(glob.glob(os.path.join(directory, '*.conf')))
    written = None
    for path in paths:
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, ValueError, cfg.ParseError):
            continue
        found = sections.get(precache_group.name, {}).get(name)
        written = found[-1] if found else written
    return written


def list_opts():
    """Options for oslo-config-generator (entry point oslo.config.opts)."""
    return [(precache_group, precache_opts)]


CONF = nova.conf.CONF
register_opts(CONF)
