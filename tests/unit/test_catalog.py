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

import os

import fixtures
from nova import test
from nova.virt.libvirt import imagecache

from nova_precache import catalog

A = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
B = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'


class CatalogTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.cache_dir = self.useFixture(fixtures.TempDir()).path
        self.locks = self.useFixture(fixtures.TempDir()).path

    def _catalog(self):
        return catalog.Catalog(self.cache_dir, self.locks)

    def test_survives_restart_with_only_useful_fields(self):
        cat = self._catalog()
        cat.learn(A, {'size': 10, 'owner': 'ops', 'disk_format': 'qcow2',
                      'os_hash_algo': 'sha512', 'os_hash_value': 'ab',
                      'locations': ['secret://url'], 'properties': {}})
        cat.record(B)
        cat.save()

        again = self._catalog()
        self.assertEqual(10, again.metadata(A)['size'])
        self.assertEqual('ops', again.metadata(A)['owner'])
        self.assertNotIn('locations', again.metadata(A))
        self.assertIn('learned_at', again.metadata(A))
        # Recorded without metadata: known to be cached, not learned.
        self.assertIn(B, again.images)
        self.assertIsNone(again.metadata(B))

    def test_cached_lists_images_whose_base_file_exists(self):
        cat = self._catalog()
        cat.record(A)
        cat.record(B)
        open(os.path.join(self.cache_dir,
                          imagecache.get_cache_fname(A)), 'w').close()
        self.assertEqual([A], cat.cached())

    def test_concurrent_writers_merge(self):
        first, second = self._catalog(), self._catalog()
        first.record(A)
        second.record(B)
        first.save()
        second.save()
        self.assertEqual({A, B}, set(self._catalog().images))

    def test_corrupt_file_discarded_not_fatal(self):
        cat = self._catalog()
        cat.record(A)
        cat.save()
        for garbage in ('{"images": ', '[]', '{"images": {"x": 1}}', '\0'):
            with open(cat.path, 'w') as f:
                f.write(garbage)
            self.assertEqual({}, self._catalog().images)
        self.assertIn('Discarding corrupt image catalog %s' % cat.path,
                      self.stdlog.logger.output)
        rebuilt = self._catalog()
        rebuilt.record(B)
        rebuilt.save()
        self.assertEqual([B], list(self._catalog().images))

    def test_save_leaves_no_temporary_file(self):
        cat = self._catalog()
        cat.record(A)
        cat.save()
        self.assertEqual(['catalog.json'],
                         os.listdir(os.path.dirname(cat.path)))
        mtime = os.stat(cat.path).st_mtime_ns
        cat.save()  # nothing changed: not rewritten
        self.assertEqual(mtime, os.stat(cat.path).st_mtime_ns)

    def test_save_removes_what_a_crashed_save_left(self):
        cat = self._catalog()
        cat.record(A)
        cat.save()
        # What a save killed between writing and renaming leaves.
        directory = os.path.dirname(cat.path)
        with open(os.path.join(directory, '.catalog.k1ll3d'), 'w') as f:
            f.write('{"version": 1, "ima')

        # The next pass, with nothing new to save.
        self._catalog().save()

        self.assertEqual(['catalog.json'], os.listdir(directory))
        self.assertIn(A, self._catalog().images)
