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

"""A catalog that cannot be written fails no build and no pre-cache.

The driver records an image after nova's spawn or cache_image succeeded.
Here the catalog's directory is taken by a file (a real ENOTDIR, whoever
runs the test), and nova's compute manager must still see success: the
server goes ACTIVE on a real spawn (real base file, real qcow2 overlay),
and nova's pre-cache reports the image ``cached``.
"""

import os

from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import catalog
from nova_precache import stats
from tests.functional import base
from tests import qemu_img


class RecordFailureTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.flags(enabled=True, group='precache')
        self.start_compute('compute1')
        self.image = self.create_image(qemu_img.qcow2_image())['id']
        os.makedirs(self.base_dir('compute1'))
        with open(os.path.join(self.base_dir('compute1'), catalog.DIRNAME),
                  'w'):
            pass

    def _assert_logged(self):
        self.assertIn('Could not record image %s in the pre-cache catalog'
                      % self.image, self.stdlog.logger.output)
        self.assertIn('Not a directory', self.stdlog.logger.output)

    def test_spawn_succeeds(self):
        server = self.boot('compute1', self.image)

        self.assertEqual('ACTIVE', server['status'])
        disk = os.path.join(self.instances_paths['compute1'], server['id'],
                            'disk')
        self.assertEqual(
            os.path.join(self.base_dir('compute1'),
                         nova_imagecache.get_cache_fname(self.image)),
            qemu_img.info(disk)['backing-filename'])
        self._assert_logged()
        # Not recorded, so not published: nothing else is lost.
        self.update_available_resource('compute1')
        self.assertEqual({}, stats.decode(
            self.host_states()['compute1'].stats))

    def test_cache_image_reports_cached(self):
        manager = self.computes['compute1'].manager
        with self.as_host('compute1'):
            # What nova's pre-cache API (POST /os-aggregates/{id}/images)
            # reports for each image, through the conductor.
            self.assertEqual({self.image: 'cached'},
                             manager.cache_images(self.ctxt, [self.image]))
            self.assertEqual({self.image: 'existing'},
                             manager.cache_images(self.ctxt, [self.image]))
        self.assertTrue(os.path.exists(os.path.join(
            self.base_dir('compute1'),
            nova_imagecache.get_cache_fname(self.image))))
        self._assert_logged()
        self.assertNotIn('Failed to cache image', self.stdlog.logger.output)
