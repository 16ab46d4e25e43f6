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

"""The pre-caching pass in nova's periodic task, in nova's harness.

Images are real qcow2 files made by qemu-img and served by nova's Glance
fixture; fetches go through nova's fetch_to_raw with real qemu-img.
"""

import filecmp
import os
import time

import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.virt.libvirt import imagecache as nova_imagecache
from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import stats
from nova_precache import targets
from tests.functional import base
from tests import qemu_img

OPERATOR = 'a7b1f7a6c5d34f2e9d1e0c4b8a2f6e10'


class PrecachePassTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        self.critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical-images')
        with open(self.critical_file, 'w'):
            pass
        self.age_unused_at_once()
        self.flags(enabled=True, critical_images_file=self.critical_file,
                   operator_projects=[OPERATOR], min_free_disk_gb=0,
                   group='precache')
        for host in ('compute1', 'compute2', 'compute3'):
            self.start_compute(host)
        self.image_bytes = qemu_img.qcow2_image()

    def _image(self, name, **meta):
        return self.create_image(self.image_bytes, name=name, **meta)['id']

    def _base_file(self, hostname, image_id):
        return os.path.join(self.base_dir(hostname),
                            nova_imagecache.get_cache_fname(image_id))

    def _glance_calls(self):
        """Count the Glance fixture's calls from now on."""
        show = self.useFixture(fixtures.MockPatchObject(
            self.glance, 'show', wraps=self.glance.show)).mock
        download = self.useFixture(fixtures.MockPatchObject(
            self.glance, 'download', wraps=self.glance.download)).mock
        return lambda: show.call_count + download.call_count

    def test_critical_image_fetched_and_kept_through_aging(self):
        critical = self._image('critical')
        with open(self.critical_file, 'w') as f:
            f.write('# the operator\'s list\n%s billing base OS\n' % critical)
        base_file = self._base_file('compute1', critical)

        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(base_file))
        self.assertEqual('raw', qemu_img.info(base_file)['format'])
        self.assertFalse(os.path.exists(base_file + '.part'))
        self.assertIn('Pre-caching pass: 1 images kept, 1 fetched',
                      self.stdlog.logger.output)

        # Next pass: nova's aging (ages 0) leaves it alone, and nothing
        # needs Glance.
        calls = self._glance_calls()
        self.run_image_cache_pass('compute1')
        self.assertTrue(os.path.exists(base_file))
        self.assertEqual(0, calls())
        self.assertIn('Pre-caching pass: 1 images kept, 0 fetched',
                      self.stdlog.logger.output)

        # Off the list, it is nova's to age out like any unused image.
        with open(self.critical_file, 'w') as f:
            f.write('\n')
        self.run_image_cache_pass('compute1')
        self.assertFalse(os.path.exists(base_file))

    def test_no_plan_no_removal(self):
        critical = self._image('critical')
        with open(self.critical_file, 'w') as f:
            f.write(critical + '\n')
        self.run_image_cache_pass('compute1')
        base_file = self._base_file('compute1', critical)
        self.assertTrue(os.path.exists(base_file))
        self.useFixture(fixtures.MockPatch(
            'nova_precache.budget.free_bytes',
            side_effect=OSError('statvfs failed')))

        self.run_image_cache_pass('compute1')

        # nova found the file unused (ages 0), but without a plan nothing
        # can be called unwanted.
        self.assertTrue(os.path.exists(base_file))
        self.assertIn('Pre-caching could not make its plan: no base file '
                      'is removed in this pass', self.stdlog.logger.output)

    def test_unplanned_image_still_aged_out(self):
        image = self._image('user upload')
        server = self.boot('compute1', image)
        self._delete_server(server)
        base_file = self._base_file('compute1', image)
        self.assertTrue(os.path.exists(base_file))

        self.run_image_cache_pass('compute1')

        self.assertFalse(os.path.exists(base_file))

    def _publish_holders(self, holders):
        """Have other computes hold images, as their passes publish it.

        Their passes keep what their instances use and fetch nothing else
        (max_images=0), so the holders are exactly ``holders``.
        """
        with nova_fixtures.ConfPatcher(max_images=0, group='precache'):
            for host, images in holders.items():
                for image in images:
                    self.boot(host, image)
                self.run_image_cache_pass(host)
                self.update_available_resource(host)

    def test_budget_leaves_out_lowest_ranked(self):
        popular, known, rare = (self._image(n, owner=OPERATOR)
                                for n in ('popular', 'known', 'rare'))
        self._publish_holders({'compute2': [popular, known],
                               'compute3': [popular, rare]})
        # Ranked by cluster usage: popular (2 hosts), then known and rare
        # (1 host each; their tie broken by image ID).
        self.flags(max_images=2, group='precache')

        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self._base_file('compute1', popular)))
        held = [os.path.exists(self._base_file('compute1', i))
                for i in (known, rare)]
        self.assertEqual(1, held.count(True))
        self.assertIn('1 left out by the budget', self.stdlog.logger.output)
        manager = self.computes['compute1'].driver.image_cache_manager
        cut = manager.last_plan.cut
        [(entry, why)] = cut.left_out
        self.assertFalse(os.path.exists(
            self._base_file('compute1', entry.image_id)))
        self.assertEqual('beyond max_images=2', why)

    def test_budget_max_cache_gb_stops_fetches(self):
        first, second = (self._image(n, owner=OPERATOR)
                         for n in ('first', 'second'))
        self._publish_holders({'compute2': [first, second],
                               'compute3': [first]})
        # Room for one image's Glance size and no more.
        self.flags(max_cache_gb=1.5 * len(self.image_bytes) / 2 ** 30,
                   group='precache')

        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self._base_file('compute1', first)))
        self.assertFalse(os.path.exists(self._base_file('compute1', second)))
        manager = self.computes['compute1'].driver.image_cache_manager
        cut = manager.last_plan.cut
        [(entry, why)] = cut.left_out
        self.assertEqual(second, entry.image_id)
        self.assertIn('would exceed max_cache_gb', why)

    def test_stats_reach_scheduler_host_state(self):
        critical = self._image('critical')
        with open(self.critical_file, 'w') as f:
            f.write(critical + '\n')
        used = self._image('used')
        server = self.boot('compute1', used)

        self.run_image_cache_pass('compute1')
        self.update_available_resource('compute1')

        states = self.host_states()
        # The server's root disk size has a resize target now.
        self.assertEqual({critical: set(), used: {server['flavor']['disk']}},
                         stats.decode(states['compute1'].stats))
        # Strings only, as nova requires.
        self.assertIsInstance(states['compute1'].stats[stats.KEY], str)
        self.assertEqual({}, stats.decode(states['compute2'].stats))

    def test_aggregate_cache_api_is_published(self):
        """nova's upstream pre-cache API works unchanged and is published."""
        image = self._image('aggregate')
        base_file = self._base_file('compute1', image)
        self.admin_api.microversion = '2.81'
        aggregate = self.admin_api.post_aggregate(
            {'aggregate': {'name': 'warm'}})
        self.admin_api.add_host_to_aggregate(aggregate['id'], 'compute1')

        with self.as_host('compute1'):
            self.admin_api.api_post(
                '/os-aggregates/%s/images' % aggregate['id'],
                {'cache': [{'id': image}]}, check_response_status=[202])
            self._wait_for_file(base_file)
        self.update_available_resource('compute1')

        published = stats.decode(self.host_states()['compute1'].stats)
        self.assertIn(image, published)

    def test_spawned_image_published_before_the_next_pass(self):
        image = self._image('spawned')
        self.boot('compute1', image)
        self.update_available_resource('compute1')

        states = self.host_states()
        self.assertIn(image, stats.decode(states['compute1'].stats))
        self.assertEqual({}, stats.decode(states['compute2'].stats))

    def _wait_for_file(self, path):
        for _ in range(100):
            if os.path.exists(path):
                return
            time.sleep(0.1)
        self.fail('%s never appeared' % path)


