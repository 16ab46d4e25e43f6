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
hosts (in benchmarks/simulation.py, under an older cache model: 0.88 of
boots warm against 0.80 with H / N, with the worst pile and loss still
within twice stock's); ``room``
takes the advantage away as a host fills up with one image, so one host
failure cannot take all its instances. Weights are on a fixed scale
(0..3), so these factors keep their meaning after nova's normalisation.

The cost per candidate is a few dictionary lookups: a host's stats are
parsed again only when nova gives it a new stats dict, and its instances
counted by image again only when the objects in ``HostState.instances``
are no longer the same ones (nova adds, replaces and removes them as the
computes report): never a stale count, and no field read while nothing
changed.

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


class _HostView(object):
    """What the weigher read from one host's state, and what from.

    ``published`` is (the stats dict, its two values, images, critical
    images parsed from them); ``counted`` is (the instance objects,
    {image ID: instances}, UUIDs of instances whose image is not known)
    counted from them. nova replaces a host's stats dict when its compute
    node changes, and replaces or removes the entries of its instances
    dict when the host's instances change
    (``HostManager.update_instance_info``, ``delete_instance_info``): the
    same objects, by identity, mean nothing to read again. Each is
    replaced in one assignment, so a concurrent request sees the old one
    or the new one, never half of each.
    """

    __slots__ = ('published', 'counted')

    def __init__(self):
        # A host that publishes nothing (stats None) holds nothing.
        self.published = (None, (None, None), {}, set())
        self.counted = (None, {}, ())

    def read_stats(self, host_state):
        stats_dict = host_state.stats
        raw = ((stats_dict or {}).get(stats.KEY),
               (stats_dict or {}).get(stats.CRITICAL_KEY))
        _, old_raw, images, critical = self.published
        if raw != old_raw:
            images = stats.decode(stats_dict)
            critical = stats.decode_critical(stats_dict)
        published = self.published = (stats_dict, raw, images, critical)
        return published

    def count(self, instances, current):
        same = collections.Counter()
        unknown = []
        for uuid, inst in instances.items():
            # The field's storage, as nova reads it: a field that is not
            # set is None here, where the attribute would lazy-load it.
            image_ref = getattr(inst, _IMAGE_REF, None)
            if image_ref is None:
                unknown.append(uuid)
            else:
                same[image_ref] += 1
        counted = self.counted = (current, same, tuple(unknown))
        return counted


class ImageCacheWeigher(weights.BaseHostWeigher):
    minval = 0.0
    maxval = (1 + TARGET_BONUS) * CRITICAL_FACTOR

    def __init__(self):
        super().__init__()
        # A bad [precache] value (weight_multiplier = nan) stops the
        # scheduler at start-up, with its name and value.
        conf.check(CONF)
        # HostState -> _HostView: nova's HostManager keeps one HostState
        # per compute node for as long as the node exists.
        self._views = {}
        self._image_of = collections.OrderedDict()

    def weight_multiplier(self, host_state):
        return utils.get_weight_multiplier(
            host_state, 'precache_weight_multiplier',
            CONF.precache.weight_multiplier)

    def weigh_objects(self, weighed_obj_list, spec_obj):
        result = [0.0] * len(weighed_obj_list)
        image_id = _image_id(spec_obj)
        if not image_id or _in_server_group(spec_obj):
            return result
        self._remember(spec_obj, image_id)
        root_gb = spec_obj.flavor.root_gb
        cap = CONF.precache.max_same_image_per_host
        views = self._views
        holders = 0
        critical = []
        for index, weighed in enumerate(weighed_obj_list):
            host_state = weighed.obj
            view = views.get(host_state)
            if view is None:
                view = views[host_state] = _HostView()
            published = view.published
            if published[0] is not host_state.stats:
                published = view.read_stats(host_state)
            _, _, images, critical_images = published
            sizes = images.get(image_id)
            if sizes is None:
                continue
            holders += 1
            instances = host_state.instances or {}
            # A tuple compares its items by identity first: while the
            # host's instances are the same objects, no field is read.
            current = tuple(instances.values())
            counted = view.counted
            if counted[0] != current:
                counted = view.count(instances, current)
            _, by_image, unknown = counted
            same = by_image.get(image_id, 0)
            if unknown:
                # Known by UUID only: the image of the request that placed
                # it, if this weigher saw it.
                same += sum(self._image_of.get(uuid) == image_id
                            for uuid in unknown)
            if same >= cap:
                continue
            weight = 1.0 - same / cap
            if root_gb in sizes:
                weight *= 1 + TARGET_BONUS
            if image_id in critical_images:
                critical.append((index, weight * CRITICAL_FACTOR))
            result[index] = weight
        if holders:
            spread = math.sqrt(holders / len(result))
            result = [weight * spread for weight in result]
        for index, weight in critical:
            result[index] = weight
        return result

    def _remember(self, spec_obj, image_id):
        if spec_obj.obj_attr_is_set('instance_uuid'):
            self._image_of[spec_obj.instance_uuid] = image_id
            self._image_of.move_to_end(spec_obj.instance_uuid)
            if len(self._image_of) > REMEMBERED_REQUESTS:
                self._image_of.popitem(last=False)

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
