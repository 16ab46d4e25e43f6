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

import hashlib
import os

import fixtures
from nova import test

from nova_precache import fetch

from tests import locks

DATA = os.urandom(3 * 1024 * 1024 + 7)


class VerifyTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'base')
        with open(self.path, 'wb') as f:
            f.write(DATA)

    def test_matching_multihash_and_md5(self):
        fetch.verify('img', self.path, {
            'os_hash_algo': 'sha512',
            'os_hash_value': hashlib.sha512(DATA).hexdigest()})
        fetch.verify('img', self.path,
                     {'checksum': hashlib.md5(DATA).hexdigest()})

    def test_mismatch_names_image_and_both_digests(self):
        e = self.assertRaises(
            fetch.ChecksumMismatch, fetch.verify, 'img', self.path,
            {'os_hash_algo': 'sha512', 'os_hash_value': 'f00',
             'checksum': hashlib.md5(DATA).hexdigest()})
        self.assertIn('Image img: sha512 of %s is %s, Glance says f00'
                      % (self.path, hashlib.sha512(DATA).hexdigest()),
                      str(e))

    def test_nothing_to_check_against(self):
        fetch.verify('img', self.path, {'checksum': None})

    def test_size_checked_without_hashes(self):
        fetch.verify('img', self.path, {'size': len(DATA), 'checksum': None})
        e = self.assertRaises(fetch.SizeMismatch, fetch.verify, 'img',
                              self.path, {'size': len(DATA) - 1})
        self.assertIn('Image img: %s has %d bytes, Glance says the image '
                      'has %d' % (self.path, len(DATA), len(DATA) - 1),
                      str(e))


class LeftoversTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.cache_dir = self.useFixture(fixtures.TempDir()).path
        self.lock_path = self.useFixture(fixtures.TempDir()).path

    def _file(self, name):
        path = os.path.join(self.cache_dir, name)
        with open(path, 'wb') as f:
            f.write(b'partial')
        return path

    def test_removes_what_no_download_holds(self):
        crashed = [self._file('a' * 40 + '.part'),
                   self._file('b' * 40 + '.converted')]
        others = [self._file('c' * 40), self._file('notes.part')]

        fetch.remove_leftovers(self.cache_dir, self.lock_path)

        self.assertEqual([False, False], [os.path.exists(p) for p in crashed])
        self.assertEqual([True, True], [os.path.exists(p) for p in others])

    def test_leaves_download_under_way_without_waiting(self):
        downloading = self._file('d' * 40 + '.part')
        # A download (a spawn's, say) holds the base file's lock.
        with locks.held_elsewhere('d' * 40, self.lock_path):
            fetch.remove_leftovers(self.cache_dir, self.lock_path)
            self.assertTrue(os.path.exists(downloading))
