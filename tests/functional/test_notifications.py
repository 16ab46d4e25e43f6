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

"""The pass's versioned notifications, as nova's harness receives nova's.

nova's NotificationFixture stands in for the bus (as in nova's own
notification sample tests); each notification is compared with its sample
in doc/notification_samples. The pass fetches real images through nova's
fetch_to_raw with real qemu-img; the hostile image is a real qcow2 whose
backing file is a file of this host. The command line test runs the
installed ``nova-precache`` against a real glance-api, with oslo.messaging's
``log`` driver as its bus.
"""

import json
import os

import fixtures
from nova import exception

from nova_precache import glance
from tests.functional import base
from tests.functional import glance_api
from tests.functional import keystone_stub
from tests.functional import test_cli
from tests import notification_samples as samples
from tests import qemu_img


class PassNotificationsTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.work = self.useFixture(fixtures.TempDir()).path
        self.critical_file = os.path.join(self.work, 'critical-images')
        self.flags(enabled=True, critical_images_file=self.critical_file,
                   min_free_disk_gb=0, group='precache')
        self.start_compute('compute1')
        self.manager = self.computes['compute1'].driver.image_cache_manager
        # Glance's back-off runs on this clock, moved by the tests.
        self.now = 0.0
        self.manager.glance.health = glance.GlanceHealth(
            clock=lambda: self.now)

    def _critical(self, *image_ids):
        with open(self.critical_file, 'w') as f:
            f.write(''.join('%s\n' % i for i in image_ids))

    def _hostile_image(self):
        """A qcow2 whose backing file is a file of this host."""
        secret = os.path.join(self.work, 'secret')
        with open(secret, 'wb') as f:
            f.write(b'root:password\n' * 4096)
        path = os.path.join(self.work, 'hostile.qcow2')
        qemu_img.run('create', '-q', '-f', 'qcow2', '-b', secret, '-F',
                     'raw', path, '1M')
        with open(path, 'rb') as f:
            return self.create_image(f.read(), name='hostile')['id']

    def _one_pass_one_good_one_hostile(self):
        good = self.create_image(qemu_img.qcow2_image('4M', pattern=0x5a),
                                 name='critical')['id']
        hostile = self._hostile_image()
        self._critical(good, hostile)
        self.notifier.reset()
        self.run_image_cache_pass('compute1')
        return good, hostile

    def _precache_events(self):
        return [n for n in self.notifier.versioned_notifications
                if n['event_type'].startswith('precache.')]

    def test_versioned(self):
        self.flags(notification_format='versioned', group='notifications')

        good, hostile = self._one_pass_one_good_one_hostile()

        self.assertTrue(os.path.exists(self.manager.catalog.base_file(good)))
        # The pass is all there is: nothing else of nova's was sent.
        sent = self.notifier.versioned_notifications
        self.assertEqual(['precache.fetch.error', 'precache.pass.end'],
                         [n['event_type'] for n in sent])
        error, end = sent
        sample = samples.load('precache-fetch-error.json')
        sample_id = sample['payload']['nova_object.data']['image_id']
        samples.verify(self, 'precache-fetch-error.json', error,
                       image_id=hostile,
                       reason=sample['payload']['nova_object.data'][
                           'reason'].replace(sample_id, hostile))
        data = end['payload']['nova_object.data']
        self.assertEqual((1, 1), (data['fetched'], data['failed']))
        self.assertGreater(data['fetched_bytes'], 0)
        self.assertGreater(data['seconds'], 0)
        samples.verify(self, 'precache-pass-end.json', end,
                       fetched_bytes=samples.ANY, seconds=samples.ANY)
        # No legacy notification: nova's legacy format is frozen.
        self.assertEqual([], self.notifier.notifications)

    def test_both_sends_the_versioned_ones(self):
        self.flags(notification_format='both', group='notifications')

        self._one_pass_one_good_one_hostile()

        self.assertEqual(['precache.fetch.error', 'precache.pass.end'],
                         [n['event_type'] for n in self._precache_events()])
        self.assertEqual([], self.notifier.notifications)

    def test_unversioned_sends_nothing(self):
        self.flags(notification_format='unversioned', group='notifications')

        self._one_pass_one_good_one_hostile()

        self.assertEqual([], self.notifier.versioned_notifications)
        self.assertEqual([], self.notifier.notifications)
        self.assertIn('1 fetched', self.stdlog.logger.output)
        self.assertIn('1 failed', self.stdlog.logger.output)

    def test_outage_is_one_unavailable_then_one_available(self):
        self.flags(notification_format='versioned', group='notifications')
        image = self.create_image(qemu_img.qcow2_image('4M', pattern=0x5a),
                                  name='critical')['id']
        self._critical(image)
        down = exception.GlanceConnectionFailed(
            server='http://glance:9292', reason='Connection refused')
        self.glance_down = True
        calls = []

        def _unless_down(real):
            def call(*args, **kwargs):
                calls.append(real.__name__)
                if self.glance_down:
                    raise down
                return real(*args, **kwargs)
            return call

        for name in ('show', 'download'):
            self.useFixture(fixtures.MockPatchObject(
                self.glance, name,
                side_effect=_unless_down(getattr(self.glance, name))))
        self.notifier.reset()

        # Three failed tries, and a pass within the back-off.
        for wait in (0, 0, 60, 120):
            self.now += wait
            self.run_image_cache_pass('compute1')
        self.assertEqual(['show'] * 3, calls)
        self.assertEqual(3, self.manager.glance.health.failures)
        unavailable = [n for n in self._precache_events()
                       if n['event_type'].startswith('precache.glance')]
        self.assertEqual(1, len(unavailable), unavailable)
        samples.verify(self, 'precache-glance-unavailable.json',
                       unavailable[0])

        self.glance_down = False
        self.notifier.reset()
        self.now += 240
        self.run_image_cache_pass('compute1')
        self.run_image_cache_pass('compute1')

        available = [n for n in self._precache_events()
                     if n['event_type'].startswith('precache.glance')]
        self.assertEqual(1, len(available), available)
        # Down from the first failure (at 0) to the first success (at 420).
        samples.verify(self, 'precache-glance-available.json', available[0])
        self.assertEqual(0, self.manager.glance.health.failures)


class RunNotificationsTestCase(test_cli.CommandLineTestCase):
    """``nova-precache run`` sends what a pass sends, on nova's bus."""

    def test_run_sends_pass_end(self):
        glance = self.useFixture(glance_api.GlanceAPI(anonymous=True))
        keystone = self.useFixture(keystone_stub.KeystoneStub())
        self.write_conf(glance={'endpoint_override': glance.url},
                        service_user=keystone.service_user_options(),
                        notifications={'notification_format': 'versioned'},
                        DEFAULT={'host': 'compute1'},
                        oslo_messaging_notifications={'driver': 'log'})
        image = glance.upload(os.urandom(3 << 20), disk_format='raw')
        self.precache('critical', 'add', image['id'])

        result = self.precache('-v', 'run')

        # oslo.messaging's log driver: each notification, a JSON line.
        sent = [json.loads(line) for line in result.stderr.splitlines()
                if line.startswith('{')]
        self.assertEqual(['precache.pass.end'],
                         [m['event_type'] for m in sent], result.stderr)
        data = sent[0]['payload']['nova_object.data']
        self.assertGreater(data['seconds'], 0)
        samples.verify(
            self, 'precache-pass-end.json',
            {k: sent[0][k] for k in ('priority', 'event_type',
                                     'publisher_id', 'payload')},
            kept=1, failed=0, fetched_bytes=3 << 20, seconds=samples.ANY)
