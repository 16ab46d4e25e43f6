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

"""Image Cache Weigher: prefer hosts that already hold the requested image.

Hosts publish what their image cache holds in their compute node stats
(``nova_precache.stats``). Among the candidates of a request for image I
and root disk size R, a host that holds I weighs::

    (1 + 0.5 * target) * spread * room * critical
        target   = 1 if a resize target of R GiB is ready, else 0
        spread   = (holders / candidates) ** 0.25, or 1 for a critical image
        room     = max(0, 1 - same / max_same_image_per_host)
        critical = 2 if the host lists I as critical, else 1

and every other host 0. ``spread`` keeps the few warm hosts of a rare
image from collecting all its boots; ``room`` takes the preference away
as a host fills with one image, so that one host failure cannot take all
its instances. ``same`` comes from ``HostState.instances``, without a DB
call: an instance known by UUID only counts with the image of the request
that placed it, if this weigher saw it. The scale is fixed (0..3), so the
factors keep their meaning after nova's normalisation. Requests in a
server group weigh 0 everywhere (the group's rules win), and so do hosts
that publish nothing (stock computes). The multiplier is ``[precache]
weight_multiplier``, or aggregate metadata ``precache_weight_multiplier``.
Why these factors and defaults: README.rst, "Scheduling onto warm hosts".
"""

import collections
import time

from nova.objects import base as obj_base
from nova.scheduler import utils
from nova.scheduler import weights

from nova_precache import conf
from nova_precache import stats

CONF = conf.CONF

TARGET_BONUS = 0.5
SPREAD_POWER = 0.25
CRITICAL_FACTOR = 2.0
# Instance UUID -> image of the requests this weigher saw, most recent
# last: about 100 bytes an entry.
REMEMBERED_REQUESTS = 100000
_IMAGE_REF = obj_base.get_attrname('image_ref')
# A compute node's view is released once no request has weighed the node
# for between one and two of these periods (seconds).
RELEASE_AFTER = 600.0


class _HostView(object):
    """What the weigher read from one compute node, and what from.

    ``images`` (image ID -> target sizes) and ``critical`` were parsed
    from ``raw``, the published values of the stats dict ``stats``; nova
    hands over a new stats dict with every request, and they are parsed
    again only when the published values change. ``by_image`` (image ID
    -> instances) and ``unknown`` (UUIDs of instances whose image is not
    known) were counted from ``instances``, a copy of the node's
    instances dict, whose entries nova replaces or removes as the host's
    instances change (``HostManager.update_instance_info``,
    ``delete_instance_info``): comparing the copy with the live dict
    compares their objects by identity, and reads no field. What was read
    is set before what it was read from, so that a concurrent request
    that finds the source unchanged also finds what was read from it.
    ``weights`` keeps the weights worked out from them, for requests of
    the same image, root disk and cap; it is emptied after every change,
    and a weight is kept in the dict that was current when its working
    out began, so that none outlives the data it came from.
    """

    __slots__ = ('stats', 'raw', 'images', 'critical',
                 'instances', 'by_image', 'unknown', 'weights')

    def __init__(self):
        # A host that publishes nothing (stats None) holds nothing.
        self.stats = self.raw = self.instances = None
        self.images, self.critical = {}, frozenset()
        self.by_image, self.unknown = {}, ()
        self.weights = {}

    def read_stats(self, stats_dict):
        # nova gives a new dict with every request: parse it only if
        # what we publish changed.
        raw = ((stats_dict or {}).get(stats.KEY),
               (stats_dict or {}).get(stats.CRITICAL_KEY))
        if raw != self.raw:
            self.images = stats.decode(stats_dict)
            self.critical = stats.decode_critical(stats_dict)
            self.raw = raw
            self.weights = {}
        self.stats = stats_dict

    def count(self, instances):
        # A copy first (one C call, which nova's updates from other
        # threads cannot interleave), then counted from the copy.
        copy = None if instances is None else dict(instances)
        same = collections.Counter()
        unknown = []
        for uuid, inst in (copy or {}).items():
            # The field's storage, as nova reads it: a field that is not
            # set is None here, where the attribute would lazy-load it.
            # Not obj_attr_is_set(), which lists Instance's 80-odd fields
            # at each call: most of the count's cost (README, "Measured").
            image_ref = getattr(inst, _IMAGE_REF, None)
            if image_ref is None:
                unknown.append(uuid)
            else:
                same[image_ref] += 1
        self.by_image, self.unknown = same, tuple(unknown)
        self.instances = copy
        self.weights = {}

    def weigh(self, key, image_id, sizes, root_gb, cap, image_of):
        """(weight before the spread, critical) of this holder of image_id.

        :param sizes: the host's target sizes of image_id.
        :param image_of: instance UUID -> image of the requests weighed.
        """
        weights = self.weights
        same = self.by_image.get(image_id, 0)
        if self.unknown:
            # Known by UUID only: the image of the request that placed
            # it, if this weigher saw it. That changes as requests come:
            # not kept.
            same += sum(image_of.get(uuid) == image_id
                        for uuid in self.unknown)
        weight = max(0.0, 1.0 - same / cap)
        if root_gb in sizes:
            weight *= 1 + TARGET_BONUS
        weighed = (weight, image_id in self.critical)
        if not self.unknown:
            weights[key] = weighed
        return weighed


