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

"""The cache's file system fills up: nothing partial stays, spawns work.

instances_path is a tmpfs of 16 MiB. Something else on the host fills it
while an image downloads (a filler file, as a growing instance disk
would), through a proxy slow enough to watch the download happen.
"""

import errno
import os
import threading
import time

import fixtures
from oslo_utils import units

from tests.faults import base
from tests import glance_proxy
from tests import qemu_img

# Fetched in this order: the ranking breaks ties by image ID.
BIG = '10000000-0000-4000-8000-000000000001'
SMALL = '20000000-0000-4000-8000-000000000002'


def _fill(path):
    """Write to ``path`` until the file system is full."""
    with open(path, 'wb') as f:
        try:
            while True:
                f.write(b'\xff' * 65536)
                f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


class DiskFullTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.Tmpfs(self.instances, 16 * units.Mi))
        self.critical = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical')
        self.flags(critical_images_file=self.critical, fetch_concurrency=1,
                   group='precache')

    def _free(self):
        st = os.statvfs(self.instances)
        return st.f_bavail * st.f_frsize

    def _floor(self, nbytes):
        self.flags(min_free_disk_gb=nbytes / units.Gi, group='precache')

    def test_filled_during_download(self):
        big = os.urandom(8 * units.Mi)
        small = os.urandom(units.Mi)
        self.glance.upload(big, disk_format='raw', image_id=BIG)
        self.glance.upload(small, disk_format='raw', image_id=SMALL)
        # 2 MiB/s: BIG takes 4 s to download.
        proxy = self.useFixture(glance_proxy.GlanceProxy(
            self.glance, rate=2 * units.Mi))
        self.flags(group='glance', **proxy.nova_flags()['glance'])
        self.set_critical(BIG, SMALL)
        filler = os.path.join(self.instances, 'filler')
        part = self.base_file(BIG) + '.part'

        def fill_when_downloading():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (os.path.exists(part) and
                        os.path.getsize(part) >= 2 * units.Mi):
                    _fill(filler)
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=fill_when_downloading)
        thread.start()
        self.run_pass()
        thread.join()

        # BIG stopped at the full disk, its partial file gone; SMALL fits
        # in the space that freed.
        self.assertEqual([], self.cached_files(BIG))
        self.assertEqual([], self.leftovers())
        self.assertEqual(base.sha512(self.base_file(SMALL)),
                         self.glance_hash(SMALL))
        self.assertIn('Pre-caching image %s failed: [Errno 28] No space '
                      'left on device' % BIG, self.stdlog.logger.output)
        self.assertIn('1 fetched', self.stdlog.logger.output)

        # The next pass keeps 512 KiB free: it does not try BIG again.
        self._floor(512 * units.Ki)
        downloads = self.glance.request_count('GET /v2/images/%s/file'
                                              % BIG)
        manager = self.run_pass()
        self.assertEqual(downloads, self.glance.request_count(
            'GET /v2/images/%s/file' % BIG))
        [(entry, why)] = manager.last_plan.cut.left_out
        self.assertEqual(BIG, entry.image_id)
        self.assertIn('would leave less than min_free_disk_gb', why)
        self.assertGreaterEqual(self._free(), 512 * units.Ki)

        # A spawn of the cached image still works on this host: its
        # overlay needs no more than the floor left.
        before = self.glance.request_count()
        disk = self.spawn(SMALL)
        self.assertEqual([disk, self.base_file(SMALL)],
                         qemu_img.backing_chain(disk))
        qemu_img.check(disk)
        self.assertEqual(before, self.glance.request_count())

        # Room again: nothing was lost.
        os.unlink(filler)
        self.run_pass()
        self.assertEqual(base.sha512(self.base_file(BIG)),
                         self.glance_hash(BIG))

    def test_conversion_counted_against_the_floor(self):
        # 12 MiB of raw disk from a compressed qcow2 of a few KiB: the
        # pass must count the raw file it converts to, not the download.
        image = self.glance.upload(qemu_img.qcow2_of(
            b'nova' * (3 * units.Mi), '-c'))
        self.assertLess(image['size'], units.Mi)
        self.assertEqual(12 * units.Mi, image['virtual_size'])
        self.set_critical(image['id'])
        self._floor(8 * units.Mi)

        manager = self.run_pass()

        self.assertEqual([], self.cached_files(image['id']))
        self.assertEqual([], self.leftovers())
        [(entry, why)] = manager.last_plan.cut.left_out
        self.assertIn('would leave less than min_free_disk_gb', why)
        self.assertGreaterEqual(self._free(), 8 * units.Mi)

        # With the floor lower, it fits and is fetched.
        self._floor(2 * units.Mi)
        self.run_pass()
        self.assertEqual(12 * units.Mi,
                         os.path.getsize(self.base_file(image['id'])))
