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

"""Images made to read the host's files, or to lie, never reach _base.

The real glance-api serves them. Glance inspects what is uploaded with
container_format ``bare`` and refuses these; images of other container
formats (and images uploaded before Glance inspected anything) reach it
unchecked, so these are uploaded as ``ova``: nova does not look at the
container format, the images reach the pass as they would in a cloud.
Each pass also holds a good image, which must be cached as usual.
"""

import os

import fixtures
from oslo_utils import units

from tests.faults import base
from tests import glance_proxy
from tests import qemu_img


class HostileImageTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.work = self.useFixture(fixtures.TempDir()).path
        # A host file no image may expose.
        self.secret = os.path.join(self.work, 'secret')
        with open(self.secret, 'wb') as f:
            f.write(b'root:password\n' * 4096)
        self.good = self.glance.upload(qemu_img.qcow2_image('1M'))['id']

    def _qcow2(self, *create_options):
        path = os.path.join(self.work, 'hostile.qcow2')
        if os.path.exists(path):
            os.unlink(path)
        qemu_img.run('create', '-q', '-f', 'qcow2', *create_options +
                     (path, '1M'))
        with open(path, 'rb') as f:
            return f.read()

    def _upload(self, data, disk_format):
        return self.glance.upload(data, disk_format=disk_format,
                                  container_format='ova')['id']

    def _assert_rejected(self, hostile, reason):
        self.set_critical(hostile, self.good)

        self.run_pass()

        self.assertEqual([], self.cached_files(hostile))
        self.assertEqual([], self.leftovers())
        failures = [line for line in self.stdlog.logger.output.splitlines()
                    if 'Pre-caching image %s failed' % hostile in line]
        self.assertEqual(1, len(failures), failures)
        self.assertIn(reason, failures[0])
        self.assertIn('1 fetched', self.stdlog.logger.output)
        self.assertIn('1 failed', self.stdlog.logger.output)
        self.assertEqual('raw', qemu_img.info(
            self.base_file(self.good))['format'])

    def test_qcow2_backed_by_host_file(self):
        hostile = self._upload(self._qcow2(
            '-b', self.secret, '-F', 'raw'), 'qcow2')
        self._assert_rejected(hostile, 'Image does not pass safety check')

    def test_qcow2_with_external_data_file(self):
        data_file = os.path.join(self.work, 'data.raw')
        hostile = self._upload(self._qcow2(
            '-o', 'data_file=%s,data_file_raw=on' % data_file), 'qcow2')
        self._assert_rejected(hostile, 'Image does not pass safety check')

    def test_vmdk_descriptor_naming_host_file(self):
        descriptor = (
            '# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
            'parentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
            'RW %d FLAT "%s" 0\n\nddb.adapterType = "ide"\n'
            % (os.path.getsize(self.secret) // 512, self.secret))
        hostile = self._upload(descriptor.encode(), 'vmdk')
        self._assert_rejected(hostile, 'Image does not pass safety check')

    # nova's inspector finds the mismatch ("expected to be raw but
    # detected as qcow2", a WARNING of nova's) and refuses the image with
    # its generic reason.

    def test_qcow2_declared_raw(self):
        hostile = self._upload(self._qcow2(), 'raw')
        self._assert_rejected(hostile, 'Image not in a supported format')

    def test_raw_declared_qcow2(self):
        with open(self.secret, 'rb') as f:
            hostile = self._upload(f.read(), 'qcow2')
        self._assert_rejected(hostile, 'Image not in a supported format')

    def _inflating_proxy(self, image_id):
        """Glance's answers for ``image_id`` carry 1 MiB more than its size.

        As a broken or hostile server, or something in between, could.
        """
        proxy = self.useFixture(glance_proxy.GlanceProxy(
            self.glance, inflate=units.Mi, image=image_id))
        self.flags(group='glance', **proxy.nova_flags()['glance'])

    def test_more_data_than_its_size(self):
        hostile = self.glance.upload(os.urandom(units.Mi),
                                     disk_format='raw')['id']
        self._inflating_proxy(hostile)
        # Caught by python-glanceclient's check of Glance's hash.
        self._assert_rejected(hostile, 'Corrupt image download')

    def test_more_data_than_its_size_without_hash(self):
        hostile = self.glance.upload(os.urandom(units.Mi),
                                     disk_format='raw')['id']
        # Uploaded by a Glance that hashed nothing: nothing for
        # glanceclient to check, the size is all there is.
        self.glance.forget_hashes(hostile)
        self._inflating_proxy(hostile)
        self._assert_rejected(hostile, 'has %d bytes, Glance says the image '
                              'has %d' % (2 * units.Mi, units.Mi))
