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

"""A broken critical list and a nova-compute restart, in nova's harness.

A critical image that no instance uses is kept only by the list: were a
restart to forget it while the file is broken, nova's aging would remove
the base file.
"""

import codecs
import os

import fixtures
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import last_good
from tests.functional import base
from tests import qemu_img


class CriticalListRestartTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical-images')
        self.write(b'')
        # Age out anything unprotected at once.
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.flags(enabled=True, critical_images_file=self.critical_file,
                   min_free_disk_gb=0, group='precache')
        self.start_compute('compute1')
        self.image = self.create_image(qemu_img.qcow2_image(),
                                       name='billing')['id']
        self.base_file = os.path.join(
            self.base_dir('compute1'),
            nova_imagecache.get_cache_fname(self.image))

    def write(self, data):
        with open(self.critical_file, 'wb') as f:
            f.write(data)

    def test_restart_with_an_undecodable_list_keeps_the_image(self):
        self.write(b'%s  billing base OS\n' % self.image.encode())
        self.run_image_cache_pass('compute1')
        self.assertTrue(os.path.exists(self.base_file))
        self.assertTrue(os.path.exists(os.path.join(
            self.base_dir('compute1'), 'precache', last_good.FILENAME)))

        # Saved from PowerShell ("> file"): UTF-16, no line is a UUID.
        self.write(codecs.BOM_UTF16_LE + ('%s  billing base OS\n' %
                                          self.image).encode('utf-16-le'))
        self.restart_compute_service('compute1')
        self.run_image_cache_pass('compute1')
        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self.base_file))
        log = self.stdlog.logger.output
        self.assertIn('Critical images file %s is not used: no line names '
                      'an image and 2 lines are malformed. Keeping the last '
                      'good list: 1 images, as read from %s'
                      % (self.critical_file, self.critical_file), log)
        self.assertEqual(1, log.count('is not used'))

        # Fixed, the image stays; emptied, it is nova's to age out.
        self.write(b'%s\n' % self.image.encode())
        self.run_image_cache_pass('compute1')
        self.assertTrue(os.path.exists(self.base_file))
        self.write(b'')
        self.run_image_cache_pass('compute1')
        self.assertFalse(os.path.exists(self.base_file))

    def test_restart_with_the_list_missing_keeps_the_image(self):
        self.write(b'\xef\xbb\xbf%s\r\n' % self.image.encode())
        self.run_image_cache_pass('compute1')
        os.unlink(self.critical_file)
        self.restart_compute_service('compute1')
        self.run_image_cache_pass('compute1')
        self.assertTrue(os.path.exists(self.base_file))
        self.assertIn('is not used: No such file or directory',
                      self.stdlog.logger.output)
