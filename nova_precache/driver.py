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
"""

from nova.virt.libvirt import driver as libvirt_driver

from nova_precache import conf
from nova_precache import imagebackend
from nova_precache import imagecache

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
        return data

    def spawn(self, context, instance, image_meta, *args, **kwargs):
        super().spawn(context, instance, image_meta, *args, **kwargs)
        if image_meta.obj_attr_is_set('id'):
            # Published at the next resource update, not at the next pass:
            # the scheduler can send the image's next boots here.
            self.image_cache_manager.record(image_meta.id)

    def cache_image(self, context, image_id):
        cached = super().cache_image(context, image_id)
        self.image_cache_manager.record(image_id)
        return cached
