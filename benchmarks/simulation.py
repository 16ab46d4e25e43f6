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

"""A cloud of 1000 hosts under nova's real weighing, with and without ours.

Boots of 300 images with Zipf-distributed popularity, interleaved with
deletes, are placed by nova's ``HostWeightHandler`` over real ``HostState``
objects: stock (RAM, CPU and disk weighers) against stock plus
``ImageCacheWeigher``, from the same random sequence. A host without room
for the flavor is filtered out (as RAM and disk filters would). A boot on a
host that lacks the image downloads it (nova's spawn). Every
``PASS_EVERY`` boots each host runs the pass's planning: nova_precache's
``local_usage`` ranker and budget on its own instances, and the cluster
count that ``cluster_usage`` reads from the other hosts' stats (computed
once per round here, instead of each host reading 1000 compute nodes).
What it keeps, and what its instances use, stays cached; nova's aging
removes the rest once unused for 24 hours (``[image_cache]
remove_unused_original_minimum_age_seconds``: 36 passes). Each host
publishes what it holds at the pass, and the images its spawns brought in
at its next resource update, as the driver does. Stock nova's run has the
same caches: only the weighers differ.
"""

import collections
import copy
import random
import statistics
import time

from nova import context
from nova import objects
from nova.scheduler import filters
from nova.scheduler import host_manager
from nova.scheduler import weights
from nova.scheduler.weights import image_props
from nova.scheduler.weights import ram
from nova.tests import fixtures as nova_fixtures
from oslo_utils import timeutils
from oslo_utils import uuidutils

from benchmarks import common
from nova_precache import budget
from nova_precache import conf
from nova_precache import ranking
from nova_precache.ranking import local_usage
from nova_precache.scheduler import weigher as image_cache
from nova_precache import stats

HOSTS = 1000
IMAGES = 300
BOOTS = 20000
ZIPF_S = 1.1
RAM_MB = 65536
FLAVOR_MB = 2048
# Boots between two image cache passes, [image_cache] manager_interval
# (2400 s) apart: 0.2 boots a second across the cloud.
PASS_EVERY = 500
# Boots between two resource updates of a compute (60 s), which publish
# the images its spawns brought in.
RESOURCE_UPDATE_EVERY = 12
CONF = conf.CONF
STOCK = ['nova.scheduler.weights.ram.RAMWeigher',
         'nova.scheduler.weights.cpu.CPUWeigher',
         'nova.scheduler.weights.disk.DiskWeigher']
OURS = STOCK + ['nova_precache.scheduler.ImageCacheWeigher']


class _Cluster(ranking.Ranker):
    """cluster_usage's count, from one reading of every host's stats."""

    def __init__(self, holders):
        self.holders = holders

    def score(self, signals):
        return {image: (n, 'held by %d host(s)' % n)
                for image, n in self.holders.items()}


