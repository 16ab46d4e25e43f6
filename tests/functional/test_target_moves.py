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

"""Servers booted from a resize target survive nova's moves.

Resize (to another host and on the same host), cold migration, each
reverted and then confirmed, and snapshot of a server whose root disk was
cloned from a target, in nova's harness with nova's real compute manager,
libvirt driver and image backend, real files and real qemu-img. Two
things cannot exist here and are replaced:

* a hypervisor: libvirt is nova's fake, which starts any domain whatever
  its disk holds; so each step checks the files a real qemu would open
  (``qemu-img info --backing-chain``) and what a guest would read
  (``qemu-io``);
* two machines: the computes share one process and one filesystem, so
  ``base.SeparateHosts`` runs nova's ssh transport commands locally,
  between the two computes' instances paths, and keeps a compute from
  finding the other's files at the paths it is told of.

The guest's own data, written into the disk with qemu-io after the boot,
must come through every move: a destination that made a fresh disk, e.g.
by cloning the target of the new size it holds, instead of taking the
disk it was sent, would lose it.
"""

import os

import fixtures
from nova.virt.libvirt import imagecache as nova_imagecache
from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import targets
from tests.functional import base
from tests import qemu_img

# Captured at import, before nova's harness replaces it.
_REAL_FILE_OPEN = libvirt_utils.file_open

GiB = 2 ** 30
MiB = 2 ** 20
IMAGE_DATA = 0x11   # the image's first MiB
GUEST_DATA = 0x22   # what the guest wrote, its second MiB
OLD_GB, NEW_GB = 1, 20


