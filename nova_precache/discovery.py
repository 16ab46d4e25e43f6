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

"""The operator's images found in Glance, and Glance's lifecycle followed.

At most once every ``[precache] discovery_interval`` seconds, a refresh
lists the images of ``[precache] operator_projects`` that are active, not
hidden and public or community (one request per page of 1000), so that
they are cached before anyone boots them; and the images the plan keeps
are read again in bulk (``id=in:``, one request per 100), so that one
deactivated, deleted or hidden leaves the plan. Between two refreshes a
pass asks Glance nothing it knows already.

An answer missing is never taken for an image gone: a refresh that fails,
or a listing cut off midway, removes nothing; Glance down backs off as
``glance.GlanceHealth`` says.

The requests go through nova's ``GlanceClientWrapper`` (nova's endpoint
choice, retries, and the Nova service user's context), not nova's image
API: ``nova.image.glance.API.get_all`` asks for Glance's image schema
before each listing (one request more per call), follows a page's ``next``
link unchecked to wherever it points, and drops ``virtual_size``, which
the budget needs and would cost one more GET per image.
"""

import json
import os
import time
from urllib import parse

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_precache import conf
from nova_precache import critical
from nova_precache import files
from nova_precache import glance
from nova_precache import glance_answers

LOG = logging.getLogger(__name__)
CONF = conf.CONF

# Glance's default api_limit_max: the largest page it serves.
PAGE_SIZE = 1000
# Image IDs per re-read request: 100 UUIDs keep its URL under 4 KiB.
BATCH = 100
# What ``glance.Glance.learn`` records of an image Glance does not have.
NOT_FOUND = 'not_found'
# Statuses of images that cannot be fetched again.
GONE = frozenset(('deactivated', 'deleted', 'pending_delete', 'killed',
                  NOT_FOUND))
SHARED = ('public', 'community')
# When the last refresh was, kept beside the catalog, so that a restarted
# nova-compute or a ``nova-precache run`` waits for the interval as well.
STATE_FILE = 'discovery.json'
_LOCK = 'precache-discovery'


def discoverable(meta):
    """Whether a refresh lists this image: active, operator's, for all."""
    # nova's image API gives is_public instead of the visibility.
    visible = (meta.get('visibility') in SHARED if meta.get('visibility')
               else meta.get('is_public'))
    return bool(meta.get('owner') in CONF.precache.operator_projects and
                meta.get('status') == 'active' and visible and
                not meta.get('os_hidden'))


def created(meta):
    """Seconds since the epoch of an image's creation, or 0."""
    try:
        return timeutils.parse_isotime(meta['created_at']).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0


def status(catalog, image_id):
    return (catalog.metadata(image_id) or {}).get('status')


def shown_status(catalog, image_id):
    """What Glance last said of an image, as the plan acts on it."""
    meta = catalog.metadata(image_id) or {'status': 'not asked yet'}
    return image_id and '%s%s' % (meta.get('status') or 'unknown', (
        ', hidden' if meta.get('os_hidden') else ''))


def live(entries, catalog):
    """The plan's entries that Glance has not said are gone."""
    return [e for e in entries if status(catalog, e.image_id) not in GONE]


def drop_gone(entries, catalog, critical_images, present):
    """The plan without the images Glance said are gone.

    A critical one stays if it is cached, and is warned about each pass;
    one in use is left to nova, which keeps what instances use.
    """
    kept = live(entries, catalog)
    for entry in entries:
        image_id = entry.image_id
        if entry in kept or image_id not in critical_images:
            continue
        LOG.warning('Critical image %(image)s is %(status)s in Glance: '
                    '%(what)s; remove it from the critical list once no '
                    'one needs it', {
                        'image': image_id,
                        'status': status(catalog, image_id),
                        'what': 'its cached copy is kept' if image_id in
                        present else 'it cannot be fetched'})
    return [e for e in entries if e in kept or (
            e.image_id in critical_images and e.image_id in present)]


def _learn(catalog, found):
    for image_id, image in found.items():
        catalog.learn(image_id, image)
    return bool(found)


def _path(**query):
    return glance_answers.LIST_PATH + parse.urlencode(
        sorted(dict(query, limit=PAGE_SIZE).items()))