class ImageCacheWeigher(weights.BaseHostWeigher):
    minval = 0.0
    maxval = (1 + TARGET_BONUS) * CRITICAL_FACTOR

    def __init__(self):
        super().__init__()
        # A bad [precache] value (weight_multiplier = nan) stops the
        # scheduler at start-up, with its name and value.
        conf.check(CONF)
        # (host, node) -> _HostView. nova builds new HostState objects for
        # every request and forgets nodes that are gone without telling
        # weighers: views are kept per node, in two generations swapped
        # every RELEASE_AFTER seconds, and a view is moved to the current
        # one when its node is weighed. What no request weighed in a whole
        # period is dropped with the old generation: one clock read per
        # request, nothing per candidate.
        self._views, self._old_views = {}, {}
        self._swapped = time.monotonic()
        self._image_of = collections.OrderedDict()
        self._multiplier = CONF.precache.weight_multiplier

    def weight_multiplier(self, host_state):
        # nova asks for every candidate: the option, read once per request
        # by weigh_objects(), which nova calls first; aggregates' metadata
        # only where the host has aggregates.
        if not host_state.aggregates:
            return self._multiplier
        return utils.get_weight_multiplier(
            host_state, 'precache_weight_multiplier', self._multiplier)

    def weigh_objects(self, weighed_obj_list, spec_obj):
        self._multiplier = CONF.precache.weight_multiplier
        image_id = _image_id(spec_obj)
        if not image_id or _in_server_group(spec_obj):
            return [0.0] * len(weighed_obj_list)
        self._remember(spec_obj, image_id)
        root_gb = spec_obj.flavor.root_gb
        cap = CONF.precache.max_same_image_per_host
        # A string keeps its hash: computed once for every host.
        key = '%s %s %s' % (image_id, root_gb, cap)
        views, old_views = self._generations()
        result = []
        append = result.append
        holders = 0
        critical = []
        for weighed in weighed_obj_list:
            host_state = weighed.obj
            node = (host_state.host, host_state.nodename)
            view = views.get(node)
            if view is None:
                view = views[node] = (old_views.pop(node, None) or
                                      _HostView())
            if view.stats is not host_state.stats:
                view.read_stats(host_state.stats)
            sizes = view.images.get(image_id)
            if sizes is None:
                append(0.0)
                continue
            holders += 1
            if view.instances != host_state.instances:
                view.count(host_state.instances)
            weight, is_critical = (
                view.weights.get(key) or
                view.weigh(key, image_id, sizes, root_gb, cap,
                           self._image_of))
            if is_critical:
                critical.append((len(result), weight * CRITICAL_FACTOR))
            append(weight)
        if holders:
            spread = (holders / len(result)) ** SPREAD_POWER
            result = [weight * spread for weight in result]
        for index, weight in critical:
            result[index] = weight
        return result

    def _generations(self):
        now = time.monotonic()
        if now - self._swapped >= RELEASE_AFTER:
            # Two requests may both swap: a view dropped early is read
            # again, nothing worse.
            self._old_views, self._views = self._views, {}
            self._swapped = now
        return self._views, self._old_views

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
