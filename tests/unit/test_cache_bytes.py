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

"""The budget counts the base files wherever the cache lives.

nova's get_disk_usage() reports what the cache takes from the instances'
disk: 0 when ``_base`` is a file system of its own, which made
``max_cache_gb`` count nothing there.
"""

import os
import subprocess

import fixtures
from nova import test

from nova_precache import budget
from nova_precache import imagecache


class CacheBytesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances)
        self.manager = imagecache.PrecacheImageCacheManager()
        self.base = self.manager.cache_dir

    def _fill(self):
        os.makedirs(os.path.join(self.base, 'precache'))
        for name, size in (('a' * 40, 3 << 20), ('b' * 40 + '_20', 1 << 20)):
            with open(os.path.join(self.base, name), 'wb') as f:
                f.write(b'\1' * size)

    def test_counts_the_files_in_base(self):
        self._fill()
        self.assertEqual(4 << 20, budget.cache_bytes(self.base))

    def test_no_base_yet(self):
        self.assertEqual(0, budget.cache_bytes(self.base))

    def test_base_on_a_file_system_of_its_own(self):
        os.mkdir(self.base)
        mounted = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', self.base],
            capture_output=True)
        if mounted.returncode:
            self.skipTest('cannot mount a tmpfs here: %s'
                          % mounted.stderr.decode().strip())
        self.addCleanup(subprocess.run, ['umount', self.base], check=True)
        self._fill()
        self.assertEqual(0, self.manager.get_disk_usage())
        self.assertEqual(4 << 20, budget.cache_bytes(self.base))
