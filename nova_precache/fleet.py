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

"""What this host knows of the other computes, at a bounded cost per pass.

Reading every compute node at every pass on every compute (15 KB a node
over the message bus) grows as the square of the fleet. A pass reads
instead a sample of ``SAMPLE`` nodes: ``WINDOWS`` pages of
``ComputeNodeList.get_by_pagination`` from random markers in the range of
compute node IDs, which cluster_usage counts from and where peers are
found; and, for an image this host wants and lacks, that image's seeders,
read one node each (``ComputeNode.get_by_id``): the hosts that download
an image from Glance first, and so its first holders.

The seeders of an image are the ``[precache] glance_seeders`` live nodes
whose ID scores highest with the image ID (rendezvous hashing), from the
IDs 1 to the highest one: every compute that knows the same highest ID
picks the same seeders without asking anyone, a node that joins displaces
a seeder of an image only where it outscores it, and the seeders of
different images are different hosts. The highest ID is found once per
process (a binary search, two dozen one-row pages at 5000 nodes) and
followed from then on by one page after it per pass.

The same order makes the tree an image spreads along: rank ``r`` copies
from rank ``(r - seeders) // FANOUT``, its parent, so that no host serves
more than ``FANOUT`` copies of an image at once.
"""

import collections
import hashlib
import random

from oslo_log import log as logging

from nova import exception
from nova import objects
from nova.objects import base as objects_base
from nova import servicegroup

from nova_precache import conf
from nova_precache import stats

LOG = logging.getLogger(__name__)
CONF = conf.CONF

WINDOWS = 5
WINDOW = 10
SAMPLE = WINDOWS * WINDOW
_SKIP = 4  # deleted nodes skipped at most per seeder
# Copies of an image one host serves along the tree.
FANOUT = 8
# Pages read after the highest known ID in one pass, at most.
_TAIL_PAGES = 10

# A compute node as peers see it: ID, host, host_ip (or None), the image
# IDs and critical image IDs it publishes.
Node = collections.namedtuple('Node', 'id host address images critical')


def reachable():
    """Whether this process reads nova's DB (conductor or a connection).

    nova-compute goes through the conductor; ``nova-precache`` has neither.
    """
    return (objects_base.NovaObject.indirection_api is not None or
            bool(CONF.database.connection))


def node_of(compute_node):
    return Node(compute_node.id, compute_node.host,
                str(compute_node.host_ip) if compute_node.host_ip else None,
                frozenset(stats.decode(compute_node.stats)),
                frozenset(stats.decode_critical(compute_node.stats)))


def score(image_id, node_id):
    """The rendezvous score of a node for an image: same on every host."""
    return hashlib.sha256(
        ('%s:%d' % (image_id, node_id)).encode()).digest()


def ranked(image_id, top):
    """Node IDs 1..``top``, best seeder for ``image_id`` first."""
    return sorted(range(1, top + 1), key=lambda i: score(image_id, i),
                  reverse=True)


class NovaNodes(object):
    """The compute nodes as nova's objects give them, via the conductor."""

    _servicegroup = None

    def page(self, context, marker, limit):
        """Nodes after ID ``marker``, deleted ones too (their IDs count).

        :raises: MarkerNotFound if no node ever had ID ``marker``.
        """
        return list(objects.ComputeNodeList.get_by_pagination(
            context.elevated(read_deleted='yes'), limit=limit,
            marker=marker))

    def get(self, context, node_id):
        """The live node of ID ``node_id``, or None."""
        try:
            return objects.ComputeNode.get_by_id(context, node_id)
        except exception.ComputeHostNotFound:
            return None

    def own_id(self, context, host):
        """The ID of ``host``'s compute node, or None."""
        found = objects.ComputeNodeList.get_all_by_host(context, host)
        return found[0].id if found else None

    def is_up(self, context, host):
        """Whether nova-compute on ``host`` reports as up."""
        if self._servicegroup is None:
            self._servicegroup = servicegroup.API()
        try:
            service = objects.Service.get_by_compute_host(context, host)
        except exception.ComputeHostNotFound:
            return False
        return self._servicegroup.service_is_up(service)


