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

"""Rankers and the combiner that orders the images a host should keep.

A ranker is a stevedore plug-in in the ``nova_precache.rankers`` namespace:
a ``Ranker`` subclass whose ``score()`` returns, for the images it has an
opinion on, a number (higher is more valuable) and a reason an operator can
read. ``[precache] rankers`` names them in priority order and the combiner
compares images on the first ranker's score, then the next, and so on, so
that "critical first, then the operator's images, then the busiest" is
exactly what the list says.
"""

import abc
import collections

from nova import exception
from oslo_log import log as logging
from stevedore import extension
from stevedore import named

LOG = logging.getLogger(__name__)

NAMESPACE = 'nova_precache.rankers'


class Signals(object):
    """What the rankers know of this host and its cache in one pass.

    :param context: admin context, for rankers that read nova's DB.
    :param host: this compute's host name.
    :param local_usage: {image_id: number of local instances using it}.
    :param critical: ordered {image_id: note} from the critical list.
    :param catalog: the ``catalog.Catalog`` of this host's cache.
    """

    def __init__(self, context, host, local_usage, critical, catalog):
        self.context = context
        self.host = host
        self.local_usage = local_usage
        self.critical = critical
        self.catalog = catalog


class Ranker(metaclass=abc.ABCMeta):

    @abc.abstractmethod
    def score(self, signals):
        """Return {image_id: (score, reason)}; unlisted images score 0."""


PlanEntry = collections.namedtuple('PlanEntry', 'image_id score reasons')
PlanEntry.__doc__ = """One image of the plan.

``score`` is the tuple of its rankers' scores, in ``[precache] rankers``
order; ``reasons`` the readable "ranker: reason" strings behind it.
"""


class UnknownRanker(exception.InvalidConfiguration):
    # Not a ValueError: nova's driver loader would report that as "driver
    # is not of type ComputeDriver" and hide this message.
    msg_fmt = '%(reason)s'


def load(names):
    """The rankers named, in order; an unknown name raises UnknownRanker."""
    missing = []

    def _failed(manager, entrypoint, error):
        raise UnknownRanker(reason='ranker %s cannot be loaded: %s'
                            % (entrypoint.name, error))

    manager = named.NamedExtensionManager(
        NAMESPACE, names, invoke_on_load=True, name_order=True,
        on_missing_entrypoints_callback=missing.extend,
        on_load_failure_callback=_failed)
    if missing:
        installed = extension.ExtensionManager(NAMESPACE).names()
        raise UnknownRanker(reason=(
            '[precache] rankers names unknown ranker(s) %s; installed: %s'
            % (', '.join(sorted(missing)),
               ', '.join(sorted(installed)) or 'none')))
    return [(ext.name, ext.obj) for ext in manager]


def rank(rankers, signals):
    """Order every image any ranker scored: the plan, best first."""
    scored = []
    for name, ranker in rankers:
        try:
            scores = ranker.score(signals)
        except Exception:
            # One broken ranker must not stop the pass, nor nova's aging.
            LOG.exception('Ranker %s failed; it has no say in this pass',
                          name)
            scores = {}
        scored.append((name, scores))
    entries = []
    for image_id in set().union(*(scores for _, scores in scored)):
        score, reasons = [], []
        for name, scores in scored:
            value, reason = scores.get(image_id, (0, None))
            score.append(value)
            if reason:
                reasons.append('%s: %s' % (name, reason))
        entries.append(PlanEntry(image_id, tuple(score), reasons))
    # Highest score first; the image ID only makes the order repeatable.
    entries.sort(key=lambda e: tuple(-v for v in e.score) + (e.image_id,))
    for position, entry in enumerate(entries, 1):
        LOG.debug('Rank %(position)d: image %(image)s score %(score)s '
                  '(%(reasons)s)',
                  {'position': position, 'image': entry.image_id,
                   'score': entry.score,
                   'reasons': '; '.join(entry.reasons) or 'no reason'})
    return entries
