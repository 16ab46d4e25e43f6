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
finds it through the shim package ``nova.virt.precache``.
"""

from nova.virt.libvirt import driver as libvirt_driver

from nova_precache import imagecache


class PrecacheLibvirtDriver(libvirt_driver.LibvirtDriver):

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only=read_only)
        self.image_cache_manager = imagecache.PrecacheImageCacheManager()
