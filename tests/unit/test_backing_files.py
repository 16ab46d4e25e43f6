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

"""Our manager finds exactly the backing files nova's finds.

Both walk the same real tree of instance disks made by qemu-img; nova's
asks qemu-img about every disk, ours reads the qcow2 headers.
"""

import os

import fixtures
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt import images
from nova.virt.libvirt import imagecache

from nova_precache import imagecache as precache_imagecache
from tests import qemu_img


class BackingFilesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances)
        self.base_dir = os.path.join(self.instances, '_base')
        os.mkdir(self.base_dir)
        self.bases = bases = [imagecache.get_cache_fname('image-%d' % i)
                              for i in range(4)]
        for name in bases:
            qemu_img.run('create', '-f', 'raw',
                     os.path.join(self.base_dir, name), '1M')
        # Absolute and relative backing names, a raw disk, a plain qcow2,
        # a directory with no disk, a stranger; bases[3] is unused.
        self.names = set()
        disks = [('inst-abs', os.path.join(self.base_dir, bases[0]), '1G'),
                 ('inst-abs2', os.path.join(self.base_dir, bases[0]), '2G'),
                 ('inst-rel', '../_base/' + bases[1], '3G'),
                 ('inst-third', os.path.join(self.base_dir, bases[2]), '1G'),
                 ('inst-plain', None, '1G')]
        for name, backing, size in disks:
            self._instance(name)
            disk = os.path.join(self.instances, name, 'disk')
            if backing:
                qemu_img.run('create', '-f', 'qcow2', '-F', 'raw', '-b',
                             backing, disk, size)
            else:
                qemu_img.run('create', '-f', 'qcow2', disk, size)
        self._instance('inst-raw')
        qemu_img.run('create', '-f', 'raw',
                 os.path.join(self.instances, 'inst-raw', 'disk'), '1M')
        self._instance('inst-nodisk')
        os.mkdir(os.path.join(self.instances, 'not-an-instance'))
        self.qemu_img_info = self.useFixture(fixtures.MockPatch(
            'nova.virt.images.qemu_img_info',
            wraps=images.qemu_img_info)).mock

    def _instance(self, name):
        os.mkdir(os.path.join(self.instances, name))
        self.names.add(name)

    def _walk(self, manager):
        manager._scan_base_images(self.base_dir)
        manager.instance_names = self.names
        self.qemu_img_info.reset_mock()
        inuse = manager._list_backing_images()
        return (sorted(inuse), sorted(manager.unexplained_images),
                self.qemu_img_info.call_count)

    def test_same_result_as_nova_without_qemu_img_for_qcow2(self):
        nova_inuse, nova_unexplained, nova_calls = self._walk(
            imagecache.ImageCacheManager())
        self.flags(enabled=True, group='precache')
        ours = precache_imagecache.PrecacheImageCacheManager()
        our_inuse, our_unexplained, our_calls = self._walk(ours)

        self.assertEqual(nova_inuse, our_inuse)
        self.assertEqual(nova_unexplained, our_unexplained)
        self.assertEqual(3, len(our_inuse))
        # nova asked qemu-img about each of the 6 disks; we only about the
        # raw one, whose format the header reader leaves to qemu-img.
        self.assertEqual(6, nova_calls)
        self.assertEqual(1, our_calls)
        # Root disk sizes in GiB by base file, for the resize targets.
        self.assertEqual({self.bases[0]: {1, 2}, self.bases[1]: {3},
                          self.bases[2]: {1}}, ours.root_sizes)

    def test_resize_source_disk_of_instance_not_listed_is_in_use(self):
        """The old disks a move to another host keeps here for a revert."""
        moved = os.path.join(self.instances, 'moved-away_resize')
        os.mkdir(moved)
        qemu_img.run('create', '-f', 'qcow2', '-F', 'raw', '-b',
                     os.path.join(self.base_dir, self.bases[3]),
                     os.path.join(moved, 'disk'))
        for base, disk in (('swap_512', 'disk.swap'),
                           ('ephemeral_1_0706d66', 'disk.local')):
            qemu_img.run('create', '-f', 'raw',
                         os.path.join(self.base_dir, base), '1M')
            qemu_img.run('create', '-f', 'qcow2', '-F', 'raw', '-b',
                         os.path.join(self.base_dir, base),
                         os.path.join(moved, disk))
        unused = os.path.join(self.base_dir, self.bases[3])
        nova_inuse, nova_unexplained, _ = self._walk(
            imagecache.ImageCacheManager())
        self.flags(enabled=True, group='precache')
        ours = precache_imagecache.PrecacheImageCacheManager()
        our_inuse, our_unexplained, _ = self._walk(ours)

        self.assertNotIn(unused, nova_inuse)
        self.assertIn(unused, nova_unexplained)
        self.assertEqual(sorted(nova_inuse + [unused]), our_inuse)
        self.assertEqual([], our_unexplained)
        # nova counts these from the instances' block device mappings.
        self.assertEqual({'swap_512'}, ours.used_swap_images)
        self.assertEqual({'ephemeral_1_0706d66'}, ours.used_ephemeral_images)
        self.assertIn('Keeping base file %s: it backs the disk in '
                      'moved-away_resize' % self.bases[3],
                      self.stdlog.logger.output)
        self.assertNotIn('moved-away_resize is using a backing file',
                         self.stdlog.logger.output)
