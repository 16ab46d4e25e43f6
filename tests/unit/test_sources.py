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

"""Where a missing image comes from, over nova's real DB and objects."""

import collections
import random

from nova import context as nova_context
from nova import objects
from nova import test

from nova_precache import fleet
from nova_precache import sources
from tests import compute_nodes

IMAGE = '7c0e3b52-2f4e-4d53-a7a4-54cf3f5cf0d1'


class PeerWaitTestCase(test.NoDBTestCase):

    def test_default_is_two_pass_intervals(self):
        self.flags(manager_interval=2400, group='image_cache')
        self.assertEqual(4800, sources.peer_wait())
        # nova's periodic task runs every 60 s with 0.
        self.flags(manager_interval=0, group='image_cache')
        self.assertEqual(120, sources.peer_wait())

    def test_set(self):
        self.flags(peer_wait=0, group='precache')
        self.assertEqual(0, sources.peer_wait())


class ChooseTestCase(test.TestCase):

    def setUp(self):
        super().setUp()
        self.ctxt = nova_context.get_admin_context()
        self.flags(peer_fetch=True, glance_seeders=2, peer_wait=100,
                   group='precache')
        self.now = 0.0
        self.sources = sources.Sources(clock=lambda: self.now,
                                       rng=random.Random(1))
        self.nodes = {}
        for n in range(12):
            host = 'compute%d' % n
            objects.Service(self.ctxt, host=host, binary='nova-compute',
                            topic='compute').create()
            self.nodes[host] = compute_nodes.create(
                self.ctxt, host, '10.0.0.%d' % (n + 1))
        self.seeders = [n.host for n in self._view('x').seeders(IMAGE)]
        self.other = sorted(set(self.nodes) - set(self.seeders))[0]

    def _view(self, host):
        return fleet.Fleet(rng=random.Random(2)).view(self.ctxt, host)

    def _choose(self, host, glance_up=True):
        return self.sources.choose(self._view(host), IMAGE, glance_up)

    def _publish(self, host):
        self.nodes[host].stats = compute_nodes.published([IMAGE])
        self.nodes[host].save()

    def test_without_peer_copies_glance(self):
        source = self.sources.choose(None, IMAGE, True)
        self.assertEqual((sources.GLANCE, []), source[:2])

    def test_seeders_download_the_others_wait(self):
        for host in self.seeders:
            self.assertEqual(sources.GLANCE, self._choose(host).kind)
        source = self._choose(self.other)
        self.assertEqual(sources.WAIT, source.kind)
        self.assertIn(self.seeders[0], source.why)

    def test_glance_after_peer_wait(self):
        self.assertEqual(sources.WAIT, self._choose(self.other).kind)
        self.now = 99
        self.assertEqual(sources.WAIT, self._choose(self.other).kind)
        self.now = 100
        source = self._choose(self.other)
        self.assertEqual(sources.GLANCE, source.kind)
        self.assertIn('no peer after 100 s', source.why)

    def test_glance_when_every_seeder_is_down(self):
        for host in self.seeders[:1]:
            service = objects.Service.get_by_compute_host(self.ctxt, host)
            service.forced_down = True
            service.save()
        # One seeder up: wait for it.
        self.assertEqual(sources.WAIT, self._choose(self.other).kind)
        service = objects.Service.get_by_compute_host(self.ctxt,
                                                      self.seeders[1])
        service.forced_down = True
        service.save()
        source = self._choose(self.other)
        self.assertEqual(sources.GLANCE, source.kind)
        self.assertEqual('every seeder is down', source.why)

    def _parent(self, host):
        return self._view(host).parent(IMAGE).host

    def test_the_parent_when_it_holds_then_random_holders(self):
        parent = self._parent(self.other)
        self.assertEqual(sources.WAIT, self._choose(self.other).kind)
        for host in ['compute%d' % n for n in range(12)]:
            self._publish(host)
        picked = collections.Counter()
        for _ in range(60):
            source = self._choose(self.other)
            self.assertEqual(sources.PEERS, source.kind)
            self.assertEqual(sources.TRIES, len(source.peers))
            self.assertEqual(parent, source.peers[0].host)
            self.assertNotIn(self.other, [p.host for p in source.peers])
            picked[source.peers[1].host] += 1
        # The others tried after the parent spread over the holders.
        self.assertGreater(len(picked), 3)

    def test_any_holder_when_the_parent_is_down(self):
        parent = self._parent(self.other)
        service = objects.Service.get_by_compute_host(self.ctxt, parent)
        service.forced_down = True
        service.save()
        holder = sorted(set(self.nodes) - {parent, self.other})[0]
        self._publish(holder)
        source = self._choose(self.other)
        self.assertEqual(sources.PEERS, source.kind)
        self.assertEqual([holder], [p.host for p in source.peers])

    def test_no_host_is_the_parent_of_more_than_fanout(self):
        parents = collections.Counter(
            self._parent(host) for host in self.nodes
            if host not in self.seeders)
        self.assertLessEqual(max(parents.values()), fleet.FANOUT)
        self.assertEqual(set(), set(parents) - set(self.seeders))

    def test_glance_down_never_glance(self):
        self.assertEqual(sources.WAIT,
                         self._choose(self.seeders[0], False).kind)
        self._publish(self.seeders[1])
        source = self._choose(self.other, False)
        self.assertEqual(sources.PEERS, source.kind)
        self.assertFalse(source.glance_after)
