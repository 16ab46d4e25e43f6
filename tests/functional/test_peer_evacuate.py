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

"""An evacuation with Glance down onto a host that lacks the image.

nova's harness with real spawns; each compute has its own instances_path,
``my_ip`` (so ``ComputeNode.host_ip``) and a real sshd on that address
(``tests.sshd``), and the destination's spawn copies the base file from a
peer with nova's own scp. Fake libvirt starts any domain, so the test
also checks what qemu would open: the disk's backing chain, all on the
destination.
"""

import contextlib
import filecmp
import os

import fixtures
from nova.tests.functional.api import client
from nova import utils

from nova_precache import conf
from tests.functional import base
from tests import qemu_img
from tests import sshd

CONF = conf.CONF


class EvacuateFromPeerTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical')
        self.flags(enabled=True, critical_images_file=critical_file,
                   min_free_disk_gb=0, peer_fetch=True, group='precache')
        for host in ('compute1', 'compute2', 'compute3'):
            self.start_compute(host)
        self.hosts = self.useFixture(sshd.Hosts(self.instances_paths))
        self.image = self.create_image(qemu_img.qcow2_image(
            pattern=0x5a))['id']
        # compute2 pins the image (its pass fetches it from Glance and
        # records its digest); compute1 runs a server of it.
        with open(critical_file, 'w') as f:
            f.write(self.image + '\n')
        self.run_image_cache_pass('compute2')
        with open(critical_file, 'w') as f:
            f.write('')
        self.server = self.boot('compute1', self.image)
        for host in self.computes:
            self.update_available_resource(host)

    @contextlib.contextmanager
    def as_host(self, hostname):
        # A compute's my_ip is its sshd's address: the resource tracker
        # publishes it as ComputeNode.host_ip, where peers reach it.
        with super().as_host(hostname):
            hosts = getattr(self, 'hosts', None)
            if hosts is None:
                yield
                return
            saved = CONF.my_ip
            CONF.set_override('my_ip', hosts[hostname].address)
            try:
                yield
            finally:
                CONF.set_override('my_ip', saved)

    def _compute1_fails(self):
        self.computes['compute1'].stop()
        self.hosts['compute1'].kill()
        with utils.temporary_mutation(self.admin_api, microversion='2.11'):
            self.admin_api.force_down_service('compute1', 'nova-compute',
                                              True)

    def _evacuate_to_compute3(self):
        with self.as_host('compute3'):
            return self._evacuate_server(
                self.server, {'host': 'compute3'},
                expected_host='compute3', expected_state='ACTIVE')

    def test_evacuate_with_glance_down_copies_from_a_peer(self):
        self.glance_down()
        self._compute1_fails()

        server = self._evacuate_to_compute3()

        chain = qemu_img.backing_chain(self.instance_disk('compute3',
                                                          server))
        self.assertEqual(2, len(chain))
        for layer in chain:
            self.assertTrue(layer.startswith(
                self.instances_paths['compute3'] + os.sep), layer)
            self.assertTrue(os.path.exists(layer), layer)
        self.assertTrue(filecmp.cmp(
            chain[1], os.path.join(self.base_dir('compute2'),
                                   os.path.basename(chain[1])),
            shallow=False))
        self.assertTrue(qemu_img.holds(chain[0], 0x5a, 0, 1 << 20))
        self.assertIn('Copied image %s from peer compute2' % self.image,
                      self.stdlog.logger.output)

    def test_with_glance_up_the_spawn_downloads(self):
        self._compute1_fails()
        asked = self.hosts.connections()

        server = self._evacuate_to_compute3()

        self.assertEqual(asked, self.hosts.connections())
        chain = qemu_img.backing_chain(self.instance_disk('compute3',
                                                          server))
        self.assertTrue(os.path.exists(chain[1]))

    def test_without_peer_fetch_nova_fails_as_before(self):
        self.flags(peer_fetch=False, group='precache')
        self.glance_down()
        self._compute1_fails()
        asked = self.hosts.connections()

        with self.as_host('compute3'):
            e = self.assertRaises(
                client.OpenStackApiException, self._evacuate_server,
                self.server, {'host': 'compute3'})
        self.assertIn('GlanceConnectionFailed', str(e))
        self.assertEqual(asked, self.hosts.connections())
        self.assertEqual([], os.listdir(self.base_dir('compute3')))
