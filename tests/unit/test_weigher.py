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

"""ImageCacheWeigher on nova's real HostState, RequestSpec and handler."""

import gc
import weakref

import fixtures
from nova import context
from nova import objects
from nova.scheduler import host_manager
from nova.scheduler import weights
from nova.scheduler.weights import ram
from nova import test
from nova.tests.unit.scheduler import fakes
from oslo_utils.fixture import uuidsentinel as uuids

from nova_precache import scheduler
from nova_precache.scheduler import weigher
from nova_precache import stats

IMAGE = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
OTHER = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'


def host(name, images=None, critical=(), instances=(), raw_stats=None,
         free_ram_mb=1024):
    state = host_manager.HostState(name, name, uuids.cell)
    state.stats = (raw_stats if raw_stats is not None else
                   stats.encode(images or {}, critical))
    state.instances = {
        uuid: objects.Instance(uuid=uuid, image_ref=image_ref)
        for uuid, image_ref in instances}
    state.free_ram_mb = free_ram_mb
    state.aggregates = []
    return state


def request(image_id=IMAGE, root_gb=20, group=None):
    spec = objects.RequestSpec(
        image=objects.ImageMeta.from_dict({'id': image_id}),
        flavor=objects.Flavor(root_gb=root_gb, memory_mb=512, vcpus=1),
        instance_group=group)
    return spec


class ImageCacheWeigherTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(max_same_image_per_host=4, group='precache')
        self.weigher = scheduler.ImageCacheWeigher()

    def _raw(self, hosts, spec=None):
        objs = [weights.WeighedHost(h, 0.0) for h in hosts]
        return self.weigher.weigh_objects(objs, spec or request())

    def test_holder_and_target_of_the_right_size(self):
        hosts = [host('cold'), host('warm', {IMAGE: []}),
                 host('target', {IMAGE: [20]}),
                 host('other-size', {IMAGE: [40]})]
        # 3 of 4 candidates hold it: spread 0.75 ** 0.25.
        spread = 0.75 ** 0.25
        self.assertEqual([0.0, spread, 1.5 * spread, spread],
                         self._raw(hosts))

    def test_few_holders_attract_little(self):
        hosts = [host('warm', {IMAGE: []})] + [host('cold%d' % i)
                                               for i in range(9)]
        self.assertAlmostEqual(0.1 ** 0.25, self._raw(hosts)[0])

    def test_preference_falls_with_same_image_instances(self):
        same = [(getattr(uuids, 'i%d' % i), IMAGE) for i in range(4)]
        hosts = [host('a', {IMAGE: []}),
                 host('b', {IMAGE: []}, instances=same[:1] + [
                     (uuids.o, OTHER)]),
                 host('c', {IMAGE: []}, instances=same[:2]),
                 host('d', {IMAGE: []}, instances=same)]
        self.assertEqual([1.0, 0.75, 0.5, 0.0], self._raw(hosts))

    def test_instances_known_by_uuid_only_are_not_loaded(self):
        state = host('a', {IMAGE: []})
        state.instances = {u: objects.Instance(uuid=u)
                           for u in (uuids.seen, uuids.unseen)}
        # An Instance without image_ref would lazy-load from the DB here:
        # unknown, it does not count...
        self.assertEqual([1.0], self._raw([state]))
        # ...unless this weigher placed it: it remembers the request.
        spec = request()
        spec.instance_uuid = uuids.seen
        self._raw([host('b')], spec)
        self.assertEqual([0.75], self._raw([state]))

    def test_counts_follow_the_host_managers_changes(self):
        # nova's HostManager changes a host's instances dict in place: an
        # update replaces or adds an entry, a delete pops one.
        state = host('a', {IMAGE: []}, instances=[(uuids.i1, IMAGE)])
        self.assertEqual([0.75], self._raw([state]))
        state.instances[uuids.i2] = objects.Instance(uuid=uuids.i2,
                                                     image_ref=IMAGE)
        self.assertEqual([0.5], self._raw([state]))
        # Rebuilt with another image: same UUID, a new Instance object.
        state.instances[uuids.i1] = objects.Instance(uuid=uuids.i1,
                                                     image_ref=OTHER)
        self.assertEqual([0.75], self._raw([state]))
        del state.instances[uuids.i2]
        self.assertEqual([1.0], self._raw([state]))
        # A re-synchronised host gets a new dict.
        state.instances = {uuids.i3: objects.Instance(uuid=uuids.i3,
                                                      image_ref=IMAGE)}
        self.assertEqual([0.75], self._raw([state]))

    def test_host_manager_changing_instances_while_counted(self):
        # nova-scheduler runs on native threads: HostManager may add an
        # instance while a request counts the host's instances. Here the
        # addition happens from within the count, deterministically.
        state = host('a', {IMAGE: []})

        class Racing(objects.Instance):
            @property
            def _obj_image_ref(inner):
                state.instances[uuids.late] = objects.Instance(
                    uuid=uuids.late, image_ref=IMAGE)
                return IMAGE

        state.instances = {uuids.racing: Racing(uuid=uuids.racing)}
        # Counted from what the host had when the count began...
        self.assertEqual([0.75], self._raw([state]))
        # ...and the change is seen at the next request.
        self.assertEqual([0.5], self._raw([state]))

    def test_kept_weights_follow_root_disk_cap_and_changes(self):
        state = host('a', {IMAGE: [20], OTHER: []},
                     instances=[(uuids.i1, IMAGE)])
        for _ in range(2):
            self.assertEqual([0.75 * 1.5], self._raw([state]))
            self.assertEqual([0.75], self._raw([state], request(root_gb=40)))
            self.assertEqual([1.0], self._raw([state], request(OTHER)))
        self.flags(max_same_image_per_host=2, group='precache')
        self.assertEqual([0.5 * 1.5], self._raw([state]))
        # What the host publishes changed: the target is gone.
        state.stats = stats.encode({IMAGE: []})
        self.assertEqual([0.5], self._raw([state]))

    def test_instances_read_once_per_change(self):
        counted = []
        original = weigher._HostView.count

        def count(view, *args):
            counted.append(view)
            return original(view, *args)

        self.useFixture(fixtures.MonkeyPatch(
            'nova_precache.scheduler.weigher._HostView.count', count))
        hosts = [host('a', {IMAGE: []}, instances=[(uuids.i1, IMAGE)]),
                 host('b', {IMAGE: []}), host('cold')]
        for _ in range(5):
            self.assertEqual([0.75 * (2 / 3) ** 0.25, (2 / 3) ** 0.25, 0.0],
                             self._raw(hosts))
        # Only the hosts that hold the image, once.
        self.assertEqual(2, len(counted))
        hosts[1].instances[uuids.i2] = objects.Instance(uuid=uuids.i2,
                                                        image_ref=IMAGE)
        self.assertEqual(0.75 * (2 / 3) ** 0.25, self._raw(hosts)[1])
        self.assertEqual(3, len(counted))

    def test_critical_image_preferred_whatever_the_spread(self):
        hosts = [host('crit', {IMAGE: [20]}, critical=[IMAGE])] + [
            host('cold%d' % i) for i in range(9)]
        self.assertEqual(3.0, self._raw(hosts)[0])
        self.assertEqual(self.weigher.maxval, 3.0)

    def test_stock_or_malformed_hosts_weigh_nothing(self):
        hosts = [host('stock', raw_stats={'uptime': '1'}),
                 host('junk', raw_stats={stats.KEY: '{not json'}),
                 host('none', raw_stats={}), host('warm', {IMAGE: []})]
        self.assertEqual([0.0, 0.0, 0.0, 0.25 ** 0.25], self._raw(hosts))

    def test_no_image_or_server_group_weighs_nothing(self):
        hosts = [host('warm', {IMAGE: []}), host('cold')]
        volume_boot = objects.RequestSpec(
            image=objects.ImageMeta.from_dict({}),
            flavor=objects.Flavor(root_gb=0))
        self.assertEqual([0.0, 0.0], self._raw(hosts, volume_boot))
        group = objects.InstanceGroup(policy='soft-anti-affinity')
        self.assertEqual([0.0, 0.0], self._raw(hosts, request(group=group)))

    def test_stats_parsed_once_per_change(self):
        decode = self.useFixture(fixtures.MockPatch(
            'nova_precache.stats.decode', wraps=stats.decode)).mock
        hosts = [host('a', {IMAGE: []}), host('b')]
        for _ in range(5):
            self._raw(hosts)
        self.assertEqual(2, decode.call_count)
        hosts[1].stats = stats.encode({IMAGE: []})
        self._raw(hosts)
        self.assertEqual(3, decode.call_count)

    def test_aggregate_overrides_multiplier(self):
        # Changed after the weigher was made: read at each request.
        self.flags(weight_multiplier=2.0, group='precache')
        hosts = [host(name, {IMAGE: []}) for name in
                 ('plain', 'special', 'elsewhere')] + [host('cold')]
        hosts[1].aggregates = [objects.Aggregate(
            id=1, name='a', hosts=['special'],
            metadata={'precache_weight_multiplier': '-1.0'})]
        hosts[2].aggregates = [objects.Aggregate(
            id=2, name='b', hosts=['elsewhere'], metadata={'x': '1'})]
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], hosts, request())
        # Normalised on the fixed 0..3 scale, then multiplied.
        weight = 0.75 ** 0.25 / 3
        self.assertEqual(
            [('elsewhere', 2 * weight), ('plain', 2 * weight),
             ('cold', 0.0), ('special', -weight)],
            sorted(((w.obj.host, w.weight) for w in weighed),
                   key=lambda hw: (-hw[1], hw[0])))

    def test_through_nova_weight_handler_with_ram_weigher(self):
        handler = weights.HostWeightHandler()
        classes = handler.get_matching_classes(
            ['nova.scheduler.weights.ram.RAMWeigher',
             'nova_precache.scheduler.ImageCacheWeigher'])
        self.assertEqual({ram.RAMWeigher, scheduler.ImageCacheWeigher},
                         set(classes))
        hosts = [host('roomy', free_ram_mb=4096),
                 host('warm', {IMAGE: [20]}, free_ram_mb=3072)] + [
            host('warm%d' % i, {IMAGE: []}, free_ram_mb=1024)
            for i in range(2)]
        weighed = handler.get_weighed_objects(
            [cls() for cls in classes], hosts, request())
        self.assertEqual('warm', weighed[0].obj.host)


