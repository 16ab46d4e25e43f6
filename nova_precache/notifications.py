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

"""The cache's health on the message bus, as nova's versioned notifications.

Operators watch a cloud through nova's notifications (Ceilometer, alerts on
``.error`` events); a pass's outcome, its failed fetches and Glance
outages would otherwise be log lines on each compute. These go through
nova's own versioned notifier (``nova.rpc``), with nova's envelope and
publisher (``nova-compute:<host>``), and exactly when nova sends its own:
``[notifications] notification_format`` ``versioned`` or ``both``. Nova's
legacy format is frozen: there are no legacy precache events.

Payloads are oslo.versionedobjects primitives like nova's. Nova's event
type enum and object registry are nova's, so the event type, the payloads
and the registry are this project's own, in the ``nova_precache``
namespace. Sending never fails the caller: what goes wrong is logged once,
until a send works again.
"""

import threading

from oslo_log import log as logging
from oslo_versionedobjects import base as ovo_base

from nova import context as nova_context
from nova.notifications.objects import base
from nova.objects import fields
from nova import rpc

from nova_precache import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

NAMESPACE = 'nova_precache'


class PrecacheObjectRegistry(ovo_base.VersionedObjectRegistry):
    """nova-precache's versioned objects (nova's registry is nova's)."""


class PrecacheAction(fields.BaseNovaEnum):
    PASS = 'pass'
    FETCH = 'fetch'
    GLANCE = 'glance'

    ALL = (PASS, FETCH, GLANCE)


class PrecachePhase(fields.BaseNovaEnum):
    END = 'end'
    ERROR = 'error'
    UNAVAILABLE = 'unavailable'
    AVAILABLE = 'available'

    ALL = (END, ERROR, UNAVAILABLE, AVAILABLE)


class PrecacheActionField(fields.BaseEnumField):
    AUTO_TYPE = PrecacheAction()


class PrecachePhaseField(fields.BaseEnumField):
    AUTO_TYPE = PrecachePhase()


@PrecacheObjectRegistry.register
class PrecacheEventType(base.NotificationObject):
    """``precache.<action>.<phase>``, nova's event type with our actions."""

    OBJ_PROJECT_NAMESPACE = NAMESPACE
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'object': fields.StringField(nullable=False),
        'action': PrecacheActionField(nullable=False),
        'phase': PrecachePhaseField(nullable=False),
    }

    def to_notification_event_type_field(self):
        return '%s.%s.%s' % (self.object, self.action, self.phase)


class _Payload(base.NotificationPayloadBase):
    OBJ_PROJECT_NAMESPACE = NAMESPACE

    def __init__(self, **values):
        super().__init__()
        for name, value in values.items():
            setattr(self, name, value)


@PrecacheObjectRegistry.register
class PrecachePassPayload(_Payload):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'host': fields.StringField(nullable=False),
        'kept': fields.NonNegativeIntegerField(),
        'fetched': fields.NonNegativeIntegerField(),
        'fetched_bytes': fields.NonNegativeIntegerField(),
        'failed': fields.NonNegativeIntegerField(),
        'waiting': fields.NonNegativeIntegerField(),
        'left_out': fields.NonNegativeIntegerField(),
        'targets_built': fields.NonNegativeIntegerField(),
        'seconds': fields.NonNegativeFloatField(),
    }


@PrecacheObjectRegistry.register
class PrecacheFetchErrorPayload(_Payload):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'host': fields.StringField(nullable=False),
        'image_id': fields.UUIDField(nullable=False),
        'reason': fields.StringField(nullable=False),
    }


@PrecacheObjectRegistry.register
class PrecacheGlanceUnavailablePayload(_Payload):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'host': fields.StringField(nullable=False),
        'reason': fields.StringField(nullable=False),
    }


@PrecacheObjectRegistry.register
class PrecacheGlanceAvailablePayload(_Payload):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'host': fields.StringField(nullable=False),
        'down_seconds': fields.NonNegativeFloatField(),
    }


class _Notification(base.NotificationBase):
    OBJ_PROJECT_NAMESPACE = NAMESPACE

    fields = {
        'event_type': fields.ObjectField('PrecacheEventType'),
    }


