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

"""Peer copies without a peer: what needs no ssh.

Copies over real ssh are in tests/functional/test_peer_copy.py and
tests/faults/test_hostile_peers.py.
"""

import os

import fixtures
from nova import exception
from nova import test

from nova_precache import digest
from nova_precache import peers

from tests import locks

IMAGE = '9a4be0c1-1f3e-4d1c-b8a7-2c6e5d4f3a21'


class PeersTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances)
        self.cache_dir = os.path.join(self.instances, '_base')
        self.lock_path = os.path.join(self.instances, 'locks')
        os.makedirs(self.cache_dir)

    def _file(self, name):
        path = os.path.join(self.cache_dir, name)
        with open(path, 'wb') as f:
            f.write(b'partial')
        return path

    def test_no_peer_to_ask(self):
        e = self.assertRaises(peers.PeerCopyFailed, peers.copy_from_peers,
                              None, IMAGE, [], {'disk_format': 'qcow2'})
        self.assertEqual('No peer could provide image %s: no peer to ask'
                         % IMAGE, str(e))

    def test_unknown_format_without_raw_conversion(self):
        self.flags(force_raw_images=False)
        e = self.assertRaises(
            exception.ImageUnacceptable, peers.copy_from_peers, None, IMAGE,
            [peers.Peer('peer1', '127.0.0.3')], {})
        self.assertIn('its disk_format is not known here', str(e))

    def test_leftovers_of_copies_go(self):
        crashed = [self._file('.%s.part.Xy12Ab' % ('a' * 40))]
        digest.record(self.cache_dir, 'b' * 40, 'f' * 64, 1)
        others = [self._file('c' * 40), self._file('.notes.part.Xy12Ab')]
        digest.record(self.cache_dir, 'c' * 40, 'f' * 64, 1)

        peers.remove_leftovers(self.cache_dir, self.lock_path)

        self.assertEqual([False], [os.path.exists(p) for p in crashed])
        self.assertEqual([True, True], [os.path.exists(p) for p in others])
        self.assertEqual(['c' * 40],
                         os.listdir(digest.directory(self.cache_dir)))

    def test_leftovers_leave_a_copy_under_way(self):
        copying = self._file('.%s.part.Xy12Ab' % ('d' * 40))
        with locks.held_elsewhere('d' * 40, self.lock_path):
            peers.remove_leftovers(self.cache_dir, self.lock_path)
            self.assertTrue(os.path.exists(copying))
