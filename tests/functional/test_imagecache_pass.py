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

"""End to end: boot through the API, then nova's image cache periodic task.

Real spawns (nova's image backend, real qemu-img, real files); libvirt is
nova's fake, so the disk files are checked as a hypervisor would open them.
"""

import os

from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import driver as precache_driver
from nova_precache import imagecache
from tests.functional import base
from tests import qemu_img


class ImageCachePassTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        # Age out anything unused at once, so "kept" means "seen in use".
        self.age_unused_at_once()
        self.start_compute('compute1')
        self.start_compute('compute2')
        self.image_id = self.create_image(qemu_img.qcow2_image())['id']
        self.base_file = os.path.join(
            self.base_dir('compute1'),
            nova_imagecache.get_cache_fname(self.image_id))

    def test_computes_run_precache_driver(self):
        for compute in self.computes.values():
            self.assertIsInstance(compute.driver,
                                  precache_driver.PrecacheLibvirtDriver)
            self.assertIsInstance(compute.driver.image_cache_manager,
                                  imagecache.PrecacheImageCacheManager)

    def test_pass_keeps_base_file_of_running_server(self):
        server = self.boot('compute1', self.image_id)
        disk = self.instance_disk('compute1', server)
        self.assertEqual([disk, self.base_file], qemu_img.backing_chain(disk))
        before = os.stat(self.base_file).st_mtime_ns

        self.run_image_cache_pass('compute1')

        # Kept, and touched as nova's _mark_in_use does.
        self.assertTrue(os.path.exists(self.base_file))
        self.assertGreaterEqual(os.stat(self.base_file).st_mtime_ns, before)
        self.assertEqual([disk, self.base_file], qemu_img.backing_chain(disk))
        self.assertIn('Active base files: %s' % self.base_file,
                      self.stdlog.logger.output)
        # The other compute has no _base, and nothing of compute1's is lost
        # by its pass.
        self.run_image_cache_pass('compute2')
        self.assertFalse(os.path.exists(self.base_dir('compute2')))
        self.assertTrue(os.path.exists(self.base_file))

    def test_pass_ages_out_base_file_once_unused(self):
        server = self.boot('compute1', self.image_id)
        self.assertTrue(os.path.exists(self.base_file))
        self._delete_server(server)

        self.run_image_cache_pass('compute1')

        # Disabled, our manager does exactly what nova's does.
        self.assertFalse(os.path.exists(self.base_file))
