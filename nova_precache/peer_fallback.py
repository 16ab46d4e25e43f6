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

"""A spawn's base file from a peer while Glance is down.

A spawn on a host without the image's base file downloads it from Glance
(nova's ``fetch_func``, called under nova's lock for the file). With
``[precache] peer_fetch``, when that download fails because Glance is
unavailable, the base file is copied from another compute that publishes
the image (``nova_precache.peers``, checked as a download is), so that an
evacuation or a migration onto a host lacking the image still spawns.
While Glance answers, and for any other failure, nova's path is
unchanged; if no peer can help, nova's own error stands.
"""

import os
import random

from oslo_log import log as logging

from nova_precache import catalog
from nova_precache import conf
from nova_precache import fleet
from nova_precache import glance
from nova_precache import peers

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def enabled():
    return CONF.precache.enabled and CONF.precache.peer_fetch


def wrap(fetch_func, kwargs):
    """``fetch_func`` of a spawn, falling back to peers on a Glance outage.

    :param kwargs: what nova passes ``Image.cache()`` for the disk: only a
        disk made from a Glance image (``context`` and ``image_id``) has
        peers to ask; any other ``fetch_func`` is returned as it is.
    """
    context, image_id = kwargs.get('context'), kwargs.get('image_id')
    if context is None or image_id is None:
        return fetch_func

    def _fetch(target, *args, **kw):
        try:
            return fetch_func(target=target, *args, **kw)
        except Exception as e:
            if not (enabled() and glance.is_outage(e)):
                raise
            glance_error = e
        cache_dir = os.path.dirname(target)
        holders = holding(context, image_id)
        LOG.warning('Glance is unavailable (%(error)s): copying image '
                    '%(image)s from a peer (%(peers)s)',
                    {'error': glance_error, 'image': image_id,
                     'peers': ', '.join(p.host for p in holders) or 'none'})
        try:
            peers.copy_locked(image_id, holders, _meta(cache_dir, image_id),
                              cache_dir)
        except Exception as e:
            LOG.error('Image %(image)s could not be copied from a peer: '
                      '%(error)s', {'image': image_id, 'error': e})
            raise glance_error

    return _fetch


def holding(context, image_id):
    """Other computes that publish ``image_id``, as peers to copy from.

    Found in a fresh, bounded read of the fleet (``nova_precache.fleet``:
    a sample, and the image's seeders); critical holders first (they
    never age the image out), then in random order, so that spawns spread
    over the holders.
    """
    holders = fleet.view(context.elevated(), CONF.host, fresh=True).holders(
        image_id)
    random.shuffle(holders)
    holders.sort(key=lambda node: image_id not in node.critical)
    return [peers.Peer(node.host, node.address) for node in holders]


def _meta(cache_dir, image_id):
    """What this host knows of the image: its catalog's metadata, or {}."""
    return catalog.Catalog(cache_dir, None).metadata(image_id) or {}
