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

import errno

from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ksa_exc
from nova import exception
from nova import test
import requests

from nova_precache import fetch
from nova_precache import glance


class IsOutageTestCase(test.NoDBTestCase):

    def test_glance_down_or_sick(self):
        for error in (
                exception.GlanceConnectionFailed(server='g', reason='x'),
                requests.exceptions.ConnectionError('refused'),
                requests.exceptions.ChunkedEncodingError('cut mid-body'),
                ksa_exc.ConnectTimeout('hung'),
                ksa_exc.ConnectFailure('refused'),
                glance_exc.HTTPInternalServerError(),
                glance_exc.HTTPServiceUnavailable(),
                glance_exc.HTTPBadGateway()):
            self.assertTrue(glance.is_outage(error), error)

    def test_about_one_image(self):
        for error in (
                exception.ImageNotFound(image_id='i'),
                exception.ImageUnacceptable(image_id='i', reason='vmdk'),
                glance_exc.HTTPForbidden(),
                IOError(errno.EPIPE, 'Corrupt image download'),
                fetch.ChecksumMismatch(image_id='i', algo='md5', path='p',
                                       actual='a', expected='b'),
                OSError(errno.ENOSPC, 'No space left on device')):
            self.assertFalse(glance.is_outage(error), error)


class GlanceHealthTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.now = 1000.0
        self.health = glance.GlanceHealth(clock=lambda: self.now)
        self.flags(glance_retry_max_interval=300, group='precache')

    def _fail(self):
        self.health.failed(exception.GlanceConnectionFailed(
            server='http://glance', reason='refused'))

    def test_backs_off_doubling_up_to_the_cap_and_logs_once(self):
        self.assertTrue(self.health.available())
        waits = []
        for _ in range(5):
            self._fail()
            wait = 0
            while not self.health.available():
                self.now += 1
                wait += 1
            waits.append(wait)
        self.assertEqual([60, 120, 240, 300, 300], waits)
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Glance is unavailable'))

        self.health.succeeded()
        self.health.succeeded()
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Glance is available again after 5 failed tries'))
        self._fail()
        self.assertEqual(2, self.stdlog.logger.output.count(
            'Glance is unavailable'))