@base.notification_sample('precache-pass-end.json')
@PrecacheObjectRegistry.register
class PrecachePassNotification(_Notification):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'payload': fields.ObjectField('PrecachePassPayload'),
    }


@base.notification_sample('precache-fetch-error.json')
@PrecacheObjectRegistry.register
class PrecacheFetchErrorNotification(_Notification):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'payload': fields.ObjectField('PrecacheFetchErrorPayload'),
    }


@base.notification_sample('precache-glance-unavailable.json')
@PrecacheObjectRegistry.register
class PrecacheGlanceUnavailableNotification(_Notification):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'payload': fields.ObjectField('PrecacheGlanceUnavailablePayload'),
    }


@base.notification_sample('precache-glance-available.json')
@PrecacheObjectRegistry.register
class PrecacheGlanceAvailableNotification(_Notification):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'payload': fields.ObjectField('PrecacheGlanceAvailablePayload'),
    }


# The emitting functions: one call each where the event happens.

def pass_end(host, summary):
    """A pass ended; ``summary`` is the counts the pass logs."""
    _emit(PrecachePassNotification, PrecachePassPayload,
          PrecacheAction.PASS, PrecachePhase.END,
          fields.NotificationPriority.INFO, host,
          kept=summary['kept'], fetched=summary['fetched'],
          fetched_bytes=summary['bytes'], failed=summary['failed'],
          waiting=summary['deferred'], left_out=summary['left_out'],
          targets_built=summary['targets'], seconds=summary['seconds'])


def fetch_error(host, image_id, reason):
    """A fetch of one image failed (not an outage: Glance answered)."""
    _emit(PrecacheFetchErrorNotification, PrecacheFetchErrorPayload,
          PrecacheAction.FETCH, PrecachePhase.ERROR,
          fields.NotificationPriority.ERROR, host,
          image_id=image_id, reason=str(reason))


def glance_unavailable(host, reason):
    """The first failed Glance call of an outage."""
    _emit(PrecacheGlanceUnavailableNotification,
          PrecacheGlanceUnavailablePayload,
          PrecacheAction.GLANCE, PrecachePhase.UNAVAILABLE,
          fields.NotificationPriority.ERROR, host, reason=str(reason))


def glance_available(host, down_seconds):
    """The first Glance call that worked after an outage."""
    _emit(PrecacheGlanceAvailableNotification,
          PrecacheGlanceAvailablePayload,
          PrecacheAction.GLANCE, PrecachePhase.AVAILABLE,
          fields.NotificationPriority.INFO, host,
          down_seconds=max(0.0, down_seconds))


_lock = threading.Lock()
_failing = False


def _emit(notification_cls, payload_cls, action, phase, priority, host,
          **values):
    global _failing
    if CONF.notifications.notification_format == 'unversioned':
        # As nova: its default sends no versioned notification.
        return
    try:
        _init_rpc()
        notification_cls(
            priority=priority,
            publisher=base.NotificationPublisher(
                host=host, source=fields.NotificationSource.COMPUTE),
            event_type=PrecacheEventType(object='precache', action=action,
                                         phase=phase),
            payload=payload_cls(host=host, **values),
        ).emit(nova_context.get_admin_context())
    except Exception as e:
        with _lock:
            first, _failing = not _failing, True
        if first:
            LOG.warning('Cannot send the precache.%(action)s.%(phase)s '
                        'notification: %(error)s. Pre-caching goes on; '
                        'further failures to send are logged at DEBUG '
                        'until one is sent.',
                        {'action': action, 'phase': phase, 'error': e})
        else:
            LOG.debug('Cannot send the precache.%(action)s.%(phase)s '
                      'notification: %(error)s',
                      {'action': action, 'phase': phase, 'error': e})
        return
    with _lock:
        _failing = False


def _init_rpc():
    """Set up nova's notifier where nova-compute has not (the command)."""
    with _lock:
        if rpc.NOTIFIER is None:
            rpc.set_defaults(control_exchange='nova')
            rpc.init(CONF)
