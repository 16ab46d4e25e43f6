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

"""The cloud operator's own images rank above users' uploads.

Owners come from the metadata in the host's catalog, learned from Glance
(``nova_precache.discovery`` lists the operator's images): this ranker
never calls Glance itself. Images a refresh would list, active, public or
community and not hidden, rank newest first, their score the seconds of
their creation, so that this month's base image comes before last
month's; the operator's other images follow. A hidden one ranks as the
users' images do.
"""

from nova_precache import conf
from nova_precache import discovery
from nova_precache import ranking

CONF = conf.CONF


class OperatorOwnedRanker(ranking.Ranker):

    def score(self, signals):
        projects = set(CONF.precache.operator_projects)
        scores = {}
        for image_id in signals.catalog.images:
            meta = signals.catalog.metadata(image_id)
            if not meta or meta.get('owner') not in projects or meta.get(
                    'os_hidden'):
                continue
            if discovery.discoverable(meta):
                scores[image_id] = (
                    1 + discovery.created(meta),
                    'discovered: owned by operator project %s, created %s'
                    % (meta['owner'], meta.get('created_at') or 'unknown'))
            else:
                scores[image_id] = (
                    1, 'owned by operator project %s' % meta['owner'])
        return scores
