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

"""Images nova brings in (spawns, its pre-cache API) are published.

record() runs on every spawn: once an image is published it must cost no
catalog write, and it must never fail a spawn.
"""

import os

import fixtures
from nova import test
from oslo_utils import uuidutils

from nova_precache import catalog
from nova_precache import imagecache
from nova_precache import stats


class RecordTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances)
        self.flags(enabled=True, group='precache')
        self.manager = imagecache.PrecacheImageCacheManager()
        self.image = uuidutils.generate_uuid()
        os.makedirs(self.manager.cache_dir)
        base = catalog.Catalog(self.manager.cache_dir,
                               self.manager.lock_path).base_file(self.image)
        with open(base, 'wb') as f:
            f.write(b'\0' * 512)

    def _published(self):
        return stats.decode(self.manager.published_stats())

    def test_spawned_image_is_published(self):
        self.assertEqual({}, self._published())
        self.manager.record(self.image)
        self.assertEqual({self.image: set()}, self._published())

    def test_recording_a_published_image_writes_nothing(self):
        self.manager.record(self.image)
        self.assertIn(self.image, self._published())
        stamp = catalog.stamp(self.manager.cache_dir)
        self.manager.record(self.image)
        self.assertEqual(stamp, catalog.stamp(self.manager.cache_dir))
        self.assertIn(self.image, self._published())

    def test_image_without_base_file_is_not_recorded(self):
        other = uuidutils.generate_uuid()
        self.manager.record(other)
        self.assertNotIn(other, self._published())