class Cloud(object):

    def __init__(self, weigher_classes, seed):
        self.rng = random.Random(seed)
        self.images = [uuidutils.generate_uuid() for _ in range(IMAGES)]
        popularity = [1 / (rank + 1) ** ZIPF_S for rank in range(IMAGES)]
        self.popularity = popularity
        self.hosts = []
        for n in range(HOSTS):
            state = host_manager.HostState('h%d' % n, 'h%d' % n, 'cell')
            state.free_ram_mb = state.total_usable_ram_mb = RAM_MB
            state.vcpus_total, state.vcpus_used = 64, 0
            state.cpu_allocation_ratio = 1.0
            state.free_disk_mb = state.total_usable_disk_gb = 10 ** 6
            state.stats, state.instances, state.aggregates = {}, {}, []
            state.cached = set()
            # Image -> number of the last pass that used or kept it.
            state.used_at = {}
            state.plan = []
            self.hosts.append(state)
        handler = weights.HostWeightHandler()
        self.handler = handler
        self.weighers = [cls() for cls in
                         handler.get_matching_classes(weigher_classes)]
        self.live = {}
        self.flavor = objects.Flavor(memory_mb=FLAVOR_MB, vcpus=1,
                                     root_gb=20)
        self.hits = 0
        self.passes = 0
        # Hosts whose spawns brought images in since the last resource
        # update.
        self.spawned = set()

    def boot(self):
        image = self.rng.choices(self.images, self.popularity)[0]
        uuid = uuidutils.generate_uuid()
        spec = objects.RequestSpec(
            image=objects.ImageMeta.from_dict({'id': image}),
            flavor=self.flavor, instance_uuid=uuid, instance_group=None)
        candidates = [h for h in self.hosts if h.free_ram_mb >= FLAVOR_MB]
        best = self.handler.get_weighed_objects(
            self.weighers, candidates, spec)[0].obj
        self.hits += image in best.cached
        if image not in best.cached:
            best.cached.add(image)
            best.used_at[image] = self.passes
            self.spawned.add(best)
        best.free_ram_mb -= FLAVOR_MB
        best.vcpus_used += 1
        best.instances[uuid] = objects.Instance(uuid=uuid, image_ref=image)
        self.live[uuid] = best

    def delete(self):
        uuid = self.rng.choice(list(self.live))
        host = self.live.pop(uuid)
        del host.instances[uuid]
        host.free_ram_mb += FLAVOR_MB
        host.vcpus_used -= 1

    def precache_pass(self):
        self.passes += 1
        holders = collections.Counter()
        for host in self.hosts:
            holders.update(stats.decode(host.stats).keys())
        rankers = [('local_usage', local_usage.LocalUsageRanker()),
                   ('cluster_usage', _Cluster(holders))]
        max_age = (CONF.image_cache.remove_unused_original_minimum_age_seconds
                   / CONF.image_cache.manager_interval)
        for host in self.hosts:
            usage = collections.Counter(
                i.image_ref for i in host.instances.values())
            plan = ranking.rank(rankers, ranking.Signals(
                None, host.host, usage, {}, None))
            cut = budget.cut(plan, set(usage), host.cached,
                             {i: 1 for i in self.images}, 0, 10 ** 15)
            kept = [e.image_id for e in cut.keep]
            # nova touches the base files in use, the pass those it keeps;
            # nova's aging removes the others once unused for its minimum
            # age.
            host.used_at.update((i, self.passes) for i in kept)
            host.cached = {i for i in host.cached | set(kept)
                           if self.passes - host.used_at[i] <= max_age}
            host.plan = kept
            self.publish(host)

    def publish(self, host):
        """Publish as the driver does: every image present, plan first."""
        host.stats = stats.encode(
            {i: [] for i in host.plan + sorted(host.cached - set(host.plan))})

    def run(self):
        for n in range(BOOTS):
            if n % PASS_EVERY == 0:
                self.precache_pass()
            elif n % RESOURCE_UPDATE_EVERY == 0:
                for host in self.spawned:
                    self.publish(host)
            if n % RESOURCE_UPDATE_EVERY == 0:
                self.spawned = set()
            # Deletes keep the cloud about 40% full.
            while len(self.live) > 0.4 * HOSTS * RAM_MB / FLAVOR_MB:
                self.delete()
            if self.live and self.rng.random() < 0.3:
                self.delete()
            self.boot()
        per_host = [collections.Counter(
            i.image_ref for i in h.instances.values()) for h in self.hosts]
        worst_pile = max(max(c.values(), default=0) for c in per_host)
        worst_loss = max(sum(c.values()) for c in per_host)
        return self.hits / BOOTS, worst_pile, worst_loss


def weigher_cost(cloud, weigher_class, images, requests=200):
    """Seconds per host per request of one weigher on the cloud's hosts.

    :param images: the images the requests ask for, in turn.
    """
    handler = weights.HostWeightHandler()
    weigher = handler.get_matching_classes([weigher_class])[0]()
    objs = [weights.WeighedHost(h, 0.0) for h in cloud.hosts]
    specs = [objects.RequestSpec(
        image=objects.ImageMeta.from_dict({'id': images[n % len(images)]}),
        flavor=cloud.flavor, instance_uuid=uuidutils.generate_uuid(),
        instance_group=None) for n in range(requests)]
    # Once untimed: stats parsed, instances counted and weights kept, as
    # a scheduler has them between requests while no host changes.
    for spec in specs:
        weigher.weigh_objects(objs, spec)
    started = time.perf_counter()
    for spec in specs:
        weigher.weigh_objects(objs, spec)
    return (time.perf_counter() - started) / requests / len(objs)


