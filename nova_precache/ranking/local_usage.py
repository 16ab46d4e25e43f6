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

"""Images used by more local instances rank higher.

The counts are nova's own: the ``used_images`` local counts its image cache
manager computes from the instances on this host's storage.
"""

from nova_precache import ranking


class LocalUsageRanker(ranking.Ranker):

    def score(self, signals):
        return {image_id: (count, '%d local instance(s)' % count)
                for image_id, count in signals.local_usage.items() if count}
