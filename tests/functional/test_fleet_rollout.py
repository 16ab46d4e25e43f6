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

"""A new image spreads over four computes from one Glance download.

Each compute has its own instances_path, a real sshd on its own loopback
address (``tests.sshd``), a compute node and a service row in nova's DB;
Glance is a real glance-api, whose downloads are counted where it serves
them. Each compute's pass is ``PrecacheImageCacheManager.update()`` run
as that compute, and what the resource tracker does after it, publishing
the driver's stats in the compute node, is written to the row directly.
Copies go through nova's own ``copy_image`` (scp, or rsync over ssh).
"""

import filecmp
import os

import fixtures
from nova import context as nova_context
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt import images
from oslo_concurrency import processutils

from nova_precache import catalog
from nova_precache import fleet
from nova_precache import imagecache
from nova_precache import sources
from tests import compute_nodes
from tests.functional import glance_api
from tests import peer_hosts
from tests import qemu_img


class FleetRolloutTestCase(peer_hosts.PeerHosts, test.TestCase):

    HOSTS = ('here', 'peer1', 'peer2', 'peer3')
    transport = 'rsync'

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.glance = self.useFixture(glance_api.GlanceAPI())
        self.glance.serve_nova_service_user(self)
        self.ctxt = nova_context.get_admin_context()
        self.critical = os.path.join(self.useFixture(
            fixtures.TempDir()).path, 'critical-images')
        open(self.critical, 'w').close()
        self.flags(enabled=True, critical_images_file=self.critical,
                   min_free_disk_gb=0, peer_fetch=True, glance_seeders=1,
                   group='precache')
        # What nova runs: ssh, scp and rsync for the copies included.
        self.commands = []
        execute = processutils.execute

        def _execute(*cmd, **kwargs):
            self.commands.append(os.path.basename(str(cmd[0])))
            return execute(*cmd, **kwargs)

        self.useFixture(fixtures.MonkeyPatch(
            'oslo_concurrency.processutils.execute', _execute))
        self.nodes, self.managers = {}, {}
        self.now = 0.0
        for host in self.HOSTS:
            objects.Service(self.ctxt, host=host, binary='nova-compute',
                            topic='compute').create()
            self.nodes[host] = compute_nodes.create(
                self.ctxt, host, self.hosts[host].address)
            with self._as(host):
                manager = imagecache.PrecacheImageCacheManager()
            manager.carrier.sources = sources.Sources(clock=lambda: self.now)
            self.managers[host] = manager
        # Each test's fleet is read afresh.
        self.useFixture(fixtures.MockPatchObject(fleet, 'FLEET',
                                                 fleet.Fleet()))

    def _as(self, host):
        test_case = self

        class _Host(fixtures.Fixture):
            def _setUp(self):
                for name, value in (('host', host), ('instances_path',
                                    test_case.dirs[host]),
                                    ('my_ip', test_case.hosts[host].address)):
                    self.addCleanup(test_case.flags,
                                    **{name: getattr(test.CONF, name)})
                    test_case.flags(**{name: value})

        return _Host()

    def _pass(self, host):
        """``host``'s pass, then its stats published: its summary line."""
        mark = len(self.stdlog.logger.output)
        with self._as(host):
            manager = self.managers[host]
            manager.update(self.ctxt, [])
            node = self.nodes[host]
            node.stats = dict(node.stats, **manager.published_stats())
            node.save()
        return [line for line in self.stdlog.logger.output[mark:].splitlines()
                if 'Pre-caching pass:' in line][-1]

    def _critical(self, *image_ids):
        with open(self.critical, 'w') as f:
            f.write(''.join('%s\n' % i for i in image_ids))

    def _downloads(self, image_id):
        return self.glance.request_count('GET /v2/images/%s/file' % image_id)

    def _seeder(self, image_id):
        [seeder] = fleet.Fleet().view(self.ctxt, None).seeders(image_id)
        return seeder.host

    def _source(self, host, image_id):
        return catalog.Catalog(self.base_dir(host), None).source(image_id)

    def test_rollout_takes_one_copy_from_glance(self):
        image_id = self.glance.upload(qemu_img.qcow2_image(
            pattern=0x3c))['id']
        self._critical(image_id)
        seeder = self._seeder(image_id)
        order = [h for h in self.HOSTS if h != seeder]
        # Two computes pass before the seeder, one after it.
        early, late = order[:2], order[2:]

        for host in early:
            summary = self._pass(host)
            self.assertIn('0 fetched', summary)
            self.assertIn('1 waiting for a peer', summary)
        self.assertIn('1 from Glance, 0 from peers', self._pass(seeder))
        for host in late + early:
            self.assertIn('0 from Glance, 1 from peers', self._pass(host))

        self.assertEqual(1, self._downloads(image_id))
        reference = os.path.join(self.dirs['here'], 'download')
        images.fetch_to_raw(self.glance.nova_context(), image_id, reference)
        for host in self.HOSTS:
            self.assertTrue(filecmp.cmp(
                reference, self.base_file(host, image_id), shallow=False),
                host)
            self.assertEqual([], self.leftovers(host))
            source = self._source(host, image_id)
            if host == seeder:
                self.assertEqual('Glance', source)
            else:
                self.assertTrue(source.startswith('peer '), source)
        self.assertIn('rsync', self.commands)

    def test_a_waiting_host_copies_before_its_next_pass(self):
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']
        self._critical(image_id)
        seeder = self._seeder(image_id)
        other = [h for h in self.HOSTS if h != seeder][0]
        self.assertIn('1 waiting for a peer', self._pass(other))
        self._pass(seeder)

        # At the driver's resource updates: not due yet, then due.
        with self._as(other):
            self.managers[other].retry_waiting()
            self.assertFalse(self.managers[other].carrier.fetching())
            self.now += sources.retry_seconds()
            self.managers[other].retry_waiting()
        self.assertTrue(image_id in self.managers[other].carrier.fetching()
                        or os.path.exists(self.base_file(other, image_id)))

        self.assertIn('0 from Glance, 1 from peers', self._pass(other))
        self.assertEqual('peer %s' % seeder, self._source(other, image_id))
        self.assertEqual(1, self._downloads(image_id))

    def test_glance_down_a_new_critical_image_comes_from_a_peer(self):
        image_id = '6f0d43a2-9e5b-4c6e-8a53-1d1c8f0e2b77'
        data = os.urandom(3 << 20)
        self.plant('peer2', image_id, data)
        node = self.nodes['peer2']
        node.stats = dict(node.stats, **compute_nodes.published(
            [image_id], [image_id]))
        node.save()
        self.glance.stop()
        self._critical(image_id)

        for host in ('here', 'peer1', 'peer3'):
            summary = self._pass(host)
            self.assertIn('1 from peers', summary)
            self.assertEqual(data, self.read(self.base_file(host, image_id)))
            self.assertEqual([], self.leftovers(host))
        self.assertIn('Copied image %s from peer' % image_id,
                      self.stdlog.logger.output)

    def test_every_seeder_down_glance_at_once(self):
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']
        self._critical(image_id)
        seeder = self._seeder(image_id)
        service = objects.Service.get_by_compute_host(self.ctxt, seeder)
        service.forced_down = True
        service.save()
        other = [h for h in self.HOSTS if h != seeder][0]

        self.assertIn('1 from Glance', self._pass(other))
        self.assertEqual(1, self._downloads(image_id))

    def test_glance_after_peer_wait(self):
        self.flags(peer_wait=600, group='precache')
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']
        self._critical(image_id)
        other = [h for h in self.HOSTS if h != self._seeder(image_id)][0]

        self.assertIn('1 waiting for a peer', self._pass(other))
        self.now += 599
        self.assertIn('1 waiting for a peer', self._pass(other))
        self.assertEqual(0, self._downloads(image_id))
        self.now += 1
        self.assertIn('1 from Glance', self._pass(other))
        self.assertEqual(1, self._downloads(image_id))
        self.assertEqual('Glance', self._source(other, image_id))

    def test_without_peer_fetch_no_ssh_at_all(self):
        self.flags(peer_fetch=False, group='precache')
        image_id = self.glance.upload(qemu_img.qcow2_image())['id']
        held = '6f0d43a2-9e5b-4c6e-8a53-1d1c8f0e2b77'
        self.plant('peer2', held, os.urandom(1 << 20))
        self.nodes['peer2'].stats = compute_nodes.published([held], [held])
        self.nodes['peer2'].save()
        self._critical(image_id, held)

        for host in self.HOSTS:
            self._pass(host)
        self.glance.stop()
        for host in self.HOSTS:
            self._pass(host)

        self.assertEqual(len(self.HOSTS), self._downloads(image_id))
        self.assertEqual([], [c for c in self.commands
                              if c in ('ssh', 'scp', 'rsync')])
        self.assertEqual(0, self.hosts.connections())
        self.assertFalse(os.path.exists(self.base_file('here', held)))
