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

import fixtures
from nova import test

from nova_precache import catalog
from nova_precache import ranking

CRITICAL = '11111111-1111-4111-8111-111111111111'
OPERATOR = '22222222-2222-4222-8222-222222222222'
BUSY = '33333333-3333-4333-8333-333333333333'
QUIET = '44444444-4444-4444-8444-444444444444'


class RankTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(operator_projects=['ops'], group='precache')
        tmp = self.useFixture(fixtures.TempDir()).path
        self.catalog = catalog.Catalog(tmp, tmp)
        self.catalog.learn(OPERATOR, {'owner': 'ops', 'size': 1})
        self.catalog.learn(BUSY, {'owner': 'user', 'size': 1})
        self.signals = ranking.Signals(
            context=None, host='compute1',
            local_usage={BUSY: 5, QUIET: 1, OPERATOR: 1},
            critical={CRITICAL: 'billing'}, catalog=self.catalog)

    def test_installed_rankers_in_configured_order(self):
        rankers = ranking.load(['critical', 'operator_owned',
                                'local_usage'])
        self.assertEqual(['critical', 'operator_owned', 'local_usage'],
                         [name for name, _ in rankers])
        plan = ranking.rank(rankers, self.signals)

        # Critical first, then the operator's image although fewer local
        # instances use it, then by local usage.
        self.assertEqual([CRITICAL, OPERATOR, BUSY, QUIET],
                         [e.image_id for e in plan])
        self.assertEqual((1, 0, 0), plan[0].score)
        self.assertEqual(['critical: in the critical list (billing)'],
                         plan[0].reasons)
        self.assertEqual(['operator_owned: owned by operator project ops',
                          'local_usage: 1 local instance(s)'],
                         plan[1].reasons)

    def test_discovered_operator_images_newest_first(self):
        older, newer, hidden = (
            '55555555-5555-4555-8555-555555555555',
            '66666666-6666-4666-8666-666666666666',
            '77777777-7777-4777-8777-777777777777')
        for image_id, created, is_hidden in (
                (older, '2026-11-01T00:00:00Z', False),
                (newer, '2026-12-01T00:00:00Z', False),
                (hidden, '2026-12-02T00:00:00Z', True)):
            self.catalog.learn(image_id, {
                'owner': 'ops', 'status': 'active', 'visibility': 'public',
                'os_hidden': is_hidden, 'created_at': created, 'size': 1})
        plan = ranking.rank(ranking.load(['operator_owned', 'local_usage']),
                            self.signals)
        # The operator's other image (not public) after the discovered
        # ones; the hidden one as the users' images: by its use, none.
        self.assertEqual([newer, older, OPERATOR, BUSY, QUIET],
                         [e.image_id for e in plan])
        self.assertEqual(['operator_owned: discovered: owned by operator '
                          'project ops, created 2026-12-01T00:00:00Z'],
                         plan[0].reasons)

    def test_order_follows_the_option(self):
        plan = ranking.rank(ranking.load(['local_usage', 'critical']),
                            self.signals)
        self.assertEqual([BUSY, OPERATOR, QUIET, CRITICAL],
                         [e.image_id for e in plan])

    def test_unknown_ranker_named_with_installed_ones(self):
        e = self.assertRaises(ranking.UnknownRanker, ranking.load,
                              ['critical', 'local-usage'])
        self.assertIn('unknown ranker(s) local-usage', str(e))
        self.assertIn('cluster_usage, critical, local_usage, operator_owned',
                      str(e))

    def test_failing_ranker_has_no_say(self):
        class Broken(ranking.Ranker):
            def score(self, signals):
                raise RuntimeError('boom')

        plan = ranking.rank(
            [('broken', Broken())] + ranking.load(['local_usage']),
            self.signals)
        self.assertEqual([BUSY, OPERATOR, QUIET], [e.image_id for e in plan])
        self.assertIn('Ranker broken failed', self.stdlog.logger.output)