class ViewLifetimeTestCase(test.NoDBTestCase):
    """Views follow compute nodes, not nova's per-request HostStates."""

    def setUp(self):
        super().setUp()
        self.weigher = scheduler.ImageCacheWeigher()
        self.decode = self.useFixture(fixtures.MockPatch(
            'nova_precache.stats.decode', wraps=stats.decode)).mock

    def _weigh(self, hosts):
        objs = [weights.WeighedHost(h, 0.0) for h in hosts]
        return self.weigher.weigh_objects(objs, request())

    def _held(self):
        return set(self.weigher._views) | set(self.weigher._old_views)

    def test_host_states_nova_dropped_are_not_kept_alive(self):
        state = host('a', {IMAGE: []})
        dropped = weakref.ref(state)
        self._weigh([state])
        del state
        gc.collect()
        self.assertIsNone(dropped())

    def test_dropped_node_released_kept_node_keeps_its_view(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_precache.scheduler.weigher.RELEASE_AFTER', 0))
        kept = host('kept', {IMAGE: []})
        self._weigh([kept, host('gone', {IMAGE: []})])
        self.assertEqual(2, self.decode.call_count)
        # Every request starts a period here: 'gone' is weighed in none
        # of the next two.
        for _ in range(3):
            self._weigh([kept, host('new')])
        self.assertEqual({('kept', 'kept'), ('new', 'new')}, self._held())
        # 'kept' was never parsed again; 'gone', back, is read afresh.
        self.assertEqual(3, self.decode.call_count)
        self.assertEqual([1.0, 1.0], self._weigh(
            [kept, host('gone', {IMAGE: []})]))
        self.assertEqual(4, self.decode.call_count)

    def test_nothing_released_within_the_period(self):
        for n in range(50):
            self._weigh([host('h%d' % n)])
        self.assertEqual(50, len(self._held()))


class HostManagerTestCase(test.TestCase):
    """With nova's real HostManager, which builds HostStates per request."""

    def test_each_nodes_view_outlives_the_host_states(self):
        decode = self.useFixture(fixtures.MockPatch(
            'nova_precache.stats.decode', wraps=stats.decode)).mock
        manager = host_manager.HostManager()
        ctxt = context.get_admin_context()
        services = {s.host: s for s in fakes.SERVICES}
        ours = scheduler.ImageCacheWeigher()
        for _ in range(3):
            # As read from the DB for each request: new objects each time.
            nodes = [node.obj_clone() for node in fakes.COMPUTE_NODES]
            for node in nodes:
                node.stats = stats.encode({IMAGE: []})
            states = list(manager._get_host_states(
                ctxt, {uuids.cell: nodes}, services))
            objs = [weights.WeighedHost(s, 0.0) for s in states]
            self.assertEqual([1.0] * 4, ours.weigh_objects(objs, request()))
            dropped = weakref.ref(states[0])
            del states, objs
            gc.collect()
            self.assertIsNone(dropped())
        # Each node's stats parsed once, one view per node.
        self.assertEqual(4, decode.call_count)
        self.assertEqual(4, len(ours._views))
