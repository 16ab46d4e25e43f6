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

import os

import fixtures
from nova import context as nova_context
from nova import exception
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
import oslo_messaging
from oslo_versionedobjects import fixture as ovo_fixture

from nova_precache import glance
from nova_precache import imagecache
from nova_precache import notifications
from tests import notification_samples as samples

# Change a payload's fields and this fails: bump its version, and say what
# changed in its version history, as nova does for its own notifications.
FINGERPRINTS = {
    'PrecacheEventType': '1.0-7dc0173866d13ea957d3ed67e65892c0',
    'PrecacheFetchErrorNotification': '1.0-a73147b93b520ff0061865849d3dfa56',
    'PrecacheFetchErrorPayload': '1.0-775bee069709484ef82ccf3d64312de9',
    'PrecacheGlanceAvailableNotification':
        '1.0-a73147b93b520ff0061865849d3dfa56',
    'PrecacheGlanceAvailablePayload': '1.0-f7fde1a90e6bacd5e44b888835c73655',
    'PrecacheGlanceUnavailableNotification':
        '1.0-a73147b93b520ff0061865849d3dfa56',
    'PrecacheGlanceUnavailablePayload':
        '1.0-7c22b9529e24f579b00ade2b0801c1ac',
    'PrecachePassNotification': '1.0-a73147b93b520ff0061865849d3dfa56',
    'PrecachePassPayload': '1.0-f29b30291a0358a4f1e22d9703a24868',
}

SUMMARY = {'kept': 2, 'fetched': 1, 'failed': 1, 'deferred': 0,
           'bytes': 67108864, 'left_out': 0, 'targets': 0, 'seconds': 0.84}


def _own_classes():
    return {name: classes for name, classes in
            notifications.PrecacheObjectRegistry.obj_classes().items()
            if classes[0].OBJ_PROJECT_NAMESPACE == notifications.NAMESPACE}


class ObjectsTestCase(test.NoDBTestCase):

    def test_versions(self):
        checker = ovo_fixture.ObjectVersionChecker(_own_classes())
        expected, actual = checker.test_hashes(FINGERPRINTS)
        self.assertEqual(expected, actual)

    def test_nova_registry_untouched(self):
        # oslo.versionedobjects' registries share one table of names: ours
        # must not shadow a class of nova's, nor appear in nova.objects.
        for name, classes in _own_classes().items():
            self.assertEqual({notifications.NAMESPACE},
                             {c.OBJ_PROJECT_NAMESPACE for c in classes})
            self.assertFalse(hasattr(objects, name), name)

    def test_every_notification_has_its_sample(self):
        claimed = []
        for name, (cls,) in sorted(_own_classes().items()):
            if not name.endswith('Notification'):
                continue
            [sample] = cls.samples
            claimed.append(sample)
            payload = samples.load(sample)['payload']
            self.assertEqual(notifications.NAMESPACE,
                             payload['nova_object.namespace'])
            payload_cls = cls.fields['payload'].AUTO_TYPE._obj_name
            self.assertEqual(payload_cls, payload['nova_object.name'])
            self.assertEqual(
                _own_classes()[payload_cls][0].VERSION,
                payload['nova_object.version'])
        self.assertEqual(samples.names(), sorted(claimed))


class EmitTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.notifier = self.useFixture(
            nova_fixtures.NotificationFixture(self))
        self.flags(notification_format='versioned', group='notifications')

    def test_samples(self):
        notifications.pass_end('compute1', SUMMARY)
        notifications.fetch_error(
            'compute1', 'a2459075-d96c-40d5-893e-577ff92e721c',
            exception.ImageUnacceptable(
                image_id='a2459075-d96c-40d5-893e-577ff92e721c',
                reason='Image does not pass safety check'))
        notifications.glance_unavailable(
            'compute1', exception.GlanceConnectionFailed(
                server='http://glance:9292', reason='Connection refused'))
        notifications.glance_available('compute1', 420.0)

        sent = self.notifier.versioned_notifications
        for notification, sample in zip(sent, (
                'precache-pass-end.json', 'precache-fetch-error.json',
                'precache-glance-unavailable.json',
                'precache-glance-available.json')):
            samples.verify(self, sample, notification)
        self.assertEqual(4, len(sent))
        self.assertEqual([], self.notifier.notifications)

    def test_unversioned_sends_nothing(self):
        self.flags(notification_format='unversioned', group='notifications')
        notifications.pass_end('compute1', SUMMARY)
        notifications.glance_available('compute1', 1.0)
        self.assertEqual([], self.notifier.versioned_notifications)

    def test_bad_value_is_logged_not_raised(self):
        notifications.pass_end('compute1', dict(SUMMARY, bytes=-1))
        self.assertEqual([], self.notifier.versioned_notifications)
        self.assertIn('Cannot send the precache.pass.end notification',
                      self.stdlog.logger.output)


class BusDownTestCase(test.TestCase):
    """A notifier that raises never fails the pass, and is logged once."""

    def setUp(self):
        super().setUp()
        self.notifier = self.useFixture(
            nova_fixtures.NotificationFixture(self))
        self.flags(notification_format='versioned', group='notifications')
        self.down = True
        real = self.notifier.fake_versioned_notifier.prepare

        def prepare(publisher_id=None):
            if self.down:
                raise oslo_messaging.MessageDeliveryFailure('bus down')
            return real(publisher_id)

        self.useFixture(fixtures.MockPatchObject(
            self.notifier.fake_versioned_notifier, 'prepare',
            side_effect=prepare))
        self.useFixture(fixtures.MockPatchObject(
            notifications, '_failing', False))
        instances = self.useFixture(fixtures.TempDir()).path
        critical = os.path.join(instances, 'critical-images')
        with open(critical, 'w'):
            pass
        self.flags(instances_path=instances)
        self.flags(enabled=True, critical_images_file=critical,
                   min_free_disk_gb=0, group='precache')
        self.ctxt = nova_context.get_admin_context()

    def _warnings(self):
        return self.stdlog.logger.output.count('Cannot send the precache.')

    def test_pass_goes_on_and_logs_once(self):
        manager = imagecache.PrecacheImageCacheManager()
        health = glance.GlanceHealth()

        manager.update(self.ctxt, [])
        manager.update(self.ctxt, [])
        health.failed(exception.GlanceConnectionFailed(server='g',
                                                       reason='down'))
        health.succeeded()

        self.assertEqual(2, self.stdlog.logger.output.count(
            'Pre-caching pass: 0 images kept'))
        self.assertEqual(0, health.failures)
        self.assertTrue(health.available())
        self.assertEqual(1, self._warnings())
        self.assertIn('bus down', self.stdlog.logger.output)

        # Back: sent again; the next failure is news again.
        self.down = False
        manager.update(self.ctxt, [])
        self.assertEqual(['precache.pass.end'], [
            n['event_type'] for n in self.notifier.versioned_notifications])
        self.down = True
        manager.update(self.ctxt, [])
        self.assertEqual(2, self._warnings())
