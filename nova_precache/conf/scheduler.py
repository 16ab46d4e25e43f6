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

"""Options of ``nova_precache.scheduler.ImageCacheWeigher``."""

from oslo_config import cfg

opts = [
    cfg.FloatOpt('weight_multiplier',
        default=15.0,
        help="""
Multiplier of ``nova_precache.scheduler.ImageCacheWeigher``: how much the
scheduler prefers hosts that already hold the requested image. Its
weights are on a fixed scale, while nova's own weighers spread their whole
range over the candidates: with the default, a host holding an image that
a fair share of the candidates hold outweighs the whole range of
RAMWeigher and CPUWeigher together (multiplier 1.0 each). Host aggregate
metadata ``precache_weight_multiplier`` overrides it for its hosts.

Possible values:

* A positive number prefers warm hosts, a negative one avoids them, and 0
  leaves placement to nova's other weighers.

Related options:

* ``[filter_scheduler] weight_classes``, ``max_same_image_per_host``
"""),
    cfg.IntOpt('max_same_image_per_host',
        default=12,
        min=1,
        help="""
Instances of one image on one host at which ``ImageCacheWeigher`` stops
preferring that host for the image. The preference falls with each such
instance and is gone at this number, so that one host failure cannot take
all the instances of an image. Lower values spread an image's instances
over more hosts, at the cost of more boots on hosts that must download the
image first.

Possible values:

* An integer of 1 or more.

Related options:

* ``weight_multiplier``, ``[filter_scheduler] track_instance_changes``
"""),
]
