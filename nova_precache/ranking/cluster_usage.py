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

"""Images held by more of the other compute nodes rank higher.

Cloud-wide popularity from what the other nodes publish in their stats,
counted in the pass's sample of the fleet (``nova_precache.fleet``): a
bounded read through the conductor whatever the fleet's size, no Glance
call and no scan of the instances table.
"""

import collections

from oslo_log import log as logging

from nova_precache import conf
from nova_precache import fleet
from nova_precache import ranking

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class ClusterUsageRanker(ranking.Ranker):

    def score(self, signals):
        if not fleet.reachable():
            LOG.debug('cluster_usage: neither the conductor nor nova\'s '
                      'database is configured here; no say')
            return {}
        holders = collections.Counter()
        sampled = fleet.view(signals.context, signals.host).others()
        for node in sampled:
            holders.update(node.images)
        return {image_id: (count, 'held by %d of %d sampled hosts'
                           % (count, len(sampled)))
                for image_id, count in holders.items()}