class ResizeTargetTestCase(base.PrecacheServersTestBase):
    """Spawns clone a ready target, or fall back to nova's own path."""

    def setUp(self):
        super().setUp()
        self.useFixture(base.RealImageBackend())
        critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical')
        self.flags(enabled=True, critical_images_file=critical_file,
                   min_free_disk_gb=0, resize_target_sizes=[1],
                   group='precache')
        self.start_compute('compute1')
        self.start_compute('compute2')
        self.image = self.create_image(qemu_img.qcow2_image())['id']
        with open(critical_file, 'w') as f:
            f.write(self.image + '\n')
        self.base_name = nova_imagecache.get_cache_fname(self.image)
        self.create_image_calls = self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.utils.create_image',
            wraps=libvirt_utils.create_image)).mock

    def _flavor(self, disk_gb):
        return next(f['id'] for f in self.api.get_flavors()
                    if f['disk'] == disk_gb)

    def _root_disk_creations(self):
        return [c for c in self.create_image_calls.call_args_list
                if c.args[0].endswith('/disk')]

    def test_spawn_clones_target_identical_to_stock_disk(self):
        self.run_image_cache_pass('compute1')
        target = targets.path(self.base_dir('compute1'), self.base_name, 1)
        self.assertTrue(os.path.exists(target))

        server = self.boot('compute1', self.image,
                           flavor_id=self._flavor(1))

        self.assertEqual([], self._root_disk_creations())
        disk = self.instance_disk('compute1', server)
        base_file = os.path.join(self.base_dir('compute1'), self.base_name)
        self.assertEqual([disk, base_file], qemu_img.backing_chain(disk))
        # A stock spawn of the same image and flavor on compute2, where
        # there is no target, makes the same disk.
        stock = self.boot('compute2', self.image, flavor_id=self._flavor(1))
        self.assertEqual(1, len(self._root_disk_creations()))
        stock_disk = self.instance_disk('compute2', stock)
        mine, theirs = qemu_img.info(disk), qemu_img.info(stock_disk)
        self.assertEqual(
            ('qcow2', 2 ** 30, 'raw', self.base_name),
            (mine['format'], mine['virtual-size'],
             mine['backing-filename-format'],
             os.path.basename(mine['backing-filename'])))
        self.assertEqual(
            (mine['format'], mine['virtual-size'],
             mine['backing-filename-format'], mine['cluster-size']),
            (theirs['format'], theirs['virtual-size'],
             theirs['backing-filename-format'], theirs['cluster-size']))

        # Byte for byte the disk nova's own qemu-img create makes there.
        made_by_nova = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'disk')
        libvirt_utils.create_image(made_by_nova, 'qcow2', 2 ** 30,
                                   backing_file=base_file)
        self.assertTrue(filecmp.cmp(disk, made_by_nova, shallow=False))

    def test_spawn_without_target_of_its_size_falls_back(self):
        self.run_image_cache_pass('compute1')
        flavor = next(f for f in self.api.get_flavors() if f['disk'] > 1)

        server = self.boot('compute1', self.image, flavor_id=flavor['id'])

        [call] = self._root_disk_creations()
        disk = self.instance_disk('compute1', server)
        self.assertEqual(flavor['disk'] * 2 ** 30,
                         qemu_img.info(disk)['virtual-size'])

    def test_target_pruned_with_its_base_file(self):
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.run_image_cache_pass('compute1')
        target = targets.path(self.base_dir('compute1'), self.base_name, 1)
        self.assertTrue(os.path.exists(target))
        self.flags(critical_images_file=None, group='precache')

        self.run_image_cache_pass('compute1')

        self.assertFalse(os.path.exists(
            os.path.join(self.base_dir('compute1'), self.base_name)))
        self.assertFalse(os.path.exists(target))