class Fleet(object):
    """One process's reads of the fleet; ``view()`` once per pass."""

    def __init__(self, nodes=None, rng=None):
        self.nodes = nodes or NovaNodes()
        self.rng = rng or random.Random()
        self.top = None
        self.ids = {}  # {host: its compute node's ID}

    def view(self, context, host):
        """A ``View`` of the fleet as ``host`` sees it now."""
        self._follow_top(context)
        sample = {}
        if self.top:
            for _ in range(WINDOWS):
                for node in self._window(context):
                    if not node.deleted:
                        sample[node.id] = node_of(node)
        return View(self, context, host, sample)

    def _window(self, context):
        marker = self.rng.randrange(self.top) or None
        try:
            got = self.nodes.page(context, marker, WINDOW)
        except exception.MarkerNotFound:
            # Archived (nova-manage db archive_deleted_rows): from the start.
            marker, got = None, self.nodes.page(context, None, WINDOW)
        if len(got) < WINDOW and marker is not None:
            got += self.nodes.page(context, None, WINDOW - len(got))
        return got

    def _follow_top(self, context):
        if self.top is None:
            self.top = self._find_top(context)
            return
        for _ in range(_TAIL_PAGES):
            try:
                after = self.nodes.page(context, self.top or None, WINDOW)
            except exception.MarkerNotFound:
                self.top = self._find_top(context)
                return
            if after:
                self.top = after[-1].id
            if len(after) < WINDOW:
                return

    def _find_top(self, context):
        """The highest compute node ID (0 if none), by binary search."""
        def after(node_id):
            try:
                return self.nodes.page(context, node_id or None, 1)
            except exception.MarkerNotFound:
                return None

        low, high = 0, 1
        while after(high) is not None:
            low, high = high, high * 2
        # IDs up to ``low`` exist; ``high`` does not.
        while high - low > 1:
            middle = (low + high) // 2
            if after(middle) is None:
                high = middle
            else:
                low = middle
        last = after(low)
        return last[0].id if last else low


class View(object):
    """The fleet as one pass sees it: a sample, and seeders read on demand."""

    def __init__(self, fleet, context, host, sample):
        self.fleet = fleet
        self.context = context
        self.host = host
        self.sample = sample
        self._order = {}
        self._seeders = {}
        self._up = {}

    def others(self):
        """The sampled nodes other than this host's."""
        return [n for n in self.sample.values() if n.host != self.host]

    def order(self, image_id):
        """``ranked()`` node IDs for ``image_id``, worked out once a view."""
        if image_id not in self._order:
            self._order[image_id] = ranked(image_id, self.fleet.top or 0)
        return self._order[image_id]

    def seeders(self, image_id):
        """The ``[precache] glance_seeders`` live nodes first in the order."""
        if image_id not in self._seeders:
            count, found = CONF.precache.glance_seeders, []
            for node_id in self.order(image_id)[:count * _SKIP]:
                node = self.sample.get(node_id) or self._node(node_id)
                if node is not None:
                    found.append(node)
                if len(found) == count:
                    break
            self._seeders[image_id] = found
        return self._seeders[image_id]

    def _node(self, node_id):
        """The live node of ID ``node_id`` read now, or None."""
        node = self.fleet.nodes.get(self.context, node_id)
        return None if node is None else node_of(node)

    def parent(self, image_id):
        """The live node this host copies ``image_id`` from, or None.

        None for a seeder, or a host whose node is not found. A deleted
        parent's own parent stands in for it.
        """
        ids = self.fleet.ids
        if self.host not in ids:
            ids[self.host] = self.fleet.nodes.own_id(self.context, self.host)
        order = self.order(image_id)
        if ids[self.host] not in order:
            return None
        rank = order.index(ids[self.host])
        seeders = CONF.precache.glance_seeders
        while rank >= seeders:
            rank = (rank - seeders) // FANOUT
            node = self.sample.get(order[rank]) or self._node(order[rank])
            if node is not None:
                return node
        return None

    def is_up(self, host):
        if host not in self._up:
            self._up[host] = self.fleet.nodes.is_up(self.context, host)
        return self._up[host]

    def is_seeder(self, image_id):
        return self.host in [n.host for n in self.seeders(image_id)]

    def holders(self, image_id):
        """Other nodes seen to publish ``image_id``, with an address."""
        nodes = {n.id: n for n in self.others()}
        nodes.update((n.id, n) for n in self.seeders(image_id)
                     if n.host != self.host)
        return [n for _, n in sorted(nodes.items())
                if image_id in n.images and n.address]

    def seeders_down(self, image_id):
        """Whether every seeder of ``image_id`` but this host is down."""
        others = [n.host for n in self.seeders(image_id)
                  if n.host != self.host]
        return bool(others) and not any(self.is_up(h) for h in others)


# The process's reads: one compute, or nova-precache.
FLEET = Fleet()
_views = {}


def view(context, host, fresh=False):
    """This pass's ``View`` for ``host``; read again after ``forget()``."""
    if fresh or host not in _views:
        _views[host] = FLEET.view(context, host)
    return _views[host]


def forget(host):
    """A new pass of ``host`` begins: the next view() reads again."""
    _views.pop(host, None)
