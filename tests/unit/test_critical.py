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

import os

import fixtures
from nova import test

from nova_precache import critical

A = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
B = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'


class ParseTestCase(test.NoDBTestCase):

    def test_ids_notes_comments_and_order(self):
        images = critical.parse('f', [
            '# header', '', '%s  billing base OS ' % B, '   ', A.upper()])
        self.assertEqual([(B, 'billing base OS'), (A, '')],
                         list(images.items()))

    def test_bad_and_duplicate_lines_skipped_with_line_numbers(self):
        images = critical.parse('/etc/nova/critical', [
            A, 'not-a-uuid note', '%s again' % A, A.replace('-', '')])
        self.assertEqual([A], list(images))
        log = self.stdlog.logger.output
        self.assertIn("/etc/nova/critical:2: 'not-a-uuid' is not an image "
                      "UUID", log)
        self.assertIn('/etc/nova/critical:3: image %s is listed twice' % A,
                      log)
        # uuidutils accepts the 32-digit form; the file takes only the
        # canonical one, so that one image has one spelling.
        self.assertIn('/etc/nova/critical:4:', log)


class CriticalImagesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'critical')
        self.critical = critical.CriticalImages()

    def _write(self, text):
        with open(self.path, 'w') as f:
            f.write(text)

    def test_no_file_configured(self):
        self.assertEqual({}, self.critical.load(None))

    def test_edits_picked_up(self):
        self._write(A + '\n')
        self.assertEqual([A], list(self.critical.load(self.path)))
        self._write(A + '\n' + B + ' added later\n')
        self.assertEqual([A, B], list(self.critical.load(self.path)))

    def test_unreadable_file_keeps_last_good_list(self):
        self._write(A + '\n')
        self.critical.load(self.path)
        os.unlink(self.path)
        self.assertEqual([A], list(self.critical.load(self.path)))
        self.assertIn('Cannot read critical images file %s, keeping the 1 '
                      'images read before' % self.path,
                      self.stdlog.logger.output)
        with open(self.path, 'wb') as f:
            f.write(b'\xff\xfe not utf-8')
        self.assertEqual([A], list(self.critical.load(self.path)))
