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

"""Servers of a pinned image keep working while every Glance call fails.

nova's harness, real spawns and real files; fake libvirt starts any domain
whatever its disk holds, so each step also checks what qemu would open:
the instance disk's whole backing chain (``qemu-img info
--backing-chain``).
"""

import os

import fixtures
from nova.tests.functional.api import client
from nova import utils

from tests.functional import base
from tests import qemu_img


class GlanceDownOperationsTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical')
        self.age_unused_at_once()
        self.flags(enabled=True, critical_images_file=critical_file,
                   min_free_disk_gb=0, group='precache')
        self.start_compute('compute1')
        self.start_compute('compute2')
        self.image = self.create_image(qemu_img.qcow2_image())['id']
        with open(critical_file, 'w') as f:
            f.write(self.image + '\n')
        for host in self.computes:
            self.run_image_cache_pass(host)
        self.server = self.boot('compute1', self.image)

    def _compute1_fails(self):
        self.computes['compute1'].stop()
        with utils.temporary_mutation(self.admin_api, microversion='2.11'):
            self.admin_api.force_down_service('compute1', 'nova-compute',
                                              True)

    def _chain_intact(self, host, server):
        disk = self.instance_disk(host, server)
        chain = qemu_img.backing_chain(disk)
        self.assertEqual(2, len(chain))
        for layer in chain:
            self.assertTrue(os.path.exists(layer), layer)

    def test_stop_start_hard_reboot_and_passes(self):
        self.glance_down()
        with self.as_host('compute1'):
            self._stop_server(self.server)
            self._start_server(self.server)
            self._chain_intact('compute1', self.server)
            self._reboot_server(self.server, hard=True)
        self._chain_intact('compute1', self.server)
        # Passes with Glance down remove nothing pinned or in use.
        self._delete_server(self.server)
        for host in self.computes:
            self.run_image_cache_pass(host)
            self.assertEqual(1, len([
                f for f in os.listdir(self.base_dir(host))
                if os.path.isfile(os.path.join(self.base_dir(host), f))]))

    def test_evacuate_to_host_holding_the_image(self):
        self.glance_down()
        self._compute1_fails()

        with self.as_host('compute2'):
            server = self._evacuate_server(
                self.server, {'host': 'compute2'},
                expected_host='compute2', expected_state='ACTIVE')

        self._chain_intact('compute2', server)

    def test_evacuate_to_host_without_the_image_needs_glance(self):
        """The control: what pre-caching spares a host."""
        self.start_compute('compute3')
        self.glance_down()
        self._compute1_fails()

        # The harness runs the rebuild within the API call, so the
        # destination's failed download surfaces as the API's error.
        with self.as_host('compute3'):
            e = self.assertRaises(
                client.OpenStackApiException, self._evacuate_server,
                self.server, {'host': 'compute3'})
        self.assertIn('GlanceConnectionFailed', str(e))
        self.assertEqual([], os.listdir(self.base_dir('compute3')))
