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

from nova_precache import digest

from tests import locks

BASE = 'a' * 40
DATA = os.urandom(3 * 1024 * 1024 + 7)


class DigestFileTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.cache_dir = self.useFixture(fixtures.TempDir()).path
        self.lock_path = self.useFixture(fixtures.TempDir()).path

    def test_compute_reads_once_for_every_algorithm(self):
        path = os.path.join(self.cache_dir, BASE)
        with open(path, 'wb') as f:
            f.write(DATA)
        self.assertEqual({'sha256': hashlib.sha256(DATA).hexdigest(),
                          'sha512': hashlib.sha512(DATA).hexdigest()},
                         digest.compute(path, ['sha256', 'sha512', 'sha256']))

    def test_record_then_read(self):
        sha = hashlib.sha256(DATA).hexdigest()
        digest.record(self.cache_dir, BASE, sha, len(DATA))
        self.assertEqual((sha, len(DATA)),
                         digest.recorded(self.cache_dir, BASE))
        self.assertEqual(
            [BASE], os.listdir(os.path.join(self.cache_dir, 'precache',
                                            'digests')))
        self.assertIsNone(digest.recorded(self.cache_dir, 'b' * 40))

    def test_malformed_records_are_refused_with_why(self):
        good = {'algorithm': 'sha256', 'digest': 'f' * 64, 'size': 1}
        cases = [
            (b'{', 'not JSON'),
            (b'[]', 'not a sha256 digest record'),
            (digest.encode('f' * 64, 1).replace(b'sha256', b'md5'),
             'not a sha256 digest record'),
            (b'{"algorithm": "sha256", "digest": "../../x", "size": 1}',
             "malformed digest '../../x'"),
            (b'{"algorithm": "sha256", "digest": "%s", "size": -1}'
             % (b'f' * 64), 'malformed size -1'),
            (b'{"algorithm": "sha256", "digest": "%s", "size": true}'
             % (b'f' * 64), 'malformed size True'),
            (b'{"algorithm": "sha256", "digest": "%s", "size": 1.5}'
             % (b'f' * 64), 'malformed size 1.5'),
            (b' ' * 2000, 'more than a digest file holds'),
            (b'\xff\xfe', 'not JSON'),
        ]
        for data, why in cases:
            e = self.assertRaises(digest.BadDigestFile, digest.decode, data)
            self.assertIn(why, str(e))
        self.assertEqual(('f' * 64, 1), digest.decode(
            repr(good).replace("'", '"').encode()))

    def test_recorded_ignores_a_corrupt_file(self):
        os.makedirs(digest.directory(self.cache_dir))
        with open(digest.path(self.cache_dir, BASE), 'wb') as f:
            f.write(b'garbage')
        self.assertIsNone(digest.recorded(self.cache_dir, BASE))
        self.assertIn('Ignoring digest file', self.stdlog.logger.output)

    def test_leftovers_orphans_go_others_stay(self):
        kept, orphan = 'b' * 40, 'c' * 40
        with open(os.path.join(self.cache_dir, kept), 'wb') as f:
            f.write(b'base')
        for name in (kept, orphan):
            digest.record(self.cache_dir, name, 'f' * 64, 4)
        crashed = os.path.join(digest.directory(self.cache_dir),
                               '.%s.xyz' % kept)
        with open(crashed, 'wb') as f:
            f.write(b'half')

        digest.remove_leftovers(self.cache_dir, self.lock_path)

        self.assertEqual([kept],
                         os.listdir(digest.directory(self.cache_dir)))

    def test_leftovers_leave_a_digest_being_written(self):
        digest.record(self.cache_dir, BASE, 'f' * 64, 4)
        # A fetch or a copy of the base file holds its lock: it is about
        # to rename the base file into place.
        with locks.held_elsewhere(BASE, self.lock_path):
            digest.remove_leftovers(self.cache_dir, self.lock_path)
            self.assertIsNotNone(digest.recorded(self.cache_dir, BASE))

    def test_leftovers_without_a_directory(self):
        digest.remove_leftovers(os.path.join(self.cache_dir, 'none'),
                                self.lock_path)
