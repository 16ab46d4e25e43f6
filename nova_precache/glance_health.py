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

"""Whether Glance answers, and when the pass may ask it again.

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

from nova import exception

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
