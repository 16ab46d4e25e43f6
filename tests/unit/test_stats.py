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

import json
import uuid

import testtools

from nova_precache import stats


class StatsTestCase(testtools.TestCase):

    def test_round_trip_as_strings(self):
        images = {str(uuid.uuid4()): [20, 40], str(uuid.uuid4()): []}
        critical = [next(iter(images))]
        encoded = stats.encode(images, critical)
        self.assertEqual({stats.KEY, stats.CRITICAL_KEY}, set(encoded))
        for value in encoded.values():
            self.assertIsInstance(value, str)
        self.assertEqual({k: set(v) for k, v in images.items()},
                         stats.decode(encoded))
        self.assertEqual(set(critical), stats.decode_critical(encoded))

    def test_bounded_keeping_the_first(self):
        ids = [str(uuid.uuid4()) for _ in range(stats.MAX_IMAGES + 10)]
        published = json.loads(
            stats.encode({i: [] for i in ids})[stats.KEY])
        self.assertEqual(ids[:stats.MAX_IMAGES], list(published))
        self.assertLess(len(json.dumps(published)), 45 * stats.MAX_IMAGES)

    def test_malformed_or_missing_is_nothing(self):
        good = str(uuid.uuid4())
        for value in (None, {}, {'uptime': '3'}, {stats.KEY: 'not json'},
                      {stats.KEY: '[1, 2]'}, {stats.KEY: None},
                      {stats.CRITICAL_KEY: '{"a": 1}'},
                      {stats.CRITICAL_KEY: '[1, "x"]'}):
            self.assertEqual({}, stats.decode(value))
            self.assertEqual(set(), stats.decode_critical(value))
        self.assertEqual(
            {good: {20}},
            stats.decode({stats.KEY: json.dumps(
                {good: [20, -1, 'x', 1.5], 'not-an-id': [20],
                 str(uuid.uuid4()): 'not a list'})}))
