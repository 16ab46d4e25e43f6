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

"""The checks a file from elsewhere passes to become a base file.

Real files, made and read with real qemu-img.
"""

import hashlib
import os

import fixtures
from nova import exception
from nova import test

from nova_precache import basefile
from tests import qemu_img

IMAGE = '0b6f8a9e-6a53-4a0e-8f36-8c8d3c2f5d11'
RAW = os.urandom(1 << 20)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class ExpectedTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def _file(self, data, name='base'):
        path = os.path.join(self.dir, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def _check(self, meta, data, sha=None, size=None):
        path = self._file(data)
        basefile.Expected(IMAGE, meta).check(
            path, sha or sha256(data), len(data) if size is None else size)

    def _rejected(self, meta, data, why, **kwargs):
        e = self.assertRaises((basefile.Rejected, exception.NovaException),
                              self._check, meta, data, **kwargs)
        self.assertIn(why, str(e))

    def test_converted_raw_base_passes(self):
        self._check({'disk_format': 'qcow2', 'size': 5}, RAW)

    def test_converted_raw_base_of_unknown_image_passes(self):
        # force_raw_images: whatever the image was, its base file is raw.
        self._check({}, RAW)

    def test_raw_image_checked_against_glance(self):
        meta = {'disk_format': 'raw', 'size': len(RAW),
                'os_hash_algo': 'sha512',
                'os_hash_value': hashlib.sha512(RAW).hexdigest()}
        self._check(meta, RAW)
        bad = dict(meta, os_hash_value='0' * 128)
        self._rejected(bad, RAW, 'its sha512 is %s, Glance says %s'
                       % (hashlib.sha512(RAW).hexdigest(), '0' * 128))
        self._rejected(dict(meta, size=len(RAW) + 1), RAW,
                       '%d bytes, where the image\'s base file has %d'
                       % (len(RAW), len(RAW) + 1))
        self._check({'disk_format': 'raw',
                     'checksum': hashlib.md5(RAW).hexdigest()}, RAW)

    def test_converted_size_is_the_virtual_size(self):
        self._check({'disk_format': 'qcow2', 'size': 7,
                     'virtual_size': len(RAW)}, RAW)
        self._rejected({'disk_format': 'qcow2', 'virtual_size': 1 << 30},
                       RAW, 'where the image\'s base file has %d' % (1 << 30))

    def test_digest_and_size_must_match(self):
        self._rejected({}, RAW, 'its sha256 is %s, its digest file says %s'
                       % (sha256(RAW), 'f' * 64), sha='f' * 64)
        self._rejected({}, RAW, 'it has %d bytes, its digest file says 5'
                       % len(RAW), size=5)

    def test_qcow2_with_backing_file_where_raw_expected(self):
        with fixtures.TempDir() as tmp:
            path = os.path.join(tmp.path, 'evil.qcow2')
            qemu_img.run('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                         '/etc/shadow', path, '1M')
            with open(path, 'rb') as f:
                data = f.read()
        self._rejected({'disk_format': 'raw'}, data,
                       'it fails the safety check: Safety checks failed: '
                       'backing_file')
        self._rejected({'disk_format': 'qcow2'}, data,
                       'it fails the safety check')
        self.flags(force_raw_images=False)
        self._rejected({'disk_format': 'qcow2'}, data,
                       'it fails the safety check')
        # Without the format inspector, qemu-img still finds the file.
        self.flags(disable_deep_image_inspection=True, group='workarounds')
        self._rejected({'disk_format': 'qcow2'}, data,
                       'it has a backing file: /etc/shadow')

    def test_qcow2_kept_as_qcow2(self):
        self.flags(force_raw_images=False)
        data = qemu_img.qcow2_of(RAW)
        self._check({'disk_format': 'qcow2', 'size': len(data)}, data)
        self._rejected({'disk_format': 'raw'}, data,
                       'it is qcow2, not gpt or raw')
        # Without a disk_format, nothing says what the file must be.
        self._rejected({}, data, 'its disk_format is not known here')

    def test_qemu_img_must_agree_without_deep_inspection(self):
        self.flags(disable_deep_image_inspection=True, group='workarounds')
        data = qemu_img.qcow2_of(RAW)
        self._rejected({'disk_format': 'qcow2'}, data,
                       'qemu-img reads it as qcow2, not raw')

    def test_a_directory_is_not_a_base_file(self):
        path = os.path.join(self.dir, 'base')
        os.mkdir(path)
        e = self.assertRaises(basefile.Rejected, basefile.Expected(
            IMAGE, {}).check, path, 'f' * 64, 0)
        self.assertIn('it is not a regular file', str(e))
