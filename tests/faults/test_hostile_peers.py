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

"""Peers that serve what must not become a base file.

Each test gives peer1 something wrong where the image's base file should
be, and peer2 the good file: the copy from peer1 is refused with a log
line naming peer1 and why, nothing of it stays in ``_base``, and peer2's
copy is the base file. Real scp and rsync over a real sshd per host
(``tests.sshd``); real qemu-img images.
"""

import hashlib
import os
import threading
import time

import testscenarios

from nova_precache import digest
from nova_precache import peers
from tests import peer_hosts
from tests import qemu_img

IMAGE = '3d1f7a0c-9b2e-4c65-8e11-5a4c2b7d9e30'
GOOD = os.urandom(1 << 20)


class HostilePeersTestCase(testscenarios.WithScenarios,
                           peer_hosts.PeerHostsTestCase):

    scenarios = [('ssh', {'transport': 'ssh'}),
                 ('rsync', {'transport': 'rsync'})]

    def setUp(self):
        super().setUp()
        self.meta = {'disk_format': 'qcow2'}

    def _copy(self, good=GOOD):
        """Copy from peer1 then peer2 (which has ``good``); peer1's why."""
        self.plant('peer2', IMAGE, good)
        served = peers.copy_from_peers(
            None, IMAGE, [self.peer('peer1'), self.peer('peer2')],
            self.meta)
        self.assertEqual('peer2', served)
        self.assertEqual(good, self.read(self.base_file('here', IMAGE)))
        self.assertEqual([], self.leftovers())
        return self._why_not('peer1')

    def _why_not(self, host):
        """Why the log says the copy from ``host`` was not used."""
        mark = 'Not using image %s from peer %s (%s): ' % (
            IMAGE, host, self.hosts[host].address)
        output = self.stdlog.logger.output
        self.assertIn(mark, output)
        return output.split(mark, 1)[1].splitlines()[0]

    def test_truncated(self):
        path = self.plant('peer1', IMAGE, GOOD)
        os.truncate(path, len(GOOD) // 2)
        self.assertIn('it has %d bytes, its digest file says %d'
                      % (len(GOOD) // 2, len(GOOD)), self._copy())

    def test_wrong_bytes_of_the_right_size(self):
        path = self.plant('peer1', IMAGE, GOOD)
        with open(path, 'r+b') as f:
            f.seek(len(GOOD) // 2)
            f.write(b'\0' * 512)
        self.assertIn('its sha256 is ', self._copy())

    def test_qcow2_with_a_backing_file_and_its_own_digest(self):
        # A hostile host records the digest of what it planted.
        path = self.base_file('peer1', IMAGE)
        qemu_img.run('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                     '/etc/shadow', path, '1M')
        self.record_digest('peer1', IMAGE)
        self.assertIn('it fails the safety check', self._copy())

    def test_qcow2_kept_as_qcow2_with_a_backing_file(self):
        self.flags(force_raw_images=False)
        path = self.base_file('peer1', IMAGE)
        qemu_img.run('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                     '/etc/shadow', path, '1M')
        self.record_digest('peer1', IMAGE)
        self.assertIn('it fails the safety check',
                      self._copy(good=qemu_img.qcow2_of(GOOD)))

    def test_other_bytes_with_their_own_digest_against_glance(self):
        # Glance's hash is known here for an unconverted image: a peer
        # cannot pass other bytes off with a digest file to match.
        self.meta = {'disk_format': 'raw', 'size': len(GOOD),
                     'os_hash_algo': 'sha512',
                     'os_hash_value': hashlib.sha512(GOOD).hexdigest()}
        self.plant('peer1', IMAGE, os.urandom(len(GOOD)))
        self.assertIn('Glance says %s' % self.meta['os_hash_value'],
                      self._copy())

    def test_digest_file_disagrees_with_glance_on_size(self):
        self.meta = {'disk_format': 'raw', 'size': len(GOOD)}
        self.plant('peer1', IMAGE, GOOD + b'more')
        self.assertIn("its digest file says %d bytes, where the image's "
                      "base file has %d" % (len(GOOD) + 4, len(GOOD)),
                      self._copy())

    def test_no_digest_file(self):
        path = self.base_file('peer1', IMAGE)
        with open(path, 'wb') as f:
            f.write(GOOD)
        self.assertIn('failed (exit code', self._copy())

    def test_garbage_digest_file(self):
        self.plant('peer1', IMAGE, GOOD)
        with open(digest.path(self.base_dir('peer1'),
                              os.path.basename(self.base_file(
                                  'peer1', IMAGE))), 'wb') as f:
            f.write(os.urandom(64 << 20))
        # Stopped once past a digest file's size, or refused when read.
        self.assertIn('its digest file ', self._copy())

    def test_a_directory_where_the_base_file_should_be(self):
        path = self.base_file('peer1', IMAGE)
        os.mkdir(path)
        with open(os.path.join(path, 'disk'), 'wb') as f:
            f.write(GOOD)
        digest.record(self.base_dir('peer1'), os.path.basename(path),
                      hashlib.sha256(GOOD).hexdigest(), len(GOOD))
        self.assertIn('not a regular file', self._copy())

    def test_a_file_that_grew(self):
        path = self.plant('peer1', IMAGE, GOOD)
        with open(path, 'ab') as f:
            f.write(os.urandom(4096))
        # Stopped once past its recorded size, or refused when complete.
        why = self._copy()
        self.assertIn('bytes', why)
        self.assertIn(str(len(GOOD)), why)

    def test_more_than_its_digest_file_says_is_stopped(self):
        path = self.plant('peer1', IMAGE, GOOD)
        # Far more than the copy brings between two looks at it.
        with open(path, 'ab') as f:
            for _ in range(256):
                f.write(b'\1' * (1 << 20))
        self.assertIn('its base file has more than the %d bytes expected: '
                      'the copy was stopped at' % len(GOOD), self._copy())

    def test_peer_goes_away_mid_copy(self):
        # Large enough that the copy is still running when peer1 goes:
        # data every 8 MiB, holes between (rsync keeps the holes, and
        # still writes the data as it comes).
        path = self.base_file('peer1', IMAGE)
        with open(path, 'wb') as f:
            for n in range(32):
                f.seek(n << 23)
                f.write(os.urandom(1 << 16))
            f.truncate(256 << 20)
        self.record_digest('peer1', IMAGE)
        # peer2 holds the same file, with the same digest file.
        os.link(path, self.base_file('peer2', IMAGE))
        os.makedirs(digest.directory(self.base_dir('peer2')))
        name = os.path.basename(path)
        os.link(digest.path(self.base_dir('peer1'), name),
                digest.path(self.base_dir('peer2'), name))
        result = {}

        def copy():
            try:
                result['served'] = peers.copy_from_peers(
                    None, IMAGE, [self.peer('peer1'), self.peer('peer2')],
                    self.meta)
            except Exception as e:
                result['error'] = e

        thread = threading.Thread(target=copy)
        thread.start()
        try:
            self._wait_for_partial_copy(thread)
            self.hosts['peer1'].kill()
        finally:
            thread.join()
        self.assertEqual({'served': 'peer2'}, result)
        self.assertEqual([], self.leftovers())
        with open(path, 'rb') as f, \
                open(self.base_file('here', IMAGE), 'rb') as g:
            self.assertEqual(hashlib.sha256(f.read()).digest(),
                             hashlib.sha256(g.read()).digest())
        # The transport failed: nothing of the copy was checked.
        self.assertIn('failed (exit code', self._why_not('peer1'))

    def _wait_for_partial_copy(self, thread):
        base_name = os.path.basename(self.base_file('here', IMAGE))
        while True:
            for name in os.listdir(self.base_dir('here')):
                if base_name + '.part' in name:
                    try:
                        if os.path.getsize(os.path.join(
                                self.base_dir('here'), name)):
                            return
                    except FileNotFoundError:
                        pass
            if not thread.is_alive():
                self.fail('the copy from peer1 ended before it was cut')
            time.sleep(0.005)
