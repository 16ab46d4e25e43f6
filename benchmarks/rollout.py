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

"""A new image wanted by every host of a 1000-host cloud, spread by peers.

``python -m benchmarks.rollout [--seed N]``. Each host runs nova's image
cache pass every ``[image_cache] manager_interval`` (2400 s) at a random
phase; the image (10 GiB) becomes wanted everywhere at time 0, as when an
operator lists a new critical image. At each pass a host that lacks the
image and copies nothing yet asks the product's own code where to take
it: ``nova_precache.sources.Sources.choose`` over a
``nova_precache.fleet.View`` read by ``fleet.Fleet`` (its random sample,
the image's seeders, its parent), with ``[precache]`` options at their
defaults; a host told to wait looks at its parent again every
``sources.retry_seconds()``, as the carrier's ``retry_waiting()`` does at
the driver's resource updates.
What the hosts publish is what the sample reads: a host that holds the
image publishes it at its next resource update (60 s apart, at a phase
of its own). Transfers are simulated in one-second steps: a host sends
at most ``PEER_RATE`` in total, shared by the copies it serves, and
receives at most as much; Glance serves each download at the same rate.

The last line: ``rollout: hosts=H glance_copies=G all_warm_s=T
max_uploads_per_host=U``, where U is the most copies one host served at
the same moment (what a per-host bandwidth cap would have to hold).
"""

import argparse
import collections
import random

from nova import exception

from benchmarks import common
from nova_precache import fleet
from nova_precache import sources
from nova_precache import stats

HOSTS = 1000
IMAGE_MB = 10 * 1024
PEER_RATE = 300.0
GLANCE_RATE = PEER_RATE
RESOURCE_UPDATE = 60
IMAGE = '0d7f3c1e-5b8a-4e2f-9a61-7c3b2d1e0f9a'


class _Row(object):
    """A compute node row as ``fleet.NovaNodes`` reads it."""

    def __init__(self, node_id):
        self.id = node_id
        self.host = 'compute%04d' % node_id
        self.host_ip = '10.0.%d.%d' % divmod(node_id, 256)
        self.stats = {}
        self.deleted = False


class Nodes(object):
    """The compute node table of the simulated cloud."""

    def __init__(self, count):
        self.rows = [_Row(n) for n in range(1, count + 1)]
        self.calls = 0

    def page(self, context, marker, limit):
        self.calls += 1
        start = marker or 0
        if start > len(self.rows):
            raise exception.MarkerNotFound(marker=marker)
        return self.rows[start:start + limit]

    def get(self, context, node_id):
        self.calls += 1
        return self.rows[node_id - 1]

    def is_up(self, context, host):
        return True

    def own_id(self, context, host):
        return int(host[len('compute'):])


class Rollout(object):

    def __init__(self, seed, hosts=HOSTS):
        self.rng = random.Random(seed)
        # {time: hosts waiting for a peer that look at their parent then}
        self.looks = collections.defaultdict(list)
        self.now = 0
        self.interval = common.CONF.image_cache.manager_interval
        self.nodes = Nodes(hosts)
        # Hosts by the second of their period at which they pass, and
        # publish their stats.
        self.passes = collections.defaultdict(list)
        self.updates = collections.defaultdict(list)
        for n in range(hosts):
            self.passes[self.rng.randrange(self.interval)].append(n)
            self.updates[self.rng.randrange(RESOURCE_UPDATE)].append(n)
        self.fleets = [fleet.Fleet(self.nodes, random.Random(seed + n))
                       for n in range(hosts)]
        self.sources = [sources.Sources(clock=lambda: self.now,
                                        rng=random.Random(seed - n))
                        for n in range(hosts)]
        self.held = set()
        self.published = set()
        # {receiver: [source index or None for Glance, MB left]}
        self.copies = {}
        self.glance_copies = 0
        self.max_uploads = 0
        self.served = collections.Counter()

    def _pass(self, n):
        if n in self.held or n in self.copies:
            return
        row = self.nodes.rows[n]
        view = self.fleets[n].view(None, row.host)
        source = self.sources[n].choose(view, IMAGE, True)
        if source.kind == sources.PEERS:
            self._copy(n, int(source.peers[0].host[len('compute'):]) - 1)
        elif source.kind == sources.GLANCE:
            self.copies[n] = [None, float(IMAGE_MB)]
            self.glance_copies += 1
        else:
            self.looks[self.now + sources.retry_seconds()].append(n)

    def _look(self, n):
        """What the carrier's retry_waiting() does for host ``n``."""
        if n in self.held or n in self.copies:
            return
        parent = fleet.View(self.fleets[n], None, self.nodes.rows[n].host,
                            {}).parent(IMAGE)
        if parent is not None and IMAGE in parent.images:
            self._copy(n, parent.id - 1)
        else:
            self.looks[self.now + sources.retry_seconds()].append(n)

    def _copy(self, n, peer):
        self.copies[n] = [peer, float(IMAGE_MB)]
        self.served[peer] += 1

    def _transfer(self):
        uploads = collections.Counter(src for src, _ in self.copies.values()
                                      if src is not None)
        if uploads:
            self.max_uploads = max(self.max_uploads, max(uploads.values()))
        for n, copy in list(self.copies.items()):
            src = copy[0]
            copy[1] -= (GLANCE_RATE if src is None else
                        PEER_RATE / uploads[src])
            if copy[1] <= 0:
                del self.copies[n]
                self.held.add(n)
                self.sources[n].done(IMAGE)

    def _publish(self, n):
        if n in self.held and n not in self.published:
            self.published.add(n)
            self.nodes.rows[n].stats = stats.encode({IMAGE: []})

    def run(self):
        hosts = len(self.nodes.rows)
        while len(self.held) < hosts:
            for n in self.passes.get(self.now % self.interval, ()):
                self._pass(n)
            for n in self.looks.pop(self.now, ()):
                self._look(n)
            for n in self.updates.get(self.now % RESOURCE_UPDATE, ()):
                self._publish(n)
            self._transfer()
            self.now += 1
        return self.now


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--seed', type=int, default=42)
    args = parser.parse_args(argv)
    with common.NovaProcess() as nova:
        nova.flags(peer_fetch=True, group='precache')
        rollout = Rollout(args.seed)
        all_warm = rollout.run()
        print('manager_interval=%d s, image %d MiB, %d MB/s per host; '
              'glance_seeders=%d, peer_wait=%d s' % (
                  rollout.interval, IMAGE_MB, PEER_RATE,
                  common.CONF.precache.glance_seeders, sources.peer_wait()))
        print('most copies served by one host over the rollout: %d; '
              'fleet reads: %.1f calls per host' % (
                  max(rollout.served.values()),
                  rollout.nodes.calls / len(rollout.nodes.rows)))
        print('rollout: hosts=%d glance_copies=%d all_warm_s=%d '
              'max_uploads_per_host=%d' % (
                  len(rollout.nodes.rows), rollout.glance_copies, all_warm,
                  rollout.max_uploads))


if __name__ == '__main__':
    main()
