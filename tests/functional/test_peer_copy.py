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

"""Base files copied from peers, over a real sshd per host.

nova's own ``copy_image`` runs real scp or rsync over ssh to each peer's
sshd (``tests.sshd``); Glance, where a test needs it, is a real glance-api
on 127.0.0.1. Nothing of the transport is mocked.
"""

import filecmp
import hashlib
import os

from nova import context as nova_context
from nova import test
from nova.tests import fixtures as nova_fixtures
import testscenarios

from nova_precache import catalog
from nova_precache import digest
from nova_precache import imagecache
from nova_precache import peers
from tests.functional import glance_api
from tests import peer_hosts
from tests import qemu_img

IMAGE = '7c0e3b52-2f4e-4d53-a7a4-54cf3f5cf0d1'
TRANSPORTS = [('ssh', {'transport': 'ssh'}),
              ('rsync', {'transport': 'rsync'})]


def sparse_raw(path, mib=32):
    """A raw disk with data at both ends and a hole between."""
    with open(path, 'wb') as f:
        f.write(os.urandom(1 << 20))
        f.seek((mib - 1) << 20)
        f.write(os.urandom(1 << 20))


class PeerCopyTestCase(testscenarios.WithScenarios,
                       peer_hosts.PeerHostsTestCase):

    scenarios = TRANSPORTS

    def _copy(self, *hosts, meta=None):
        return peers.copy_from_peers(
            None, IMAGE, [self.peer(h) for h in hosts],
            meta if meta is not None else {'disk_format': 'qcow2'})

    def test_copy_is_the_peers_base_file(self):
        source = self.base_file('peer1', IMAGE)
        sparse_raw(source)
        self.record_digest('peer1', IMAGE)

        self.assertEqual('peer1', self._copy('peer1'))

        copy = self.base_file('here', IMAGE)
        self.assertTrue(filecmp.cmp(source, copy, shallow=False))
        self.assertEqual(digest.recorded(self.base_dir('peer1'),
                                         os.path.basename(source)),
                         digest.recorded(self.base_dir('here'),
                                         os.path.basename(copy)))
        self.assertEqual([], self.leftovers())
        if self.transport == 'rsync':
            # rsync --sparse keeps the hole; scp writes it out.
            self.assertLess(os.stat(copy).st_blocks * 512,
                            os.path.getsize(copy) // 2)
        self.assertIn('Copied image %s from peer peer1 (%s)'
                      % (IMAGE, self.hosts['peer1'].address),
                      self.stdlog.logger.output)

        # There already: no peer is asked.
        asked = self.hosts.connections()
        self.assertIsNone(self._copy('peer1'))
        self.assertEqual(asked, self.hosts.connections())

    def test_next_peer_when_one_lacks_the_image(self):
        data = os.urandom(1 << 20)
        self.plant('peer2', IMAGE, data)

        self.assertEqual('peer2', self._copy('peer1', 'peer2'))

        self.assertEqual(data, self.read(self.base_file('here', IMAGE)))
        self.assertIn('Not using image %s from peer peer1 (%s): %s failed'
                      % (IMAGE, self.hosts['peer1'].address,
                         'rsync' if self.transport == 'rsync' else 'scp'),
                      self.stdlog.logger.output)
        self.assertEqual([], self.leftovers())

    def test_a_copy_is_passed_on(self):
        data = os.urandom(1 << 20)
        self.plant('peer1', IMAGE, data)
        self._copy('peer1')

        # peer2 copies from here what here copied from peer1.
        self.flags(instances_path=self.dirs['peer2'])
        self.assertEqual('here', self._copy('here'))
        self.assertEqual(data, self.read(self.base_file('peer2', IMAGE)))

    def test_no_peer_can_provide_it(self):
        e = self.assertRaises(peers.PeerCopyFailed, self._copy,
                              'peer1', 'peer2')
        self.assertIn('No peer could provide image %s: peer1: ' % IMAGE,
                      str(e))
        self.assertIn('; peer2: ', str(e))
        self.assertFalse(os.path.exists(self.base_file('here', IMAGE)))
        self.assertEqual([], self.leftovers())

    def test_no_peer_no_ssh(self):
        e = self.assertRaises(peers.PeerCopyFailed, self._copy)
        self.assertIn('no peer to ask', str(e))
        self.assertEqual(0, self.hosts.connections())


class FromGlanceToPeersTestCase(peer_hosts.PeerHosts, test.TestCase):
    """A host's pass fetches from Glance; the others copy its file."""

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.glance = self.useFixture(glance_api.GlanceAPI())
        self.glance.serve_nova_service_user(self)
        self.critical = os.path.join(self.dirs['here'], 'critical-images')
        self.flags(enabled=True, critical_images_file=self.critical,
                   min_free_disk_gb=0, group='precache')
        self.ctxt = nova_context.get_admin_context()

    def _pass(self, host, *image_ids):
        """One pass of ``host``'s manager, pinning ``image_ids``."""
        with open(self.critical, 'w') as f:
            f.write(''.join('%s\n' % i for i in image_ids))
        self.flags(instances_path=self.dirs[host])
        manager = imagecache.PrecacheImageCacheManager()
        manager.update(self.ctxt, [])
        self.flags(instances_path=self.dirs['here'])
        return catalog.Catalog(manager.cache_dir, manager.lock_path)

    def test_digest_recorded_at_download_and_checked_by_peers(self):
        raw = os.urandom(2 << 20)
        images = [self.glance.upload(qemu_img.qcow2_of(raw))['id'],
                  self.glance.upload(raw, disk_format='raw')['id']]

        known = self._pass('peer1', *images)

        # Glance's download makes the base file and records its digest;
        # no peer is asked.
        self.assertEqual(0, self.hosts.connections())
        for image_id in images:
            base = self.base_file('peer1', image_id)
            self.assertEqual(
                (hashlib.sha256(raw).hexdigest(), len(raw)),
                digest.recorded(self.base_dir('peer1'),
                                os.path.basename(base)))

        # Here, with what Glance says of the images (for the raw one, its
        # hash, checked too), each is copied from peer1.
        for image_id in images:
            self.assertEqual('peer1', peers.copy_from_peers(
                None, image_id, [self.peer('peer1')],
                known.metadata(image_id)))
            self.assertEqual(raw, self.read(self.base_file('here',
                                                           image_id)))
        self.assertEqual([], self.leftovers())

    def test_a_pass_with_glance_up_asks_no_peer(self):
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']
        self._pass('here', image_id)
        self._pass('peer1', image_id)
        self.assertTrue(os.path.exists(self.base_file('here', image_id)))
        self.assertEqual(0, self.hosts.connections())

    def test_the_pass_removes_what_copies_left(self):
        gone = 'e' * 40
        # A copy killed with rsync's temporary file; the digest file of a
        # base file nova aged out.
        rsync_tmp = os.path.join(self.base_dir('here'), '.%s.part.Ab12Cd'
                                 % gone)
        with open(rsync_tmp, 'wb') as f:
            f.write(b'partial')
        digest.record(self.base_dir('here'), gone, 'f' * 64, 1)
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']

        self._pass('here', image_id)

        self.assertEqual([], self.leftovers())
        self.assertEqual(
            [os.path.basename(self.base_file('here', image_id))],
            os.listdir(digest.directory(self.base_dir('here'))))
