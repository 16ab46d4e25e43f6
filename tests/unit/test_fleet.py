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

"""The fleet's sample and the seeders, on nova's real DB and objects."""

import collections
import random

from nova import context as nova_context
from nova import test

from nova_precache import fleet
from tests import compute_nodes

IMAGE = '7c0e3b52-2f4e-4d53-a7a4-54cf3f5cf0d1'


class CountingNodes(fleet.NovaNodes):
    """nova's reads, counted: what a pass costs the conductor."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.rows = 0

    def page(self, context, marker, limit):
        got = super().page(context, marker, limit)
        self.calls += 1
        self.rows += len(got)
        return got

    def get(self, context, node_id):
        got = super().get(context, node_id)
        self.calls += 1
        self.rows += got is not None
        return got


class RendezvousTestCase(test.NoDBTestCase):

    def test_seeders_spread_over_hosts(self):
        images = ['%08d-0000-4000-8000-000000000000' % i for i in range(600)]
        seeded = collections.Counter(
            i for image in images for i in fleet.ranked(image, 60)[:3])
        # 600 images x 3 seeders over 60 nodes: 30 each on average.
        self.assertEqual(60, len(seeded))
        self.assertLess(max(seeded.values()), 60)
        self.assertGreater(min(seeded.values()), 10)

    def test_stable_when_hosts_join(self):
        moved = 0
        for n in range(200):
            image = '%08d-1111-4000-8000-000000000000' % n
            before = fleet.ranked(image, 100)[:3]
            after = fleet.ranked(image, 110)[:3]
            # Only a node that joined can displace a seeder.
            self.assertTrue(set(before) - set(after) == set() or
                            set(after) - set(before) <= set(range(101, 111)))
            moved += before != after
        # About 1 - (100/110)^3 of the images, 25%: never all of them.
        self.assertLess(moved, 100)


class FleetTestCase(test.TestCase):

    def setUp(self):
        super().setUp()
        self.ctxt = nova_context.get_admin_context()
        self.flags(glance_seeders=3, group='precache')

    def _nodes(self, count, start=0, images_of=lambda n: ()):
        return [compute_nodes.create(
            self.ctxt, 'compute%d' % n, '10.0.%d.%d' % divmod(n, 256),
            images_of(n)) for n in range(start, start + count)]

    def test_same_seeders_on_every_host(self):
        self._nodes(40)
        views = [fleet.Fleet(rng=random.Random(seed)).view(
            self.ctxt, 'compute%d' % seed) for seed in range(5)]
        for n in range(20):
            image = '%08d-2222-4000-8000-000000000000' % n
            answers = {tuple(node.host for node in v.seeders(image))
                       for v in views}
            self.assertEqual(1, len(answers), answers)
            [answer] = answers
            self.assertEqual(3, len(answer))
            # Exactly the seeders say they are.
            self.assertEqual(set(answer) & {v.host for v in views},
                             {v.host for v in views if v.is_seeder(image)})

    def test_deleted_nodes_are_skipped(self):
        nodes = self._nodes(20)
        view = fleet.Fleet().view(self.ctxt, 'compute0')
        first = view.seeders(IMAGE)
        gone = [n for n in nodes if n.host == first[0].host][0]
        gone.destroy()
        again = fleet.Fleet().view(self.ctxt, 'compute0').seeders(IMAGE)
        self.assertEqual([n.host for n in first[1:]],
                         [n.host for n in again[:2]])
        self.assertNotIn(gone.host, [n.host for n in again])
        self.assertEqual(3, len(again))

    def test_a_pass_reads_a_bounded_sample(self):
        self._nodes(120)
        counted = CountingNodes()
        reads = fleet.Fleet(counted)
        reads.view(self.ctxt, 'compute0')
        # Finding the highest ID: once per process.
        self.assertEqual(120, reads.top)
        counted.calls = counted.rows = 0
        view = reads.view(self.ctxt, 'compute0')
        self.assertLessEqual(len(view.sample), fleet.SAMPLE)
        self.assertGreaterEqual(len(view.sample), fleet.WINDOW)
        # Each window and its wrap, and one page after the highest ID.
        self.assertLessEqual(counted.calls, 2 * fleet.WINDOWS + 1)
        self.assertLessEqual(counted.rows, fleet.SAMPLE)
        view.seeders(IMAGE)
        self.assertLessEqual(counted.rows, fleet.SAMPLE + 3)

    def test_new_nodes_are_followed(self):
        self._nodes(15)
        reads = fleet.Fleet()
        reads.view(self.ctxt, 'compute0')
        self.assertEqual(15, reads.top)
        self._nodes(25, start=15)
        reads.view(self.ctxt, 'compute0')
        self.assertEqual(40, reads.top)

    def test_sample_estimates_the_share_of_holders(self):
        # A quarter of 200 nodes hold the image.
        self._nodes(200, images_of=lambda n: [IMAGE] if n % 4 == 0 else [])
        reads = fleet.Fleet(rng=random.Random(7))
        shares, seen = [], set()
        for _ in range(40):
            view = reads.view(self.ctxt, 'nowhere')
            seen.update(view.sample)
            holding = [n for n in view.others() if IMAGE in n.images]
            shares.append(len(holding) / len(view.others()))
        self.assertAlmostEqual(0.25, sum(shares) / len(shares), delta=0.05)
        # Every node gets sampled sooner or later.
        self.assertGreater(len(seen), 180)

    def test_holders_include_the_seeders_outside_the_sample(self):
        nodes = {n.host: n for n in self._nodes(200)}
        reads = fleet.Fleet(rng=random.Random(3))
        seeder = reads.view(self.ctxt, 'nowhere').seeders(IMAGE)[0]
        nodes[seeder.host].stats = compute_nodes.published([IMAGE])
        nodes[seeder.host].save()
        view = reads.view(self.ctxt, 'nowhere')
        # Whether or not the sample has it, the seeder is read.
        view.sample.pop(seeder.id, None)
        self.assertEqual([seeder.host],
                         [n.host for n in view.holders(IMAGE)])
        self.assertFalse(view.is_seeder(IMAGE))
