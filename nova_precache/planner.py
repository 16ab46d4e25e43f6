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

"""The plan of a pass: rank this host's images, then cut to the budget.

Everything it decides from is passed in (``Inputs``), so nova-compute's
pass and the ``nova-precache`` command make the same plan from the same
facts. It writes nothing and calls nothing but ``reread`` and ``learn``,
through which the caller may let Glance describe again the images the
plan keeps (after a refresh, ``nova_precache.discovery``) and describe
those the catalog does not know yet.
"""

import collections
import os

from oslo_log import log as logging

from nova.virt.libvirt import imagecache

from nova_precache import budget
from nova_precache import conf
from nova_precache import discovery
from nova_precache import ranking

LOG = logging.getLogger(__name__)
CONF = conf.CONF

Inputs = collections.namedtuple(
    'Inputs', 'context host rankers catalog in_use critical cache_dir')
Inputs.__doc__ = """What a plan is made from.

``context``: admin context, for rankers that read nova's DB; ``host``: this
compute's name; ``rankers``: [(name, Ranker)]; ``catalog``: the host's
``catalog.Catalog``; ``in_use``: {image_id: local instances using it};
``critical``: ordered {image_id: note}; ``cache_dir``: where the base
files are, for what is present and the disk figures.
"""

Plan = collections.namedtuple('Plan', 'entries cut')
Plan.__doc__ = """A plan: ``entries``, the ranked ``ranking.PlanEntry`` list,
best first, and ``cut``, its ``budget.Cut``.
"""


def make(inputs, learn=None, reread=None):
    """Rank the images ``inputs`` name and cut the ranking to the budget.

    :param learn: called with the image IDs worth describing (the best
        ranked of those Glance has not said are gone, as many as could be
        kept); True if the catalog learned anything, which may change the
        order (owners).
    :param reread: called first, with those, the ones kept whatever
        their rank and the ones said to be gone (which may be back); True
        if the catalog changed.
    """
    catalog = inputs.catalog
    for image_id in inputs.in_use:
        catalog.record(image_id)
    signals = ranking.Signals(inputs.context, inputs.host, inputs.in_use,
                              inputs.critical, catalog)
    entries = ranking.rank(inputs.rankers, signals)
    must_keep = set(inputs.in_use) | set(inputs.critical)

    def window():
        return [e.image_id for e in discovery.live(entries, catalog)[
            :CONF.precache.max_images + len(must_keep)]]

    gone = [e.image_id for e in entries
            if discovery.status(catalog, e.image_id) in discovery.GONE]
    if reread is not None and reread(window() + sorted(must_keep) + gone):
        entries = ranking.rank(inputs.rankers, signals)
    if learn is not None and learn(window()):
        entries = ranking.rank(inputs.rankers, signals)

    present = {e.image_id for e in entries
               if os.path.exists(catalog.base_file(e.image_id))}
    # Images Glance said are gone cannot be fetched: not "waiting for
    # Glance", and not asked about again until the next refresh.
    entries = discovery.drop_gone(entries, catalog, inputs.critical, present)
    sizes = {e.image_id: budget.space_needed(
             catalog.metadata(e.image_id) or {})
             for e in entries if e.image_id not in present}
    sizes = {i: s for i, s in sizes.items() if s is not None}
    cut = budget.cut(entries, must_keep, present, sizes,
                     budget.cache_bytes(inputs.cache_dir),
                     budget.free_bytes(inputs.cache_dir))
    for entry, why in cut.left_out:
        LOG.debug('Leaving out image %(image)s: %(why)s',
                  {'image': entry.image_id, 'why': why})
    if cut.over_budget:
        LOG.warning('The images that must stay cached (in use by local '
                    'instances or critical) exceed the [precache] '
                    'budget: max_images=%(images)d, max_cache_gb=%(gb)g. '
                    'They are all kept; shorten the critical list or '
                    'raise the budget.',
                    {'images': CONF.precache.max_images,
                     'gb': CONF.precache.max_cache_gb})
    return Plan(entries, cut)


def wanted_targets(root_sizes, cut):
    """{(base file name, root_gb)} of the resize targets spawns will want.

    :param root_sizes: {base file name: set of root_gb} of the local
        instances' root disks; and for each image the cut keeps, every
        ``[precache] resize_target_sizes``.
    """
    wanted = {(base, gb) for base, sizes in root_sizes.items()
              for gb in sizes}
    for entry in cut.keep:
        base = imagecache.get_cache_fname(entry.image_id)
        wanted.update((base, gb) for gb in CONF.precache.resize_target_sizes)
    return wanted


def decisions(plan):
    """[(rank, entry, decision)] in plan order: fetch, keep or left out."""
    fetch = {e.image_id for e in plan.cut.fetch}
    keep = {e.image_id for e in plan.cut.keep}
    why = {e.image_id: reason for e, reason in plan.cut.left_out}
    rows = []
    for rank, entry in enumerate(plan.entries, 1):
        if entry.image_id in fetch:
            decision = 'fetch'
        elif entry.image_id in keep:
            decision = 'keep'
        else:
            decision = 'left out: %s' % why[entry.image_id]
        rows.append((rank, entry, decision))
    return rows
