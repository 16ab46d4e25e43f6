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

"""A Glance that trickles, and one that stops mid-body, pass after pass.

A proxy in front of the real glance-api makes it sick. Each pass must end
within ``[glance] timeout`` (plus what learning an image's metadata takes,
once), and 100 passes in a row must leave this process with the threads
and open files it had, and the cache with no temporary file.
"""

import gc
import os
import threading
import time

from oslo_utils import units

from nova_precache import carrier
from nova_precache import conf
from nova_precache import glance
from nova_precache import imagecache
from tests.faults import base
from tests import glance_proxy

CONF = conf.CONF
PASSES = 100
TIMEOUT = 1
# Room over [glance] timeout for the rest of a pass.
SLACK = 1.0


def _open_files():
    return len(os.listdir('/proc/self/fd'))


class SickGlanceTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.flags(timeout=TIMEOUT, group='glance')
        self.data = os.urandom(8 * units.Ki)
        self.image = self.glance.upload(self.data, disk_format='raw')['id']
        self.set_critical(self.image)
        self.manager = imagecache.PrecacheImageCacheManager()
        # nova-compute keeps one manager, and its fetch pool, for its life;
        # here each test's pool is stopped, or its idle workers would be
        # counted by the next test in this process.
        self.addCleanup(self._stop_fetch_pool)
        # Glance's back-off runs on this clock: each pass may try again.
        self.now = 0.0
        self.manager.glance.health = glance.GlanceHealth(
            clock=lambda: self.now)

    def _stop_fetch_pool(self):
        if self.manager.carrier._pool is not None:
            self.manager.carrier._pool.shutdown(wait=True, cancel_futures=True)

    def _through_proxy(self, **sickness):
        proxy = self.useFixture(glance_proxy.GlanceProxy(
            self.glance, **sickness))
        self.flags(group='glance', **proxy.nova_flags()['glance'])

    def _pass(self):
        self.now += 3600
        started = time.monotonic()
        self.manager.update(self.context, [])
        return time.monotonic() - started

    def _resources(self):
        """Threads and open files, once the garbage is collected.

        A connection given up on is closed when collected: garbage, not a
        leak. The fetch pool may start its second worker in any pass (when
        a fetch is submitted before the last one's worker is idle again):
        its workers are bounded by ``fetch_concurrency``, not counted; nor
        are the idle workers of other tests' managers in this process.
        """
        gc.collect()
        threads = [t.name for t in threading.enumerate()]
        workers = [n for n in threads
                   if n.startswith(carrier.FETCH_THREADS)]
        pool = self.manager.carrier._pool
        self.assertLessEqual(len(pool._threads) if pool else 0,
                             CONF.precache.fetch_concurrency)
        return len(threads) - len(workers), _open_files()

    def _settle(self):
        """Wait for the download a pass left running to end."""
        deadline = time.monotonic() + 60
        while self.manager.carrier.fetching() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([], self.manager.carrier.fetching())

    def test_stops_sending_mid_body(self):
        self._through_proxy(stall_after=4 * units.Ki, image=self.image)
        self._pass()
        self._settle()
        before = self._resources()

        durations = [self._pass() for _ in range(PASSES - 1)]

        self.assertLess(max(durations), TIMEOUT + SLACK)
        self._settle()
        self.assertEqual(before, self._resources())
        self.assertEqual([], self.cached_files(self.image))
        self.assertEqual([], self.leftovers())
        # A download takes a little longer than [glance] timeout to fail:
        # a pass may end while it runs, and the next one waits for it.
        tries = self.stdlog.logger.output.count(
            'Pre-caching image %s (' % self.image)
        self.assertGreater(tries, PASSES // 3)
        self.assertEqual(tries, self.glance.request_count(
            'GET /v2/images/%s/file' % self.image))

    def test_trickles_1_kib_per_second(self):
        self._through_proxy(rate=units.Ki)
        # The first pass learns the image's metadata, 1 KiB a second.
        self._pass()
        self.assertIn('Image %s is still downloading' % self.image,
                      self.stdlog.logger.output)

        durations = [self._pass() for _ in range(PASSES - 1)]

        self.assertLess(max(durations), TIMEOUT + SLACK)
        # One download, however many passes want the image.
        self.assertEqual(1, self.glance.request_count(
            'GET /v2/images/%s/file' % self.image))
        self._settle()
        before = self._resources()
        self._pass()
        self.assertIn('1 fetched', self.stdlog.logger.output)
        self.assertEqual(base.sha512_of(self.data),
                         base.sha512(self.base_file(self.image)))
        self.assertEqual([], self.leftovers())
        self.assertEqual(before, self._resources())
