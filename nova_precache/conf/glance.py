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

"""Options of how the pass talks to Glance: back-off and discovery."""

from oslo_config import cfg

opts = [
    cfg.IntOpt('glance_retry_max_interval',
        default=3600,
        min=60,
        help="""
Longest wait, in seconds, between two tries of a Glance that is
unavailable. After a failure the pass stops calling Glance, waits 60
seconds before the next try, and doubles the wait after each failed try up
to this value.

Possible values:

* A number of seconds, 60 or more.

Related options:

* ``[glance] timeout``, which bounds requests that hang
"""),
    cfg.IntOpt('discovery_interval',
        default=3600,
        min=0,
        help="""
Seconds between two refreshes of what the pass knows from Glance. A
refresh lists the images of ``operator_projects`` that are active, not
hidden and public or community, so that they are cached before their
first boot, and reads again, in bulk, the metadata of the images the plan
keeps, so that an image deactivated, deleted or hidden in Glance leaves
the plan. Between two refreshes a pass makes no Glance call for what it
already knows.

Possible values:

* 0: refresh at every pass.
* A positive number of seconds: an image the operator publishes is cached
  on every enabled compute within this time plus one ``[image_cache]
  manager_interval``.

Related options:

* ``operator_projects``: the projects whose images are listed; unset, a
  refresh only reads the plan's images again.
* ``[image_cache] manager_interval``: how often the pass runs.
"""),
]
