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

"""The source's base file while a move to another host awaits its verdict.

After a resize or cold migration to another host, and until it is
confirmed or reverted, the source keeps the server's old disks in
``<uuid>_resize`` for a revert; they are backed by the source's base files
(the image's, and ``swap_<MB>`` for the swap disk). The server's ``host``
is already the destination, so the source's image cache pass, which lists
only the instances of its own host, does not count those base files in
use, and nova ages them out. A revert then brings back disks whose backing
files are gone.

Here the age limits are 0, so a pass removes any base file it finds
unused; the pre-caching plan keeps nothing of its own (no critical list,
``max_images = 0``), so what keeps a file is only that a disk uses it.
"""

import os
import subprocess

from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache.cmd import cache
from tests.functional import base
from tests import qemu_img

MiB = 2 ** 20
IMAGE_DATA = 0x11   # the image's first MiB
GUEST_DATA = 0x22   # what the guest wrote, its second MiB
OLD_GB, NEW_GB = 1, 20
SWAP_MB = 512


class ResizeSourceBaseFileTestCase(base.PrecacheServersTestBase):

    microversion = 'latest'

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.useFixture(base.SeparateHosts(self.instances_paths))
        # The computes name each other by hostname, not by the my_ip they
        # all share (see test_target_moves).
        self.flags(migration_inbound_addr='%s', group='libvirt')
        self.age_unused_at_once()
        self.image = self.create_image(
            qemu_img.qcow2_image(pattern=IMAGE_DATA))['id']
        self.base_name = nova_imagecache.get_cache_fname(self.image)
        # Flavors with swap: the swap disk has a base file of its own.
        self.flavors = {
            disk_gb: self.admin_api.post_flavor({'flavor': {
                'name': 'swap-%d' % disk_gb, 'ram': 512, 'vcpus': 1,
                'disk': disk_gb, 'swap': SWAP_MB}})['id']
            for disk_gb in (OLD_GB, NEW_GB)}

    def _start(self, precache_enabled):
        self.flags(enabled=precache_enabled, max_images=0,
                   min_free_disk_gb=0, group='precache')
        self.start_compute('compute1')
        self.start_compute('compute2')
        self.follow_scheduler()
        self.server = self.boot('compute1', self.image,
                                flavor_id=self.flavors[OLD_GB])
        self.disk = self.instance_disk('compute1', self.server)
        self.base_file = os.path.join(self.base_dir('compute1'),
                                      self.base_name)
        self.swap = self.disk + '.swap'
        self.swap_base = os.path.join(self.base_dir('compute1'),
                                      'swap_%d' % SWAP_MB)
        self.assertEqual([self.disk, self.base_file],
                         qemu_img.backing_chain(self.disk))
        self.assertEqual([self.swap, self.swap_base],
                         qemu_img.backing_chain(self.swap))
        qemu_img.write(self.disk, GUEST_DATA, MiB, MiB)

    def _old_disk(self, name='disk'):
        """A disk the source keeps for a revert."""
        return os.path.join(self.instances_paths['compute1'],
                            self.server['id'] + '_resize', name)

    def _assert_awaiting_verdict(self):
        server = self.admin_api.get_server(self.server['id'])
        self.assertEqual('compute2', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(self.base_file,
                         qemu_img.info(self._old_disk())['backing-filename'])
        self.assertEqual(
            self.swap_base,
            qemu_img.info(self._old_disk('disk.swap'))['backing-filename'])

    def _assert_server_disks_intact(self):
        self.assertEqual([self.disk, self.base_file],
                         qemu_img.backing_chain(self.disk))
        self.assertTrue(qemu_img.holds(self.disk, IMAGE_DATA, 0, MiB))
        self.assertTrue(qemu_img.holds(self.disk, GUEST_DATA, MiB, MiB))
        self.assertEqual([self.swap, self.swap_base],
                         qemu_img.backing_chain(self.swap))

    def test_stock_nova_removes_base_file_of_reverted_disk(self):
        """Precache disabled: what nova does on its own."""
        self._start(precache_enabled=False)
        self.server = self._resize_server(self.server, self.flavors[NEW_GB])
        self._assert_awaiting_verdict()

        self.run_image_cache_pass('compute1')

        self.assertFalse(os.path.exists(self.base_file))
        self.assertFalse(os.path.exists(self.swap_base))
        self.server = self._revert_resize(self.server)
        # nova's fake libvirt reports the server ACTIVE; a real qemu could
        # not open its disks.
        self.assertEqual('compute1', self.server['OS-EXT-SRV-ATTR:host'])
        for disk in (self.disk, self.swap):
            self.assertRaises(subprocess.CalledProcessError,
                              qemu_img.backing_chain, disk)

    def test_resize_revert_keeps_base_file(self):
        self._start(precache_enabled=True)
        self.server = self._resize_server(self.server, self.flavors[NEW_GB])
        self._assert_awaiting_verdict()

        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self.base_file))
        self.assertTrue(os.path.exists(self.swap_base))
        self.assertIn('kept for reverting a resize or migration',
                      self.stdlog.logger.output)
        # nova-precache status, which counts every instance directory on
        # disk, tells the same.
        with self.as_host('compute1'):
            columns, rows = cache.Status(None, None).take_action(None)
        status = {row[0]: dict(zip(columns, row)) for row in rows}
        self.assertEqual('kept: in use', status[self.base_name]['Fate'])
        self.server = self._revert_resize(self.server)
        self.assertEqual('compute1', self.server['OS-EXT-SRV-ATTR:host'])
        self._assert_server_disks_intact()

    def test_cold_migrate_confirm_keeps_base_file_until_confirmed(self):
        self._start(precache_enabled=True)
        self.server = self._migrate_server(self.server, host='compute2',
                                           api=self.admin_api)
        self._assert_awaiting_verdict()

        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self.base_file))
        self.assertTrue(os.path.exists(self.swap_base))
        self.server = self._confirm_resize(self.server)
        self.assertFalse(os.path.exists(os.path.dirname(self._old_disk())))
        # Nothing uses it any more: the next pass ages it out as nova would.
        self.run_image_cache_pass('compute1')
        self.assertFalse(os.path.exists(self.base_file))
        self.assertFalse(os.path.exists(self.swap_base))