def _as_host_manager_gives(cloud):
    """The cloud's hosts as nova's HostManager hands them to a request.

    ``_get_host_states`` builds new HostState objects every request, from
    compute nodes and services read from the DB (new stats dicts, new
    strings), with the instances dicts it keeps up to date.
    """
    states = []
    for host in cloud.hosts:
        if host.free_ram_mb < FLAVOR_MB:
            continue
        state = copy.copy(host)
        state.stats = {k: (v + ' ')[:-1] for k, v in host.stats.items()}
        state.service = host_manager.ReadOnlyDict({
            'host': host.host, 'binary': 'nova-compute', 'disabled': False,
            'forced_down': False, 'last_seen_up': timeutils.utcnow()})
        states.append(state)
    return states


class _NoWeigher(weights.BaseHostWeigher):
    """Weighs nothing: what nova's handler costs for any one weigher."""

    minval, maxval = 0.0, 1.0

    def weight_multiplier(self, host_state):
        return 1.0

    def weigh_objects(self, weighed_obj_list, spec_obj):
        return [0.0] * len(weighed_obj_list)

    def _weigh_object(self, host_state, spec_obj):
        return 0.0


def request_share(cloud, images, requests=100):
    """Shares of nova's filtering and weighing per request, and its time.

    Each request runs nova's own HostFilterHandler and HostWeightHandler
    with nova's default ``[filter_scheduler] enabled_filters`` and
    ``all_weighers`` over the hosts with room for the flavor; then the
    handler once more with ImageCacheWeigher alone, with a weigher that
    does nothing, and with none. A weigher's part is its handler call less
    the empty one, its share that part over the stock time plus it; the
    medians over the requests, measured back to back, so that the load of
    a shared machine weighs on both sides alike.

    :param images: the images the requests ask for, in turn.
    :returns: (stock seconds, ImageCacheWeigher's share, a weigher's
        that does nothing)
    """
    filter_handler = filters.HostFilterHandler()
    by_name = {cls.__name__: cls for cls in
               filter_handler.get_matching_classes(
                   CONF.filter_scheduler.available_filters)}
    enabled = [by_name[name]()
               for name in CONF.filter_scheduler.enabled_filters]
    weigh = weights.HostWeightHandler()
    stock = [cls() for cls in weigh.get_matching_classes(
        ['nova.scheduler.weights.all_weighers'])]
    ours, none = [image_cache.ImageCacheWeigher()], [_NoWeigher()]
    specs = [objects.RequestSpec(
        image=objects.ImageMeta.from_dict({'id': images[n % len(images)]}),
        flavor=cloud.flavor, instance_uuid=uuidutils.generate_uuid(),
        instance_group=None, ignore_hosts=[], force_hosts=[],
        force_nodes=[]) for n in range(requests)]

    def timed(func, *args):
        started = time.perf_counter()
        func(*args)
        return time.perf_counter() - started

    stock_s, shares = [], {'ours': [], 'none': []}
    for n, spec in enumerate([specs[0]] + specs):
        passed = filter_handler.get_filtered_objects(
            enabled, _as_host_manager_gives(cloud), spec)
        hosts = _as_host_manager_gives(cloud)
        total = timed(lambda: weigh.get_weighed_objects(
            stock, filter_handler.get_filtered_objects(
                enabled, hosts, spec), spec))
        parts = {label: timed(weigh.get_weighed_objects, weighers,
                              passed, spec)
                 for label, weighers in (('ours', ours), ('none', none),
                                         ('empty', []))}
        if n == 0:
            continue  # what the weigher reads, read once: not measured
        stock_s.append(total)
        for label in shares:
            part = parts[label] - parts['empty']
            shares[label].append(part / (total + part))
    return (statistics.median(stock_s), statistics.median(shares['ours']),
            statistics.median(shares['none']))


def image_ref_cost(cloud, repeat=5):
    """Seconds per instance of reading image_ref: as counted, and public.

    The weigher reads the field's storage; ``obj_attr_is_set()`` lists the
    Instance's fields at each call.
    """
    instances = [i for h in cloud.hosts for i in h.instances.values()]
    storage = image_cache._IMAGE_REF

    def stored():
        for inst in instances:
            getattr(inst, storage, None)

    def public():
        for inst in instances:
            inst.image_ref if inst.obj_attr_is_set('image_ref') else None

    return [common.median_seconds(func, repeat) / len(instances)
            for func in (stored, public)]