class TargetMovesTestCase(base.PrecacheServersTestBase):

    microversion = 'latest'

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.useFixture(base.SeparateHosts(self.instances_paths))
        # The computes name each other by hostname, not by the my_ip they
        # all share: otherwise the source takes the destination for
        # itself and copies the disks within its own instances path.
        self.flags(migration_inbound_addr='%s', group='libvirt')
        critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical')
        with open(critical_file, 'w'):
            pass
        # Targets of both sizes on both computes: a destination holding a
        # target of the new size must still take the disk it is sent.
        self.flags(enabled=True, critical_images_file=critical_file,
                   min_free_disk_gb=0, resize_target_sizes=[OLD_GB, NEW_GB],
                   group='precache')
        self.start_compute('compute1')
        self.start_compute('compute2')
        self.follow_scheduler()
        self.image = self.create_image(
            qemu_img.qcow2_image(pattern=IMAGE_DATA))['id']
        with open(critical_file, 'w') as f:
            f.write(self.image + '\n')
        self.base_name = nova_imagecache.get_cache_fname(self.image)
        for host in ('compute1', 'compute2'):
            self.run_image_cache_pass(host)
            for size in (OLD_GB, NEW_GB):
                self.assertTrue(os.path.exists(targets.path(
                    self.base_dir(host), self.base_name, size)))

        create_image = self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.utils.create_image',
            wraps=libvirt_utils.create_image)).mock
        self.server = self.boot('compute1', self.image,
                                flavor_id=self._flavor(OLD_GB))
        # Cloned from compute1's target: nova made no disk of its own.
        self.assertEqual([], create_image.call_args_list)
        self._assert_disk('compute1', OLD_GB)
        qemu_img.write(self.instance_disk('compute1', self.server),
                       GUEST_DATA, MiB, MiB)

    def _flavor(self, disk_gb):
        return next(f['id'] for f in self.api.get_flavors()
                    if f['disk'] == disk_gb)

    def _instance_dir(self, host, suffix=''):
        return os.path.join(self.instances_paths[host],
                            self.server['id'] + suffix)

    def _assert_disk(self, host, root_gb):
        """The disk a stock spawn of root_gb on ``host`` would have."""
        disk = self.instance_disk(host, self.server)
        base_file = os.path.join(self.base_dir(host), self.base_name)
        self.assertEqual([disk, base_file], qemu_img.backing_chain(disk))
        info = qemu_img.info(disk)
        self.assertEqual(('qcow2', root_gb * GiB, 'raw'),
                         (info['format'], info['virtual-size'],
                          info['backing-filename-format']))
        self.assertTrue(qemu_img.holds(disk, IMAGE_DATA, 0, MiB))

    def _assert_guest_data(self, host):
        self.assertTrue(
            qemu_img.holds(self.instance_disk(host, self.server),
                           GUEST_DATA, MiB, MiB),
            "the guest's data is not in its disk on %s" % host)

    def _host(self):
        server = self.admin_api.get_server(self.server['id'])
        return server['OS-EXT-SRV-ATTR:host']

    def _domains(self, host):
        return self.computes[host].driver.list_instances()

    def _leftovers(self, host):
        """This server's directories on ``host``: <uuid>, <uuid>_resize..."""
        return sorted(name for name in os.listdir(self.instances_paths[host])
                      if name.startswith(self.server['id']))

    def _assert_moved(self, dest, root_gb):
        """After a resize or migration from compute1, before confirming."""
        self.assertEqual(dest, self._host())
        self._assert_disk(dest, root_gb)
        self._assert_guest_data(dest)
        # The source keeps its disk aside for a revert.
        old_disk = os.path.join(self._instance_dir('compute1', '_resize'),
                                'disk')
        self.assertEqual(OLD_GB * GiB, qemu_img.info(old_disk)['virtual-size'])
        if dest != 'compute1':
            self.assertEqual([self.server['id'] + '_resize'],
                             self._leftovers('compute1'))

    def _assert_confirmed(self, dest):
        self.assertEqual(dest, self._host())
        self._assert_disk(dest, self.server['flavor']['disk'])
        self._assert_guest_data(dest)
        self.assertEqual([self.server['id']], self._leftovers(dest))
        if dest != 'compute1':
            self.assertEqual([], self._leftovers('compute1'))
            self.assertEqual([], self._domains('compute1'))
        # The base file stays until an image cache pass finds it unused.
        self.assertTrue(os.path.exists(
            os.path.join(self.base_dir('compute1'), self.base_name)))

    def _assert_reverted(self, dest):
        self.assertEqual('compute1', self._host())
        self.assertEqual(OLD_GB, self.server['flavor']['disk'])
        self._assert_disk('compute1', OLD_GB)
        self._assert_guest_data('compute1')
        self.assertEqual([self.server['id']], self._leftovers('compute1'))
        if dest != 'compute1':
            self.assertEqual([], self._leftovers(dest))
            self.assertEqual([], self._domains(dest))

    def test_resize_revert_then_resize_confirm(self):
        self.server = self._resize_server(self.server, self._flavor(NEW_GB))
        self._assert_moved('compute2', NEW_GB)
        # The grown part of the disk reads as zeros, like a fresh disk's.
        self.assertTrue(qemu_img.holds(
            self.instance_disk('compute2', self.server), 0, OLD_GB * GiB, MiB))
        # Both computes' periodic passes while the move awaits its verdict.
        for host in ('compute1', 'compute2'):
            self.run_image_cache_pass(host)
        self._assert_moved('compute2', NEW_GB)

        self.server = self._revert_resize(self.server)

        self._assert_reverted('compute2')

        # The reverted server moves again, from where the revert left it.
        self.server = self._resize_server(self.server, self._flavor(NEW_GB))
        self._assert_moved('compute2', NEW_GB)

        self.server = self._confirm_resize(self.server)

        self.assertEqual(NEW_GB, self.server['flavor']['disk'])
        self._assert_confirmed('compute2')

    def test_resize_on_same_host_revert_then_resize_confirm(self):
        """The source is the destination: nova copies the disk locally."""
        self.flags(allow_resize_to_same_host=True)
        [compute2] = self.admin_api.get_services(binary='nova-compute',
                                                 host='compute2')
        self.admin_api.put_service(compute2['id'], {'status': 'disabled'})

        self.server = self._resize_server(self.server, self._flavor(NEW_GB))
        self._assert_moved('compute1', NEW_GB)

        self.server = self._revert_resize(self.server)

        self._assert_reverted('compute1')

        self.server = self._resize_server(self.server, self._flavor(NEW_GB))
        self._assert_moved('compute1', NEW_GB)

        self.server = self._confirm_resize(self.server)

        self.assertEqual(NEW_GB, self.server['flavor']['disk'])
        self._assert_confirmed('compute1')
        self.assertEqual([], self._leftovers('compute2'))

    def test_cold_migrate_revert_then_migrate_confirm(self):
        self.server = self._migrate_server(self.server, host='compute2',
                                           api=self.admin_api)
        self._assert_moved('compute2', OLD_GB)

        self.server = self._revert_resize(self.server)

        self._assert_reverted('compute2')

        self.server = self._migrate_server(self.server, host='compute2',
                                           api=self.admin_api)
        self._assert_moved('compute2', OLD_GB)

        self.server = self._confirm_resize(self.server)

        self.assertEqual(OLD_GB, self.server['flavor']['disk'])
        self._assert_confirmed('compute2')

    def test_snapshot_holds_image_and_guest_data(self):
        """A snapshot is the server's disk, flattened, as nova makes it.

        The server is stopped first, so nova takes its cold path: it
        extracts the snapshot from the instance disk with qemu-img
        convert, for real. (A running server's snapshot is a libvirt block
        copy of the disk, which nova's fake libvirt does not perform.)
        nova's harness reads the extracted file through a mock that
        returns no data, and the Glance fixture discards what it is
        sent: here nova reads the file for real and the upload is kept
        on its way to the fixture.
        """
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.utils.file_open', _REAL_FILE_OPEN))
        uploads = {}
        fixture_update = self.glance.update

        def update(context, image_id, metadata, data=None, **kwargs):
            if data is not None:
                uploads[image_id] = data.read()
            return fixture_update(context, image_id, metadata, **kwargs)

        self.useFixture(fixtures.MockPatchObject(
            self.glance, 'update', side_effect=update))
        self._stop_server(self.server)

        image_id = self.api.post_server_action(
            self.server['id'], {'createImage': {'name': 'snap'}})['image_id']
        # The compute takes snapshots in a worker of its own.
        self.notifier.wait_for_versioned_notifications('instance.snapshot.end')

        self.assertEqual('qcow2', self.glance.show(self.ctxt,
                                                   image_id)['disk_format'])
        snapshot = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                'snapshot')
        with open(snapshot, 'wb') as f:
            f.write(uploads[image_id])
        info = qemu_img.info(snapshot)
        self.assertEqual(('qcow2', OLD_GB * GiB, None),
                         (info['format'], info['virtual-size'],
                          info.get('backing-filename')))
        self.assertTrue(qemu_img.holds(snapshot, IMAGE_DATA, 0, MiB))
        self.assertTrue(qemu_img.holds(snapshot, GUEST_DATA, MiB, MiB))
        # The snapshot left the server's files as they were.
        self._assert_disk('compute1', OLD_GB)
        self._assert_guest_data('compute1')
