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

import errno
import os

import fixtures
from nova import context as nova_context
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.unit import fake_instance
from nova.virt import driver
from nova.virt import fake
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagecache as nova_imagecache
from oslo_utils import uuidutils

from nova_precache import catalog
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


class RecordFailureTestCase(test.NoDBTestCase):
    """A catalog that cannot be written fails no spawn and no pre-cache.

    record() runs after nova's spawn() or cache_image() succeeded: the
    guest runs, the base file is there. Raised out of the driver, its
    error would make nova's compute manager fail the build, or its
    pre-cache API report ``error`` for a cached image. The base file and
    the catalog are real files; libvirt is nova's fake, and the guest
    nova's spawn would start needs a hypervisor, so nova's spawn itself is
    replaced.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.LibvirtFixture())
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances)
        self.flags(enabled=True, group='precache')
        self.drvr = precache_driver.PrecacheLibvirtDriver(fake.FakeVirtAPI())
        self.context = nova_context.get_admin_context()
        self.image = uuidutils.generate_uuid()
        self.cache_dir = os.path.join(self.instances, '_base')
        os.makedirs(self.cache_dir)
        with open(os.path.join(self.cache_dir,
                               nova_imagecache.get_cache_fname(self.image)),
                  'wb') as f:
            f.write(b'\0' * 512)

    def _disk_full(self):
        self.useFixture(fixtures.MockPatchObject(
            catalog.Catalog, 'save',
            side_effect=OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))

    def _directory_blocked(self):
        # A file where the catalog's directory belongs: a real ENOTDIR.
        with open(os.path.join(self.cache_dir, catalog.DIRNAME), 'w'):
            pass

    def _spawn(self):
        spawn = self.useFixture(fixtures.MockPatchObject(
            libvirt_driver.LibvirtDriver, 'spawn')).mock
        instance = fake_instance.fake_instance_obj(self.context)
        image_meta = objects.ImageMeta.from_dict({'id': self.image})
        self.assertIsNone(self.drvr.spawn(
            self.context, instance, image_meta, [], 'secret', {},
            network_info=[], block_device_info=None, power_on=True,
            accel_info=[]))
        spawn.assert_called_once_with(
            self.context, instance, image_meta, [], 'secret', {},
            network_info=[], block_device_info=None, power_on=True,
            accel_info=[])

    def _assert_logged(self, error):
        self.assertIn('Could not record image %s in the pre-cache catalog'
                      % self.image, self.stdlog.logger.output)
        self.assertIn(error, self.stdlog.logger.output)

    def test_spawn_succeeds_on_a_full_disk(self):
        self._disk_full()
        self._spawn()
        self._assert_logged('No space left on device')

    def test_spawn_succeeds_with_catalog_directory_blocked(self):
        self._directory_blocked()
        self._spawn()
        self._assert_logged('Not a directory')

    def test_cache_image_succeeds_on_a_full_disk(self):
        self._disk_full()
        # The base file is there: nova's answer is "existing".
        self.assertFalse(self.drvr.cache_image(self.context, self.image))
        self._assert_logged('No space left on device')

    def test_cache_image_succeeds_with_catalog_directory_blocked(self):
        self._directory_blocked()
        self.assertFalse(self.drvr.cache_image(self.context, self.image))
        self._assert_logged('Not a directory')

    def test_recorded_once_the_catalog_can_be_written(self):
        self._directory_blocked()
        self.drvr.cache_image(self.context, self.image)
        os.unlink(os.path.join(self.cache_dir, catalog.DIRNAME))
        self.drvr.cache_image(self.context, self.image)
        self.assertEqual([self.image], catalog.Catalog(
            self.cache_dir, self.drvr.image_cache_manager.lock_path).cached())
