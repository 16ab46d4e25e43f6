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

"""Image Cache Weigher. Weigh hosts by whether they hold the image.

Hosts publish what their image cache holds in their compute node stats
(``nova_precache.stats``). For a request for image I and root disk size R,
among N candidate hosts of which H hold I::

    weight = 0                                  host does not hold I
    weight = (1 + 0.5 * target) * spread * room * critical
        target   = 1 if a resize target of R GiB is ready, else 0
        spread   = sqrt(H / N), or 1 for a critical image
        room     = max(0, 1 - same / max_same_image_per_host)
        critical = 2 if the host lists I as critical, else 1

``same`` is the number of instances of I the host already runs, from
``HostState.instances`` without a DB call. The scheduler sometimes knows a
host's instances by UUID only (after it re-synchronises them); the weigher
then uses the image of the requests it weighed itself, and leaves out
instances it knows nothing of. ``spread`` follows kube-scheduler's
ImageLocality spread factor: an image held by few candidates attracts
little, so the few warm hosts do not collect every boot of it. Its square
root keeps more of the preference for images held by a fair share of the
hosts (in benchmarks/simulation.py: 0.88 of boots warm against 0.80 with
H / N, with the worst pile and loss still within twice stock's); ``room``
takes the advantage away as a host fills up with one image, so one host
failure cannot take all its instances. Weights are on a fixed scale
(0..3), so these factors keep their meaning after nova's normalisation.

A request in a server group (any policy) weighs 0 everywhere: the group's
placement rules, hard or soft, always win. Hosts that publish nothing or
something malformed (a stock compute) weigh 0.

The multiplier is ``[precache] weight_multiplier``, overridden by host
aggregate metadata ``precache_weight_multiplier``.
"""

import collections
import math

from nova.objects import base as obj_base
from nova.scheduler import utils
from nova.scheduler import weights

from nova_precache import conf
from nova_precache import stats

CONF = conf.CONF

TARGET_BONUS = 0.5
CRITICAL_FACTOR = 2.0
# Instance UUID -> image of the requests this weigher saw, most recent
# last: about 100 bytes an entry.
REMEMBERED_REQUESTS = 100000
_IMAGE_REF = obj_base.get_attrname('image_ref')


class ImageCacheWeigher(weights.BaseHostWeigher):
    minval = 0.0
    maxval = (1 + TARGET_BONUS) * CRITICAL_FACTOR

    def __init__(self):
        super().__init__()
        # A bad [precache] value (weight_multiplier = nan) stops the
        # scheduler at start-up, with its name and value.
        conf.check(CONF)
        # (host, node) -> (published stats values, parsed): parsed again
        # only when a host's stats change, not for every request.
        self._parsed = {}
        self._image_of = collections.OrderedDict()

    def weight_multiplier(self, host_state):
        return utils.get_weight_multiplier(
            host_state, 'precache_weight_multiplier',
            CONF.precache.weight_multiplier)

    def _cache_of(self, host_state):
        """(images {id: target sizes}, critical ids) a host publishes."""
        key = (host_state.host, host_state.nodename)
        published = host_state.stats or {}
        raw = (published.get(stats.KEY), published.get(stats.CRITICAL_KEY))
        cached = self._parsed.get(key)
        if cached is None or cached[0] != raw:
            cached = (raw, (stats.decode(host_state.stats),
                            stats.decode_critical(host_state.stats)))
            self._parsed[key] = cached
        return cached[1]

    def weigh_objects(self, weighed_obj_list, spec_obj):
        image_id = _image_id(spec_obj)
        if not image_id or _in_server_group(spec_obj):
            return [0.0] * len(weighed_obj_list)
        self._remember(spec_obj, image_id)
        caches = [self._cache_of(w.obj) for w in weighed_obj_list]
        holders = sum(image_id in images for images, _ in caches)
        spread = math.sqrt(holders / len(weighed_obj_list))
        root_gb = spec_obj.flavor.root_gb
        cap = CONF.precache.max_same_image_per_host
        return [self._weight(w.obj, images, critical, image_id, root_gb,
                             spread, cap)
                for w, (images, critical) in zip(weighed_obj_list, caches)]

    def _remember(self, spec_obj, image_id):
        if spec_obj.obj_attr_is_set('instance_uuid'):
            self._image_of[spec_obj.instance_uuid] = image_id
            self._image_of.move_to_end(spec_obj.instance_uuid)
            if len(self._image_of) > REMEMBERED_REQUESTS:
                self._image_of.popitem(last=False)

    def _same_image(self, host_state, image_id):
        """How many instances of ``image_id`` the host runs, as known."""
        same = 0
        for uuid, inst in (host_state.instances or {}).items():
            # The field's storage, as nova reads it: a field that is not
            # set is None here, where the attribute would lazy-load it.
            image_ref = getattr(inst, _IMAGE_REF, None)
            if image_ref is None:
                image_ref = self._image_of.get(uuid)
            same += image_ref == image_id
        return same

    def _weight(self, host_state, images, critical, image_id, root_gb,
                spread, cap):
        if image_id not in images:
            return 0.0
        room = max(0.0, 1.0 - self._same_image(host_state, image_id) / cap)
        target = TARGET_BONUS if root_gb in images[image_id] else 0.0
        if image_id in critical:
            return (1 + target) * room * CRITICAL_FACTOR
        return (1 + target) * spread * room

    def _weigh_object(self, host_state, spec_obj):
        # weigh_objects() does the work: the spread needs every candidate.
        raise NotImplementedError()


def _image_id(spec_obj):
    image = getattr(spec_obj, 'image', None)
    if image is None or not image.obj_attr_is_set('id'):
        return None
    return image.id


def _in_server_group(spec_obj):
    return bool(spec_obj.obj_attr_is_set('instance_group') and
                spec_obj.instance_group)
