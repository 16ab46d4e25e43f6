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

"""What the commands read of this host: its cache, its plan, nova's aging.

The same facts nova-compute's pass reads (the instances' disks, the
catalog, the critical list, nova.conf) but not nova's database, which a
compute node cannot reach: an instance directory on disk counts as a local
instance.
"""

import functools
import os

from nova import exception
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import catalog
from nova_precache import cmd
from nova_precache import conf
from nova_precache import critical
from nova_precache import discovery
from nova_precache import glance
from nova_precache import local_disks
from nova_precache import planner
from nova_precache import ranking

CONF = conf.CONF


def check_instances_path():
    if not os.path.isdir(CONF.instances_path):
        raise cmd.BadConfig('instances_path %s does not exist'
                            % CONF.instances_path)


class HostCache(object):
    """This host's cache, its instance disks and the plan of its pass."""

    def __init__(self):
        check_instances_path()
        try:
            conf.check(CONF)
            self.rankers = ranking.load(CONF.precache.rankers)
        except exception.InvalidConfiguration as e:
            # An unknown ranker, a [precache] value conf.check() refuses.
            raise cmd.BadConfig(str(e))
        self.cache_dir = os.path.join(CONF.instances_path,
                                      CONF.image_cache.subdirectory_name)
        self.lock_path = os.path.join(CONF.instances_path, 'locks')
        self.catalog = catalog.Catalog(self.cache_dir, self.lock_path)
        self.glance = glance.Glance()
        self.disks = local_disks.scan(
            CONF.instances_path, skip={CONF.image_cache.subdirectory_name})
        self.image_of = {nova_imagecache.get_cache_fname(image_id): image_id
                         for image_id in self.catalog.images}
        self.in_use = {self.image_of[base]: len({d.instance for d in disks})
                       for base, disks in self.disks.items()
                       if base in self.image_of}
        self.root_sizes = {
            base: {local_disks.root_gb(d.virtual_size) for d in disks
                   if d.name == 'disk' and local_disks.root_gb(
                       d.virtual_size)}
            for base, disks in self.disks.items()}
        # A missing or unreadable list is logged, as nova-compute does, and
        # the last good list nova-compute kept is used, never written.
        self.critical = critical.CriticalImages(
            os.path.join(self.cache_dir, catalog.DIRNAME), self.lock_path,
            read_only=True).load(
            CONF.precache.critical_images_file)

    def plan(self, context, ask_glance):
        """The plan nova-compute's pass would make from the same facts."""
        inputs = planner.Inputs(context, CONF.host, self.rankers,
                                self.catalog, self.in_use, self.critical,
                                self.cache_dir)
        if not ask_glance:
            return planner.make(inputs)
        found = discovery.Discovery(self.glance, os.path.join(
            self.cache_dir, catalog.DIRNAME), self.lock_path)
        found.refresh(context, self.catalog)
        return planner.make(inputs, *(functools.partial(
            f, context, self.catalog) for f in (self.glance.learn,
                                                found.reread)))


class NovaAging(nova_imagecache.ImageCacheManager):
    """nova's own aging rules for the files of a cache, asked, not applied.

    nova's removal methods pick the age each kind of file may reach
    unused; here they record it instead of removing anything, so that
    ``status`` follows nova's rules as nova changes them.
    """

    def __init__(self, cache_dir):
        super().__init__()
        self.max_age = {}
        self._scan_base_images(cache_dir)
        for path in self.unexplained_images:
            self._remove_base_file(path)
        for name in self.back_swap_images:
            self._remove_swap_file(os.path.join(cache_dir, name))
        for name in self.back_ephemeral_images:
            self._remove_ephemeral_file(os.path.join(cache_dir, name))

    def _remove_old_enough_file(self, base_file, maxage, remove_lock=True):
        self.max_age[os.path.basename(base_file)] = maxage
