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

"""A spawn and a pre-fetch, or two passes, wanting one image at once.

Each must find the other's work, not redo it, nor read it half-written:
Glance serves the image once (its own request log counts), and the spawn's
disk stands on a whole base file.
"""

import os
import shutil
import threading

from oslo_utils import units
from oslo_utils import uuidutils

from tests.faults import base
from tests import qemu_img

TRIALS = 20


class RaceTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.raw = os.urandom(8 * units.Mi)
        self.image = self.glance.upload(qemu_img.qcow2_of(self.raw))['id']
        self.digest = base.sha512_of(self.raw)
        self.set_critical(self.image)

    def _downloads(self):
        return self.glance.request_count('GET /v2/images/%s/file'
                                         % self.image)

    def _fresh_cache(self):
        shutil.rmtree(self.base_dir, ignore_errors=True)
        for name in os.listdir(self.instances):
            if uuidutils.is_uuid_like(name):
                shutil.rmtree(os.path.join(self.instances, name))

    def test_spawn_and_prefetch_together(self):
        for trial in range(TRIALS):
            self._fresh_cache()
            downloads = self._downloads()
            start = threading.Barrier(2)
            disks, errors = [], []

            def spawn():
                start.wait()
                try:
                    disks.append(self.spawn(self.image))
                except Exception as e:
                    errors.append(e)

            spawner = threading.Thread(target=spawn)
            spawner.start()
            start.wait()
            manager = self.run_pass()
            spawner.join()

            self.assertEqual([], errors, 'trial %d' % trial)
            self.assertEqual(1, self._downloads() - downloads,
                             'trial %d' % trial)
            self.assertEqual(self.digest,
                             base.sha512(self.base_file(self.image)))
            [disk] = disks
            self.assertEqual([disk, self.base_file(self.image)],
                             qemu_img.backing_chain(disk))
            qemu_img.check(disk)
            self.assertIn(self.image, manager.catalog.cached())
            self.assertEqual([], self.leftovers())

    def test_two_passes_together(self):
        runner = self.useFixture(base.PassRunner())
        conf = self.write_nova_conf(os.path.join(self.instances, 'nova.conf'),
                                    resize_target_sizes='1')
        logs = os.path.join(self.instances, 'logs')
        os.mkdir(logs)
        for trial in range(TRIALS // 4):
            self._fresh_cache()
            downloads = self._downloads()

            status = runner.run(
                conf, [os.path.join(logs, 'trial-%d-%d.log' % (trial, i))
                       for i in range(2)],
                self.glance.identity_headers())

            self.assertEqual(['ok', 'ok'], status, 'trial %d' % trial)
            self.assertEqual(1, self._downloads() - downloads)
            self.assertEqual(self.digest,
                             base.sha512(self.base_file(self.image)))
            target = self.target(self.image, 1)
            qemu_img.check(target)
            self.assertEqual([target, self.base_file(self.image)],
                             qemu_img.backing_chain(target))
            self.assertEqual('active',
                             self.catalog().metadata(self.image)['status'])
            self.assertEqual([], self.leftovers())
