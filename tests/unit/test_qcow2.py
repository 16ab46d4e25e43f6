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

"""The header reader against files made by real qemu-img."""

import os
import struct

import fixtures
import testtools

from nova_precache import qcow2
from tests import qemu_img


class ReadHeaderTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.base = self._path('base')
        qemu_img.run('create', '-f', 'raw', self.base, '16M')

    def _path(self, name):
        return os.path.join(self.tmp, name)

    def test_overlay_v3_and_v2(self):
        for compat in ('1.1', '0.10'):
            disk = self._path('disk-' + compat)
            qemu_img.run('create', '-f', 'qcow2', '-o',
                     'compat=%s,backing_file=%s,backing_fmt=raw'
                     % (compat, self.base), disk, '20G')
            self.assertEqual((self.base, 20 * 2 ** 30),
                             qcow2.read_header(disk))

    def test_relative_backing_name_as_written(self):
        disk = self._path('disk')
        qemu_img.run('create', '-f', 'qcow2', '-F', 'raw', '-b', 'base', disk)
        self.assertEqual(('base', 16 * 2 ** 20), qcow2.read_header(disk))

    def test_no_backing_file(self):
        disk = self._path('plain')
        qemu_img.run('create', '-f', 'qcow2', disk, '1G')
        self.assertEqual((None, 2 ** 30), qcow2.read_header(disk))

    def test_not_qcow2_or_not_sure(self):
        self.assertIsNone(qcow2.read_header(self.base))
        disk = self._path('disk')
        qemu_img.run('create', '-f', 'qcow2', '-F', 'raw', '-b', self.base,
                 disk)
        with open(disk, 'rb') as f:
            header = bytearray(f.read(qcow2.MAX_READ))

        def variant(name, offset, fmt, value, length=None):
            data = bytearray(header if length is None else header[:length])
            if fmt:
                struct.pack_into(fmt, data, offset, value)
            path = self._path(name)
            with open(path, 'wb') as f:
                f.write(data)
            return path

        for path in (
                variant('truncated', 0, None, None, length=20),
                variant('version', 4, '>I', 4),
                variant('beyond', 8, '>Q', qcow2.MAX_READ),
                variant('inside-header', 8, '>Q', 4),
                variant('too-long', 16, '>I', qcow2.MAX_BACKING_NAME + 1),
                variant('cut-name', 0, None, None, length=len(
                    self.base) // 2 + struct.unpack_from(
                        '>Q', header, 8)[0])):
            self.assertIsNone(qcow2.read_header(path), path)

    def test_missing_file_raises(self):
        self.assertRaises(FileNotFoundError, qcow2.read_header,
                          self._path('nope'))
