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

"""The pass against a real glance-api: what it asks, what it keeps, and
what it does while Glance is killed, hangs and comes back.

nova's real image API and python-glanceclient talk to glance-api on
127.0.0.1 (SIGKILLed where a test says so); the hanging Glance is a socket
on 127.0.0.1 that accepts connections and never answers. The Nova service
user needs keystone, which is not here: its context is replaced by one the
glance fixture authenticates, and nothing else is.
"""

import os
import socket
import threading
import time

import fixtures
from nova import context as nova_context
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import catalog
from nova_precache import glance
from nova_precache import imagecache
from tests.functional import glance_api
from tests import qemu_img


class PassWithGlanceTestCase(test.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.glance = self.useFixture(glance_api.GlanceAPI())
        self.glance.serve_nova_service_user(self)
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.critical = os.path.join(self.instances, 'critical-images')
        self.flags(instances_path=self.instances)
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.flags(enabled=True, critical_images_file=self.critical,
                   min_free_disk_gb=0, group='precache')
        self.manager = imagecache.PrecacheImageCacheManager()
        # Glance's back-off runs on this clock, moved by the tests.
        self.now = 0.0
        self.manager.glance.health = glance.GlanceHealth(
            clock=lambda: self.now)
        self.ctxt = nova_context.get_admin_context()

    def _base_dir(self):
        return os.path.join(self.instances, '_base')

    def _base_file(self, image_id):
        return os.path.join(self._base_dir(),
                            nova_imagecache.get_cache_fname(image_id))

    def _critical(self, *image_ids):
        with open(self.critical, 'w') as f:
            f.write(''.join('%s\n' % i for i in image_ids))

    def test_steady_state_makes_no_glance_request(self):
        images = [self.glance.upload(qemu_img.qcow2_image())['id'],
                  self.glance.upload(os.urandom(1 << 20),
                                     disk_format='raw')['id']]
        unknown = '3b0c1c1e-3f0a-4a4e-9c8e-2f0d7f5e6a11'
        self._critical(*images + [unknown])
        before = self.glance.request_count()

        self.manager.update(self.ctxt, [])

        self.assertIn('Image %s is not in Glance' % unknown,
                      self.stdlog.logger.output)
        self.assertIn('2 fetched', self.stdlog.logger.output)
        self.assertIn('0 waiting for Glance', self.stdlog.logger.output)

        for image_id in images:
            self.assertEqual(
                'raw', qemu_img.info(self._base_file(image_id))['format'])
        self.assertGreater(self.glance.request_count(), before)
        known = catalog.Catalog(self.manager.cache_dir,
                                self.manager.lock_path)
        self.assertEqual(self.glance.project_id,
                         known.metadata(images[0])['owner'])

        before = self.glance.request_count()
        self.manager.update(self.ctxt, [])
        # A restarted compute (a new manager) knows as much from the disk.
        imagecache.PrecacheImageCacheManager().update(self.ctxt, [])
        self.assertEqual(before, self.glance.request_count())

        # A pinned image whose base file someone deleted comes back.
        os.unlink(self._base_file(images[1]))
        self.manager.update(self.ctxt, [])
        self.assertTrue(os.path.exists(self._base_file(images[1])))

    def test_corrupt_download_leaves_nothing(self):
        data = os.urandom(1 << 20)
        image = self.glance.upload(data, disk_format='raw')
        # The store now serves other bytes than those Glance hashed.
        stored = os.path.join(self.glance.dir, 'images', image['id'])
        with open(stored, 'r+b') as f:
            f.write(b'\0' * 4096)
        self._critical(image['id'])

        self.manager.update(self.ctxt, [])

        base_file = self._base_file(image['id'])
        self.assertEqual([], [f for f in os.listdir(os.path.dirname(
            base_file)) if f.startswith(os.path.basename(base_file))])
        self.assertIn('Pre-caching image %s failed' % image['id'],
                      self.stdlog.logger.output)
        self.assertIn('1 failed', self.stdlog.logger.output)
        # Caught by python-glanceclient's check of Glance's os_hash_value.
        self.assertIn('Corrupt image download', self.stdlog.logger.output)

    def _leftovers(self):
        return [f for f in os.listdir(self._base_dir())
                if f.endswith(('.part', '.converted'))]

    def test_killed_while_idle(self):
        cached = self.glance.upload(qemu_img.qcow2_image())['id']
        self._critical(cached)
        self.manager.update(self.ctxt, [])
        new = [self.glance.upload(qemu_img.qcow2_image())['id']
               for _ in range(3)]
        self._critical(cached, *new)
        self.glance.kill()

        started = time.monotonic()
        self.manager.update(self.ctxt, [])
        self.manager.update(self.ctxt, [])  # within the back-off

        self.assertLess(time.monotonic() - started, 30)
        self.assertTrue(os.path.exists(self._base_file(cached)))
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Glance is unavailable'))
        # Tried once for the three new images, not once per image.
        self.assertEqual(1, self.manager.glance.health.failures)

        self.glance.start()
        self.now += glance.FIRST_RETRY_SECONDS
        self.manager.update(self.ctxt, [])

        for image_id in [cached] + new:
            self.assertTrue(os.path.exists(self._base_file(image_id)))
        self.assertIn('Glance is available again after 1 failed tries',
                      self.stdlog.logger.output)

    def test_killed_mid_download(self):
        big = self.glance.upload(os.urandom(256 * 1024 * 1024),
                                 disk_format='raw')['id']
        self._critical(big)
        part = self._base_file(big) + '.part'

        def kill_when_downloading():
            deadline = time.monotonic() + 60
            while not os.path.exists(part) and time.monotonic() < deadline:
                time.sleep(0.005)
            self.glance.kill()

        killer = threading.Thread(target=kill_when_downloading)
        killer.start()
        self.manager.update(self.ctxt, [])
        killer.join()

        self.assertFalse(os.path.exists(self._base_file(big)))
        self.assertEqual([], self._leftovers())
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Glance is unavailable'))

        self.glance.start()
        self.now += glance.FIRST_RETRY_SECONDS
        self.manager.update(self.ctxt, [])
        self.assertEqual(256 * 1024 * 1024,
                         os.path.getsize(self._base_file(big)))
        self.assertEqual([], self._leftovers())

    def test_hanging_glance_is_bounded_by_glance_timeout(self):
        hung = socket.socket()
        hung.bind(('127.0.0.1', 0))
        hung.listen(16)
        self.addCleanup(hung.close)
        self.flags(endpoint_override='http://127.0.0.1:%d'
                   % hung.getsockname()[1], timeout=2, group='glance')
        self._critical('8f1bc0a6-53c5-4a1e-9f55-2b5a4d1e9c01')

        started = time.monotonic()
        self.manager.update(self.ctxt, [])

        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(1, self.manager.glance.health.failures)
        self.assertIn('Glance is unavailable', self.stdlog.logger.output)
