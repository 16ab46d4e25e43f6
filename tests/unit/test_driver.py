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

from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt import driver
from nova.virt import fake
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import driver as precache_driver
from nova_precache import imagecache
from nova_precache import ranking


class LoadComputeDriverTestCase(test.NoDBTestCase):
    """nova's own loader finds the driver by its public name.

    libvirt itself is nova's fake (no hypervisor here); the loader, the
    driver class and the cache manager are the real ones.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.LibvirtFixture())

    def test_public_name_loads_precache_driver(self):
        loaded = driver.load_compute_driver(
            fake.FakeVirtAPI(), 'precache.PrecacheLibvirtDriver')

        self.assertIsInstance(loaded, precache_driver.PrecacheLibvirtDriver)
        self.assertIsInstance(loaded, libvirt_driver.LibvirtDriver)
        self.assertIsInstance(loaded.image_cache_manager,
                              imagecache.PrecacheImageCacheManager)
        self.assertIsInstance(loaded.image_cache_manager,
                              nova_imagecache.ImageCacheManager)

    def test_unknown_ranker_stops_start_up(self):
        self.flags(enabled=True, rankers=['critical', 'populer'],
                   group='precache')
        e = self.assertRaises(
            ranking.UnknownRanker, driver.load_compute_driver,
            fake.FakeVirtAPI(), 'precache.PrecacheLibvirtDriver')
        self.assertIn('unknown ranker(s) populer', str(e))
