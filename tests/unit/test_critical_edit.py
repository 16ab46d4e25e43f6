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

"""Edits leave every other line's bytes as they were, on real files."""

import codecs
import os

import fixtures
from nova import test

from nova_precache import bounded_read
from nova_precache import critical
from nova_precache import critical_edit

A = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
B = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'
C = 'd2a1c3b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d'

# As a Windows editor saves it, with a note typed in Latin-1.
WINDOWS = (codecs.BOM_UTF8 + b'# billing\r\n' + A.encode() +
           b'  caf\xe9\r\n' + B.encode() + b'\r\n')


class EditTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'critical')

    def write(self, data, path=None):
        with open(path or self.path, 'wb') as f:
            f.write(data)

    def read(self, path=None):
        with open(path or self.path, 'rb') as f:
            return f.read()

    def others(self):
        """What is in the directory besides the list and its lock."""
        return sorted(n for n in os.listdir(self.tmp)
                      if n not in ('critical', '.critical.lock'))

    def test_add_keeps_bytes_bom_and_crlf(self):
        self.write(WINDOWS)
        critical_edit.add(self.path, C.upper(), note='web tier \u00e9')
        self.assertEqual(WINDOWS + C.encode() + b'  web tier \xc3\xa9\r\n',
                         self.read())
        self.assertEqual([A, B, C], list(critical.parse(self.read()).images))

    def test_remove_keeps_bytes_bom_and_crlf(self):
        self.write(WINDOWS)
        critical_edit.remove(self.path, B)
        self.assertEqual(WINDOWS[:-len(B) - 2], self.read())
        critical_edit.remove(self.path, A)
        self.assertEqual(codecs.BOM_UTF8 + b'# billing\r\n', self.read())

    def test_remove_of_the_first_line_keeps_the_bom(self):
        self.write(codecs.BOM_UTF8 + A.encode() + b'\r\n' + B.encode() +
                   b'\r\n')
        critical_edit.remove(self.path, A)
        self.assertEqual(codecs.BOM_UTF8 + B.encode() + b'\r\n', self.read())

    def test_undecodable_lines_listed_and_kept(self):
        self.write(WINDOWS)
        e = self.assertRaises(critical_edit.EditError, critical_edit.add,
                              self.path, A)
        self.assertIn('already listed in %s (line 2)' % self.path, str(e))
        critical_edit.remove(self.path, A)
        self.assertNotIn(b'caf\xe9', self.read())

    def test_add_after_a_last_line_without_newline(self):
        self.write(b'# list\n' + A.encode())
        critical_edit.add(self.path, B)
        self.assertEqual(b'# list\n' + A.encode() + b'\n' + B.encode() +
                         b'\n', self.read())
        self.write(b'# list\r\n' + A.encode())
        critical_edit.add(self.path, B)
        self.assertEqual(b'# list\r\n' + A.encode() + b'\r\n' + B.encode() +
                         b'\r\n', self.read())

    def test_new_file_has_the_header(self):
        critical_edit.add(self.path, A, note='db')
        self.assertEqual(critical_edit.HEADER + A.encode() + b'  db\n',
                         self.read())
        self.assertEqual(0o644, os.stat(self.path).st_mode & 0o777)
        self.assertEqual([], self.others())

    def test_symlink_kept_and_its_file_edited(self):
        target = os.path.join(self.tmp, 'real')
        self.write(WINDOWS, target)
        os.symlink(target, self.path)
        critical_edit.add(self.path, C)
        self.assertTrue(os.path.islink(self.path))
        self.assertEqual(WINDOWS + C.encode() + b'\r\n', self.read(target))

    def test_fifo_directory_and_huge_file_refused_untouched(self):
        os.mkfifo(self.path)
        for edit in (critical_edit.add, critical_edit.remove):
            e = self.assertRaises(bounded_read.Refused, edit, self.path, A)
            self.assertIn('a FIFO, not a regular file', str(e))
        os.unlink(self.path)
        os.mkdir(self.path)
        e = self.assertRaises(bounded_read.Refused, critical_edit.add,
                              self.path, A)
        self.assertIn('a directory', str(e))
        os.rmdir(self.path)
        huge = b'# ' + b'x' * (10 * 1024 * 1024) + b'\n'
        self.write(huge)
        e = self.assertRaises(bounded_read.Refused, critical_edit.add,
                              self.path, A)
        self.assertIn('larger than', str(e))
        self.assertEqual(huge, self.read())
        self.assertEqual([], self.others())

    def test_remove_from_a_missing_file(self):
        self.assertRaises(FileNotFoundError, critical_edit.remove,
                          self.path, A)