def image_properties_cost(cloud, nova, requests=3):
    """Seconds per host per request of nova's ImagePropertiesWeigher.

    It looks up the host's cell mapping in nova's API database for every
    host of every request (``CellMapping.get_by_uuid``): here nova's own
    in-memory SQLite fixture serves it, faster than a networked database.
    Its instances carry their image's properties in ``system_metadata``,
    as nova's do, so that reading them needs no database call.
    """
    nova.flags(group='api_database', connection='sqlite://')
    nova.useFixture(nova_fixtures.Database(database='api'))
    nova.flags(group='filter_scheduler', image_props_weight_multiplier=1.0)
    cell = objects.CellMapping(
        context.get_admin_context(), uuid=uuidutils.generate_uuid(),
        name='cell1', transport_url='none:///',
        database_connection='sqlite://')
    cell.create()
    distro = {image: 'distro%d' % (n % 20)
              for n, image in enumerate(cloud.images)}
    objs = []
    for host in cloud.hosts:
        state = host_manager.HostState(host.host, host.nodename, cell.uuid)
        state.instances = {
            uuid: objects.Instance(
                uuid=uuid, image_ref=inst.image_ref, system_metadata={
                    'image_os_distro': distro[inst.image_ref]})
            for uuid, inst in host.instances.items()}
        objs.append(weights.WeighedHost(state, 0.0))
    spec = objects.RequestSpec(
        image=objects.ImageMeta.from_dict({
            'id': cloud.images[0],
            'properties': {'os_distro': distro[cloud.images[0]]}}),
        flavor=cloud.flavor, instance_uuid=uuidutils.generate_uuid(),
        instance_group=None)
    weigher = image_props.ImagePropertiesWeigher()
    started = time.perf_counter()
    for _ in range(requests):
        weigher.weigh_objects(objs, spec)
    return (time.perf_counter() - started) / requests / len(objs)


def run(seed=42):
    with common.NovaProcess() as nova:
        nova.flags(group='precache', max_images=10)
        results = {}
        for label, classes in (('stock nova weighers', STOCK),
                               ('stock + ImageCacheWeigher', OURS)):
            cloud = Cloud(classes, seed)
            started = time.perf_counter()
            results[label] = cloud.run() + (time.perf_counter() - started,)
        print('\nCloud simulation: %d hosts, %d images (Zipf s=%.1f), %d '
              'boots with deletes, pass every %d boots, max_images=10'
              % (HOSTS, IMAGES, ZIPF_S, BOOTS, PASS_EVERY))
        print('  %-28s %12s %14s %16s %8s' % (
            '', 'warm boots', 'max same image', 'worst host loss', 'time'))
        for label, (warm, pile, loss, seconds) in results.items():
            print('  %-28s %11.3f  %14d %16d %7.0fs'
                  % (label, warm, pile, loss, seconds))
        # The requests of the simulation's mix, and the dearest: the most
        # popular image, which nearly every host holds, so that every
        # host's instances are compared with the copy last counted.
        mix = cloud.rng.choices(cloud.images, cloud.popularity, k=200)
        ram_s = weigher_cost(cloud, ram.__name__ + '.RAMWeigher', mix)
        for label, images in (('requests of the mix', mix),
                              ('most popular image', cloud.images[:1])):
            ours = weigher_cost(
                cloud, 'nova_precache.scheduler.ImageCacheWeigher', images)
            print('  weigher cost per host per request, %s: '
                  'ImageCacheWeigher %.2f us, RAMWeigher %.2f us (%.1fx)'
                  % (label, ours * 1e6, ram_s * 1e6, ours / ram_s))
        stock_s, share, no_weigher = request_share(cloud, mix)
        print('  nova filtering and weighing per request, %d hosts, default '
              'enabled_filters and all_weighers: %.1f ms' % (
                  HOSTS, stock_s * 1e3))
        print('  ImageCacheWeigher share of a request: %.1f%% (a weigher '
              'that does nothing: %.1f%%)' % (share * 100, no_weigher * 100))
        stored_s, public_s = image_ref_cost(cloud)
        print('  counting instances by image: %.2f us per instance '
              '(obj_attr_is_set: %.2f us, %.0fx)' % (
                  stored_s * 1e6, public_s * 1e6, public_s / stored_s))
        props_s = image_properties_cost(cloud, nova)
        print('  ImagePropertiesWeigher %.0f us (%.0fx RAMWeigher; nova\'s '
              'API database on in-memory SQLite)'
              % (props_s * 1e6, props_s / ram_s))


if __name__ == '__main__':
    run()
