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

"""Resize targets built and aged on real files with real qemu-img."""

import os
import subprocess

import fixtures
from nova import test
from nova.virt.libvirt import imagecache

from nova_precache import targets
from tests import qemu_img

GiB = 2 ** 30


class TargetsTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.cache_dir = self.useFixture(fixtures.TempDir()).path
        self.locks = self.useFixture(fixtures.TempDir()).path
        self.base_name = imagecache.get_cache_fname('image')
        self.base = os.path.join(self.cache_dir, self.base_name)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'raw', self.base,
                        '1536M'], check=True)

    def test_build_makes_the_disk_nova_would(self):
        self.assertTrue(targets.build(self.cache_dir, self.base_name, 20,
                                      self.locks))
        target = targets.path(self.cache_dir, self.base_name, 20)
        info = qemu_img.info(target)
        self.assertEqual(('qcow2', 20 * GiB, self.base, 'raw'),
                         (info['format'], info['virtual-size'],
                          info['backing-filename'],
                          info['backing-filename-format']))
        self.assertEqual({self.base_name: {20}},
                         targets.present(self.cache_dir))
        # Built once; a temporary file never stays behind.
        self.assertFalse(targets.build(self.cache_dir, self.base_name, 20,
                                       self.locks))
        self.assertEqual([os.path.basename(target)],
                         os.listdir(targets.directory(self.cache_dir)))

    def test_no_target_smaller_than_the_image_or_without_base(self):
        self.assertFalse(targets.build(self.cache_dir, self.base_name, 1,
                                       self.locks))
        self.assertFalse(targets.build(self.cache_dir, 'f' * 40, 20,
                                       self.locks))
        self.assertEqual({}, targets.present(self.cache_dir))

    def test_prune_ages_unwanted_and_orphans(self):
        for gb in (2, 4):
            targets.build(self.cache_dir, self.base_name, gb, self.locks)
        self.flags(remove_unused_resized_minimum_age_seconds=3600,
                   group='image_cache')
        wanted = {(self.base_name, 2)}
        # Unwanted but young: kept for now.
        self.assertEqual(0, targets.prune(self.cache_dir, wanted,
                                          self.locks))
        self.flags(remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')
        self.assertEqual(1, targets.prune(self.cache_dir, wanted,
                                          self.locks))
        self.assertEqual({self.base_name: {2}},
                         targets.present(self.cache_dir))
        # Its base file gone, even a wanted, young target goes at once.
        os.unlink(self.base)
        self.flags(remove_unused_resized_minimum_age_seconds=3600,
                   group='image_cache')
        self.assertEqual(1, targets.prune(self.cache_dir, wanted,
                                          self.locks))
        self.assertEqual({}, targets.present(self.cache_dir))

    def test_prune_removes_leftovers_of_interrupted_builds(self):
        os.makedirs(targets.directory(self.cache_dir))
        leftover = os.path.join(targets.directory(self.cache_dir),
                                '.%sab12cd' % self.base_name)
        open(leftover, 'w').close()
        targets.prune(self.cache_dir, set(), self.locks)
        self.assertEqual([], os.listdir(targets.directory(self.cache_dir)))
