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

"""What the pass asks Glance, and whether Glance answers.

Glance is asked for an image's metadata once: the answer goes into the
catalog, so a pass with nothing new makes no Glance call. Calls go as the
Nova service user when ``[service_user]`` is configured (the periodic
task's admin context carries no token).

A pass meets a sick Glance (connection refused, 5xx, a hung or cut
connection) as an error on its first call. It then stops calling Glance
for the rest of the pass, logs the outage once, and waits before it tries
again: 60 seconds after the first failure, doubling after each failed try,
up to ``[precache] glance_retry_max_interval``. The first success logs that
Glance is back. Errors about one image (not found, refused by nova's
checks, a checksum mismatch) say nothing about Glance and are not counted.

A request to a Glance that accepts the connection and then stops answering
is bounded by nova's own ``[glance] timeout`` (keystoneauth's per-read
timeout, for spawns as for this pass).
"""

import time

from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ksa_exc
from oslo_log import log as logging
import requests

from nova import context as nova_context
from nova import exception
from nova.image import glance as nova_glance

from nova_precache import conf
from nova_precache import notifications

LOG = logging.getLogger(__name__)
CONF = conf.CONF

FIRST_RETRY_SECONDS = 60


def is_outage(error):
    """True if ``error`` means Glance (not one image) is unavailable."""
    if isinstance(error, (exception.GlanceConnectionFailed,
                          requests.exceptions.RequestException,
                          ksa_exc.ConnectionError,
                          glance_exc.CommunicationError,
                          glance_exc.InvalidEndpoint)):
        return True
    code = getattr(error, 'code', None)
    return (isinstance(error, glance_exc.HTTPException) and
            isinstance(code, int) and code >= 500)


class GlanceHealth(object):

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.failures = 0
        self._retry_at = 0.0
        self._down_since = None

    def available(self):
        """May the pass call Glance now?"""
        return self._clock() >= self._retry_at

    def failed(self, error):
        self.failures += 1
        wait = min(FIRST_RETRY_SECONDS * 2 ** (self.failures - 1),
                   CONF.precache.glance_retry_max_interval)
        self._retry_at = self._clock() + wait
        if self.failures == 1:
            self._down_since = self._clock()
            notifications.glance_unavailable(CONF.host, error)
            LOG.error('Glance is unavailable: %(error)s. Pre-caching stops '
                      'calling it and tries again in %(wait)d s at the '
                      'earliest, waiting longer after each failed try (at '
                      'most %(max)d s); cached images are kept meanwhile.',
                      {'error': error, 'wait': wait,
                       'max': CONF.precache.glance_retry_max_interval})
        else:
            LOG.debug('Glance still unavailable (%(n)d failed tries): '
                      '%(error)s; next try in %(wait)d s',
                      {'n': self.failures, 'error': error, 'wait': wait})

    def succeeded(self):
        if self.failures:
            LOG.info('Glance is available again after %d failed tries; '
                     'pre-caching resumes', self.failures)
            notifications.glance_available(
                CONF.host, self._clock() - self._down_since)
        self.failures = 0
        self._retry_at = 0.0


class Glance(object):
    """Glance's answers for one host's passes, with its health."""

    def __init__(self, health=None):
        self.health = health or GlanceHealth()
        self.image_api = nova_glance.API()
        # For what nova's image API leaves out of image metadata.
        self.client = nova_glance.GlanceClientWrapper()
        self._context = None

    def context(self, context):
        """The Nova service user's context if configured, else ``context``."""
        if self._context is None:
            try:
                self._context = nova_context.get_nova_service_user_context()
            except exception.InvalidConfiguration:
                LOG.debug('[service_user] is not configured: talking to '
                          'Glance with the periodic task\'s admin context')
                self._context = context
        return self._context

    def learn(self, context, catalog, image_ids):
        """Ask Glance for what the catalog lacks; True if anything learned."""
        learned = False
        for image_id in image_ids:
            if catalog.metadata(image_id):
                continue
            if not self.health.available():
                break
            try:
                meta = self.image_api.get(self.context(context), image_id)
            except exception.ImageNotFound:
                meta = {'status': 'not_found'}
                LOG.warning('Image %s is not in Glance: it will not be '
                            'fetched', image_id)
            except Exception as e:
                if is_outage(e):
                    self.health.failed(e)
                    break
                LOG.warning('Cannot learn metadata of image %(image)s from '
                            'Glance: %(error)s',
                            {'image': image_id, 'error': e})
                continue
            self.health.succeeded()
            if meta.get('status') != 'not_found':
                meta = dict(meta, virtual_size=self._virtual_size(
                    context, image_id))
            catalog.learn(image_id, meta)
            learned = True
        return learned

    def _virtual_size(self, context, image_id):
        """Glance's virtual_size of an image, or None.

        nova's image API drops it from the metadata; the budget needs it
        to know what converting the image to raw will take.
        """
        try:
            image = self.client.call(self.context(context), 2, 'get',
                                     args=(image_id,))
        except Exception as e:
            LOG.debug('No virtual size for image %(image)s: %(error)s',
                      {'image': image_id, 'error': e})
            return None
        return image.get('virtual_size')