class Discovery(object):
    """When to ask Glance again, and what it said at the last refresh."""

    def __init__(self, glance_api, state_dir=None, lock_path=None,
                 clock=time.time):
        """:param state_dir: where the time of the last refresh is kept."""
        self.glance = glance_api
        self._clock = clock
        self._state_dir = state_dir
        self._lock_path = lock_path
        self.refreshed_at = self._load()
        # Requests made by the last refresh, for its log line and tests.
        self.requests = 0
        # Whether the images the plan keeps are still to be read again.
        self._reread = False
        self._listed = set()

    def _load(self):
        try:
            with open(os.path.join(self._state_dir, STATE_FILE)) as f:
                return float(json.load(f)['refreshed_at'])
        except (TypeError, OSError, ValueError, KeyError):
            return None  # None kept, none yet, or unreadable: refresh now.

    def _save(self):
        if self._state_dir is None:
            return
        try:
            files.write_locked(
                os.path.join(self._state_dir, STATE_FILE),
                json.dumps({'refreshed_at': self.refreshed_at}).encode(),
                _LOCK, self._lock_path, 'an interrupted save')
        except OSError as e:
            LOG.warning('Cannot record the time of the Glance refresh: '
                        '%s; the next pass refreshes again', e)

    def due(self):
        # A clock set back makes a refresh due, not one that never comes.
        since = None if self.refreshed_at is None else (
            self._clock() - self.refreshed_at)
        return not (since is not None and
                    0 <= since < CONF.precache.discovery_interval)

    def refresh(self, context, catalog):
        """If due, list the operator's images into ``catalog``.

        Makes the next ``reread()`` read the plan's images again.
        :returns: True if the catalog learned anything.
        """
        if not self.due() or not self.glance.health.available():
            return False
        self.requests = 0
        found, complete = {}, True
        try:
            for project in CONF.precache.operator_projects:
                complete &= self._list(context, found, _path(
                    owner=project, status='active', visibility='all',
                    sort_key='created_at', sort_dir='desc'))
        except Exception as e:
            self._failed('list the operator\'s images', e)
            return _learn(catalog, found)
        self.refreshed_at = self._clock()
        self._save()
        self._reread = True
        self._listed = set(found)
        LOG.info('Glance refresh: %(found)d operator images listed in '
                 '%(requests)d requests%(cut)s',
                 {'found': len(found), 'requests': self.requests,
                  'cut': '' if complete else ' (cut off)'})
        return _learn(catalog, found)

    def _failed(self, what, error):
        """Log a failed request: Glance down backs off, refused waits."""
        if glance.is_outage(error):
            # Due again (a failed re-read too) once the back-off ends.
            self.refreshed_at = None
            self.glance.health.failed(error)
            return
        self.refreshed_at = self._clock()
        self._save()
        LOG.warning('Cannot %(what)s in Glance: %(error)s; the pass goes '
                    'on with what it knows and asks again in %(wait)d s',
                    {'what': what, 'error': error,
                     'wait': CONF.precache.discovery_interval})

    def _get(self, context, path):
        self.requests += 1
        _, body = self.glance.client.call(
            self.glance.context(context), 2, 'get',
            controller='http_client', args=(path,))
        self.glance.health.succeeded()
        return body

    def _list(self, context, found, path, keep=None):
        """Add the images of a listing to ``found``; False if cut off.

        :param keep: a test the images must pass; by default
            ``discoverable``, checked on the answer, not only in the query.
        """
        seen = []
        while path:
            seen.append(path)
            body = self._get(context, path)
            try:
                images = glance_answers.images(body, path)
                found.update((image['id'], image) for image in images
                             if (keep or discoverable)(image))
                path = glance_answers.next_page(body, seen)
            except glance_answers.BadPage as e:
                LOG.warning('%s: the listing is cut off there, and nothing '
                            'is removed for what it lacks', e)
                return False
        return True

    def reread(self, context, catalog, image_ids):
        """After a refresh, read the known of ``image_ids`` again, in bulk.

        An image Glance lists neither hidden nor not hidden is gone
        (``NOT_FOUND``), but only when every request was answered.
        :returns: True if the catalog changed.
        """
        if not self._reread:
            return False
        self._reread = False
        wanted = [i for i in dict.fromkeys(image_ids)
                  if i not in self._listed and catalog.metadata(i) and
                  critical.is_image_id(i)]
        found, complete = {}, True
        try:
            for start in range(0, len(wanted), BATCH):
                batch = wanted[start:start + BATCH]
                for hidden in ('false', 'true'):
                    missing = [i for i in batch if i not in found]
                    if missing:
                        complete &= self._list(
                            context, found, _path(
                                id='in:' + ','.join(missing),
                                visibility='all', os_hidden=hidden),
                            keep=lambda image: True)
        except Exception as e:
            self._failed('read the plan\'s images again', e)
            complete = False
        gone = [i for i in wanted if i not in found] if complete else []
        for image_id in gone:
            LOG.warning('Image %s is no longer in Glance: it leaves the '
                        'plan', image_id)
            catalog.learn(image_id, dict(catalog.metadata(image_id),
                                         status=NOT_FOUND))
        LOG.info('Glance refresh: %(read)d of the plan\'s images read '
                 'again, %(gone)d gone, %(requests)d requests in all',
                 {'read': len(wanted), 'gone': len(gone),
                  'requests': self.requests})
        return _learn(catalog, found) or bool(gone)
