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

"""``[precache]`` options, on nova's own CONF: read from nova's files."""

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
    cfg.IntOpt('glance_retry_max_interval',
        default=3600,
        min=60,
        help="""
Longest wait, in seconds, between two tries of a Glance that is
unavailable. After a failure the pass stops calling Glance, waits 60
seconds before the next try, and doubles the wait after each failed try up
to this value.

Possible values:

* A number of seconds, 60 or more.

Related options:

* ``[glance] timeout``, which bounds requests that hang
"""),
    cfg.FloatOpt('weight_multiplier',
        default=15.0,
        help="""
Multiplier of ``nova_precache.scheduler.ImageCacheWeigher``: how much the
scheduler prefers hosts that already hold the requested image. Its
weights are on a fixed scale, while nova's own weighers spread their whole
range over the candidates: with the default, a host holding an image that
a fair share of the candidates hold outweighs the whole range of
RAMWeigher and CPUWeigher together (multiplier 1.0 each). Host aggregate
metadata ``precache_weight_multiplier`` overrides it for its hosts.

Possible values:

* A positive number prefers warm hosts, a negative one avoids them, and 0
  leaves placement to nova's other weighers.

Related options:

* ``[filter_scheduler] weight_classes``, ``max_same_image_per_host``
"""),
    cfg.IntOpt('max_same_image_per_host',
        default=12,
        min=1,
        help="""
Instances of one image on one host at which ``ImageCacheWeigher`` stops
preferring that host for the image. The preference falls with each such
instance and is gone at this number, so that one host failure cannot take
all the instances of an image. Lower values spread an image's instances
over more hosts, at the cost of more boots on hosts that must download the
image first.

Possible values:

* An integer of 1 or more.

Related options:

* ``weight_multiplier``, ``[filter_scheduler] track_instance_changes``
"""),
    cfg.IntOpt('discovery_interval',
        default=3600,
        min=0,
        help="""
Seconds between two refreshes of what the pass knows from Glance. A
refresh lists the images of ``operator_projects`` that are active, not
hidden and public or community, so that they are cached before their
first boot, and reads again, in bulk, the metadata of the images the plan
keeps, so that an image deactivated, deleted or hidden in Glance leaves
the plan. Between two refreshes a pass makes no Glance call for what it
already knows.

Possible values:

* 0: refresh at every pass.
* A positive number of seconds: an image the operator publishes is cached
  on every enabled compute within this time plus one ``[image_cache]
  manager_interval``.

Related options:

* ``operator_projects``: the projects whose images are listed; unset, a
  refresh only reads the plan's images again.
* ``[image_cache] manager_interval``: how often the pass runs.
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

    oslo.config checks a value when first read, for most of these deep in
    a periodic pass: called at start-up, this raises InvalidConfiguration
    naming the option and its value as written instead. Refused too: nan,
    which compares false with everything (``min_free_disk_gb = nan`` would
    be a floor that never holds), and an empty value where there is a
    default.
    """
    for opt in precache_opts:
        try:
            value, why = getattr(conf.precache, opt.dest), None
        except (cfg.Error, ValueError) as e:
            # Also a "$name" that substitutes nothing.
            value, why = 0, e
        if isinstance(value, float) and math.isnan(value):
            why = 'not a number'
        elif value is None and opt.default is not None:
            # What oslo.config makes of "max_images =".
            why = 'a value is required'
        if why is not None:
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
