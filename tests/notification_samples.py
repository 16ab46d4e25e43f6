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

"""The notification samples in doc/notification_samples, as nova checks its.

A test compares what was emitted with the sample as a whole (envelope and
payload), after replacing the payload values that differ from run to run;
``ANY`` drops a value from both sides. This is what nova's
``NotificationSampleTestBase._verify_notification`` does.
"""

import json
import os

DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'doc', 'notification_samples')

ANY = object()


def load(name):
    with open(os.path.join(DIR, name)) as f:
        return json.load(f)


def names():
    return sorted(n for n in os.listdir(DIR) if n.endswith('.json'))


def verify(test, name, notification, **replacements):
    """Assert that ``notification`` is sample ``name``, but for these."""
    sample = load(name)
    notification = json.loads(json.dumps(notification))
    data = sample['payload']['nova_object.data']
    actual = notification['payload']['nova_object.data']
    for key, value in replacements.items():
        if value is ANY:
            data.pop(key, None)
            actual.pop(key, None)
        else:
            data[key] = value
    test.assertEqual(sample, notification)
