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

"""The libvirt driver with nova-precache's image cache manager.

Selected with ``compute_driver = precache.PrecacheLibvirtDriver``; nova
finds it through the shim package ``nova.virt.precache``. Besides swapping
the cache manager, it lets qcow2 spawns clone ready resize targets
(``nova_precache.imagebackend``), publishes what the cache holds in the stats
the resource tracker copies into ``ComputeNode.stats``, and records the
images that spawns and nova's own pre-cache API (``POST
/os-aggregates/{id}/images``) bring in, so that they are published at the
next resource update.

Its public methods keep ``ComputeDriver``'s signatures exactly: nova's
compute manager calls them by keyword, and nova's own tests hold every
driver to them. Recording is bookkeeping: when it fails, the spawn or
download that nova finished still succeeds, and the failure is logged.
"""

from oslo_log import log as logging

from nova.virt.libvirt import driver as libvirt_driver

from nova_precache import conf
from nova_precache import imagebackend
from nova_precache import imagecache

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class PrecacheLibvirtDriver(libvirt_driver.LibvirtDriver):

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only=read_only)
        self.image_cache_manager = imagecache.PrecacheImageCacheManager()
        # qcow2 spawns clone a ready resize target when there is one.
        self.image_backend = imagebackend.Backend(CONF.use_cow_images)

    def get_available_resource(self, nodename):
        data = super().get_available_resource(nodename)
        data['stats'].update(self.image_cache_manager.published_stats())
        try:
            # Every 60 s: a rollout need not wait for the next pass.
            self.image_cache_manager.retry_waiting()
        except Exception:
            LOG.exception('Could not look for the peers of the images '
                          'waiting for one; the next pass will')
        return data

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        super().spawn(context, instance, image_meta, injected_files,
                      admin_password, allocations, network_info=network_info,
                      block_device_info=block_device_info, power_on=power_on,
                      accel_info=accel_info)
        if image_meta.obj_attr_is_set('id'):
            # Published at the next resource update, not at the next pass:
            # the scheduler can send the image's next boots here.
            self._record(image_meta.id)

    def cache_image(self, context, image_id):
        cached = super().cache_image(context, image_id)
        self._record(image_id)
        return cached

    def _record(self, image_id):
        """Record an image nova has just cached, never failing nova's call.

        By now the guest runs or the base file is in place: an error here
        (a full disk, a read-only catalog directory) must not make nova
        report a failed build or a failed pre-cache.
        """
        try:
            self.image_cache_manager.record(image_id)
        except Exception:
            LOG.exception('Could not record image %s in the pre-cache '
                          'catalog; it is published once a later pass or '
                          'spawn records it', image_id)
