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

"""Where the pass takes an image it lacks: peers, Glance, or not yet.

With ``[precache] peer_fetch``, an image's seeders (``nova_precache.fleet``)
download it from Glance; every other host copies it from its parent in
the image's tree once the parent holds it, and waits for it until then,
so that no host serves more than ``fleet.FANOUT`` copies at once. Where
the parent is down, and while Glance is unavailable, any holder serves,
picked at random so that the copies spread over the holders. A host
goes to Glance itself when no peer holds the image and every seeder is
down, or after ``[precache] peer_wait`` seconds of waiting. A waiting
host looks at its parent again every ``retry_seconds()``, between passes,
and copies as soon as the parent holds the image. Up to
``TRIES`` holders are tried per pass. Without ``peer_fetch``, or where
the fleet cannot be read, every image comes from Glance, as before.
"""

import collections
import random
import time

from oslo_log import log as logging

from nova_precache import conf
from nova_precache import fleet
from nova_precache import peers

LOG = logging.getLogger(__name__)
CONF = conf.CONF

GLANCE = 'glance'
PEERS = 'peers'
WAIT = 'wait'
# Holders tried per image and pass, at most.
TRIES = 3
# nova's periodic task runs every 60 s when manager_interval is 0.
_NOVA_DEFAULT_INTERVAL = 60

Source = collections.namedtuple('Source', 'kind peers glance_after why')
Source.__doc__ = """Where an image comes from in this pass.

``kind``: GLANCE, PEERS or WAIT; ``peers``: the ``peers.Peer`` to try, in
order; ``glance_after``: whether Glance is asked when no peer can give
it; ``why``: what an operator reads in the log.
"""


def retry_seconds():
    """How long a host waiting for its parent waits before looking again.

    An eighth of a pass interval: the look is one compute node read, at
    a resource update (README: the rollout).
    """
    return _interval() // 8


def _interval():
    interval = CONF.image_cache.manager_interval
    return interval if interval > 0 else _NOVA_DEFAULT_INTERVAL


def peer_wait():
    """``[precache] peer_wait``, or its default: two pass intervals."""
    if CONF.precache.peer_wait is not None:
        return CONF.precache.peer_wait
    return 2 * _interval()


class Sources(object):
    """Decides, pass after pass, where each missing image comes from."""

    def __init__(self, clock=time.monotonic, rng=None):
        self.clock = clock
        self.rng = rng or random.Random()
        # {image_id: when this host began waiting for a peer}
        self._waiting = {}

    def view(self, context):
        """This pass's fleet view, or None without peer copies."""
        if not (CONF.precache.peer_fetch and fleet.reachable()):
            return None
        try:
            return fleet.view(context, CONF.host)
        except Exception as e:
            LOG.warning('Cannot read the other computes (%s): images come '
                        'from Glance in this pass', e)
            return None

    def choose(self, view, image_id, glance_up):
        """The ``Source`` of ``image_id`` for this pass."""
        if view is None:
            return Source(GLANCE, [], True, 'no peer copies')
        if glance_up and view.is_seeder(image_id):
            # The first sources of the fleet: Glance's bytes, at once.
            return Source(GLANCE, [], True, 'a seeder')
        parent = view.parent(image_id)
        holders = view.holders(image_id)
        if parent is not None and image_id in parent.images and (
                parent.address):
            others = [n for n in holders if n.host != parent.host]
            return self._peers([parent] + self.rng.sample(
                others, min(TRIES - 1, len(others))), glance_up,
                'its parent %s holds it' % parent.host)
        if holders and (not glance_up or parent is None or
                        not view.is_up(parent.host)):
            return self._peers(self.rng.sample(
                holders, min(TRIES, len(holders))), glance_up,
                '%d holder(s)' % len(holders))
        if not glance_up:
            return Source(WAIT, [], False, 'no peer holds it')
        if view.seeders_down(image_id):
            return Source(GLANCE, [], True, 'every seeder is down')
        now = self.clock()
        since = self._waiting.setdefault(image_id, now)
        if now - since >= peer_wait():
            return Source(GLANCE, [], True, 'no peer after %d s'
                          % (now - since))
        return Source(WAIT, [], False, 'waiting for %s' % (
            parent.host if parent is not None else 'a seeder'))

    @staticmethod
    def _peers(nodes, glance_up, why):
        return Source(PEERS, [peers.Peer(n.host, n.address) for n in nodes],
                      glance_up, why)

    def done(self, image_id):
        """The image is here: a later want waits afresh."""
        self._waiting.pop(image_id, None)
