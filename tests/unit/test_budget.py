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

from nova import test
from oslo_utils import units

from nova_precache import budget
from nova_precache import ranking

GB = units.Gi


def _plan(*ids):
    return [ranking.PlanEntry(i, (len(ids) - n,), []) for n, i in
            enumerate(ids)]


class CutTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(max_images=3, max_cache_gb=10, min_free_disk_gb=5,
                   group='precache')

    def _cut(self, plan, must_keep=(), present=(), sizes=None,
             cache_bytes=0, free_bytes=100 * GB):
        return budget.cut(plan, set(must_keep), set(present), sizes or {},
                          cache_bytes, free_bytes)

    def _ids(self, entries):
        return [e.image_id for e in entries]

    def test_max_images_counts_present_and_fetched(self):
        cut = self._cut(_plan('a', 'b', 'c', 'd'), present={'a'},
                        sizes={'b': GB, 'c': GB, 'd': GB})
        self.assertEqual(['a', 'b', 'c'], self._ids(cut.keep))
        self.assertEqual(['b', 'c'], self._ids(cut.fetch))
        self.assertEqual([('d', 'beyond max_images=3')],
                         [(e.image_id, why) for e, why in cut.left_out])
        self.assertFalse(cut.over_budget)

    def test_cache_size_includes_what_is_there(self):
        cut = self._cut(_plan('a', 'b', 'c'),
                        sizes={'a': 3 * GB, 'b': 2 * GB, 'c': GB},
                        cache_bytes=6 * GB)
        # 6 + 3 fits; 9 + 2 does not; 9 + 1 does.
        self.assertEqual(['a', 'c'], self._ids(cut.fetch))
        [(entry, why)] = cut.left_out
        self.assertEqual('b', entry.image_id)
        self.assertIn('would exceed max_cache_gb=10', why)

    def test_free_disk_floor_binds_even_must_keep(self):
        cut = self._cut(_plan('crit', 'b'), must_keep={'crit'},
                        sizes={'crit': 4 * GB, 'b': GB},
                        free_bytes=8 * GB)
        # 8 - 4 < 5: even a critical image may not fill the disk; the
        # smaller one after it still fits.
        self.assertEqual(['b'], self._ids(cut.keep))
        [(entry, why)] = cut.left_out
        self.assertEqual('crit', entry.image_id)
        self.assertIn('min_free_disk_gb=5', why)

    def test_must_keep_wins_over_budget(self):
        self.flags(max_images=1, group='precache')
        cut = self._cut(_plan('c1', 'c2', 'used', 'other'),
                        must_keep={'c1', 'c2', 'used'}, present={'used'},
                        sizes={'c1': 6 * GB, 'c2': 6 * GB, 'other': 1})
        self.assertEqual(['c1', 'c2', 'used'], self._ids(cut.keep))
        self.assertEqual(['c1', 'c2'], self._ids(cut.fetch))
        self.assertEqual(['other'], [e.image_id for e, _ in cut.left_out])
        self.assertTrue(cut.over_budget)

    def test_unknown_size_is_not_fetched(self):
        cut = self._cut(_plan('a'))
        self.assertEqual([], cut.keep)
        self.assertEqual(budget.NO_METADATA, cut.left_out[0][1])

    def test_room_for_must_keep_ranked_lower(self):
        # An operator's image ranked above one a local instance uses: the
        # budget keeps room for the one in use, and leaves the other out.
        self.flags(max_images=2, group='precache')
        cut = self._cut(_plan('crit', 'operator', 'used'),
                        must_keep={'crit', 'used'}, present={'used'},
                        sizes={'crit': GB, 'operator': GB})
        self.assertEqual(['crit', 'used'], self._ids(cut.keep))
        self.assertEqual(['operator'], [e.image_id for e, _ in cut.left_out])
        self.assertFalse(cut.over_budget)

    def test_bytes_for_must_keep_ranked_lower(self):
        cut = self._cut(_plan('a', 'crit'), must_keep={'crit'},
                        sizes={'a': 3 * GB, 'crit': 8 * GB})
        self.assertEqual(['crit'], self._ids(cut.fetch))
        [(entry, why)] = cut.left_out
        self.assertEqual('a', entry.image_id)
        self.assertIn('max_cache_gb=10', why)
