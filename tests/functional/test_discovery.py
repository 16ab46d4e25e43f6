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

"""The operator's images found in a real glance-api, and its lifecycle.

Three computes of nova's harness on the product's driver, nova's real
image API and Glance client against glance-api on 127.0.0.1 (the harness's
in-memory Glance is put aside), real qcow2 images and real qemu-img. The
Nova service user needs keystone, which is not here: its context is one
the glance fixture authenticates. Requests are counted where glance-api
receives them.
"""

import os

import fixtures
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import catalog
from nova_precache import discovery
from nova_precache import targets
from tests.functional import base
from tests.functional import glance_api
from tests import qemu_img

HOSTS = ('compute1', 'compute2', 'compute3')
LISTS = 'GET /v2/images?'


class DiscoveryTestCase(base.PrecacheServersTestBase):

    def setUp(self):
        super().setUp()
        self.glance_api = self.useFixture(glance_api.GlanceAPI())
        self.glance_api.replace_harness_glance(self)
        self.glance_api.serve_nova_service_user(self)
        self.operator = self.glance_api.project_id
        self.critical_file = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'critical-images')
        with open(self.critical_file, 'w'):
            pass
        self.age_unused_at_once()
        self.flags(enabled=True, critical_images_file=self.critical_file,
                   operator_projects=[self.operator], min_free_disk_gb=0,
                   resize_target_sizes=[1, 2], group='precache')
        for host in HOSTS:
            self.start_compute(host)
        self.data = qemu_img.qcow2_image()

    def upload(self, name, **kwargs):
        return self.glance_api.upload(self.data, name=name, **kwargs)['id']

    def base_file(self, host, image_id):
        return os.path.join(self.base_dir(host),
                            nova_imagecache.get_cache_fname(image_id))

    def target(self, host, image_id, root_gb=1):
        return targets.path(self.base_dir(host),
                            nova_imagecache.get_cache_fname(image_id),
                            root_gb)

    def manager(self, host):
        return self.computes[host].driver.image_cache_manager

    def plan_ids(self, host):
        return [e.image_id for e in self.manager(host).last_plan.entries]

    def glance_status(self, host, image_id):
        known = catalog.Catalog(self.base_dir(host),
                                self.manager(host).lock_path)
        return discovery.status(known, image_id)

    def counted(self, host, request=LISTS):
        """Glance requests of one pass of ``host``, of one kind."""
        before = self.glance_api.request_count(request)
        self.run_image_cache_pass(host)
        return self.glance_api.request_count(request) - before

    def test_operator_image_in_every_cache_before_any_boot(self):
        new = self.upload('monthly-base')
        tenants = self.upload('tenant-public', owner='tenant-project')
        private = self.upload('ops-private', visibility='private')
        hidden = self.upload('ops-hidden')
        self.glance_api.hide(hidden)
        deactivated = self.upload('ops-deactivated')
        self.glance_api.deactivate(deactivated)

        for host in HOSTS:
            # The listing, one page; nothing to read again yet.
            self.assertEqual(1, self.counted(host))

        for host in HOSTS:
            self.assertEqual('raw', qemu_img.info(
                self.base_file(host, new))['format'])
            for root_gb in (1, 2):
                info = qemu_img.info(self.target(host, new, root_gb))
                self.assertEqual(('qcow2', root_gb << 30, self.base_file(
                    host, new)), (info['format'], info['virtual-size'],
                                  info['backing-filename']))
            for other in (tenants, private, hidden, deactivated):
                self.assertFalse(os.path.exists(self.base_file(host, other)))
            entry = self.manager(host).last_plan.entries[0]
            self.assertEqual(new, entry.image_id)
            self.assertIn('operator_owned: discovered: owned by operator '
                          'project %s, created ' % self.operator,
                          entry.reasons[0])
        # Between two refreshes, no request at all.
        for host in HOSTS:
            self.assertEqual(0, self.counted(host, request=''))

    def test_deactivated_then_deleted_image_leaves_every_plan(self):
        self.flags(discovery_interval=0, group='precache')
        image = self.upload('compromised-build')
        for host in HOSTS[:2]:
            self.run_image_cache_pass(host)
            self.update_available_resource(host)
            self.assertTrue(os.path.exists(self.base_file(host, image)))

        self.glance_api.deactivate(image)
        # compute3 never had it; the others still publish it, which makes
        # cluster_usage name it: Glance's answer keeps it out.
        self.run_image_cache_pass('compute3')
        self.assertFalse(os.path.exists(self.base_file('compute3', image)))
        self.assertNotIn(image, self.plan_ids('compute3'))
        for host in HOSTS[:2]:
            # The listing, and one re-read of the plan's images.
            self.assertEqual(2, self.counted(host))
            self.assertEqual('deactivated', self.glance_status(host, image))
            self.assertNotIn(image, self.plan_ids(host))
            # Left to nova's aging, which removes it, unused.
            self.assertFalse(os.path.exists(self.base_file(host, image)))
            for root_gb in (1, 2):
                self.assertFalse(os.path.exists(
                    self.target(host, image, root_gb)))

        self.glance_api.delete(image)
        # Listing, re-read, and the re-read of those not listed among
        # the hidden ones either.
        self.assertEqual(3, self.counted('compute1'))
        self.assertEqual(discovery.NOT_FOUND,
                         self.glance_status('compute1', image))
        self.assertIn('Image %s is no longer in Glance' % image,
                      self.stdlog.logger.output)
        for host in HOSTS:
            self.run_image_cache_pass(host)
            self.assertNotIn(image, self.plan_ids(host))
            self.assertFalse(os.path.exists(self.base_file(host, image)))

    def test_critical_image_deactivated_is_kept_and_warned_about(self):
        self.flags(discovery_interval=0, group='precache')
        image = self.upload('billing-os')
        with open(self.critical_file, 'w') as f:
            f.write('%s billing\n' % image)
        self.run_image_cache_pass('compute1')
        self.glance_api.deactivate(image)

        for _ in range(2):
            self.run_image_cache_pass('compute1')
            self.assertTrue(os.path.exists(self.base_file('compute1', image)))
        self.assertEqual(2, self.stdlog.logger.output.count(
            'Critical image %s is deactivated in Glance: its cached copy '
            'is kept' % image))
        # A compute without it cannot fetch it, and says so.
        self.run_image_cache_pass('compute2')
        self.assertFalse(os.path.exists(self.base_file('compute2', image)))
        self.assertIn('Critical image %s is deactivated in Glance: it '
                      'cannot be fetched' % image, self.stdlog.logger.output)

    def test_hidden_operator_image_ranks_as_users_images(self):
        self.flags(discovery_interval=0, group='precache')
        image = self.upload('old-base')
        self.run_image_cache_pass('compute1')
        self.assertTrue(os.path.exists(self.base_file('compute1', image)))

        self.glance_api.hide(image)
        # The listing; the re-read, which lists it only among the hidden.
        self.assertEqual(3, self.counted('compute1'))
        self.assertEqual('active', self.glance_status('compute1', image))
        self.assertNotIn(image, self.plan_ids('compute1'))
        self.assertFalse(os.path.exists(self.base_file('compute1', image)))

    def test_glance_down_at_a_refresh_removes_nothing(self):
        self.flags(discovery_interval=0, group='precache')
        image = self.upload('web-base')
        self.run_image_cache_pass('compute1')
        self.glance_api.kill()

        self.run_image_cache_pass('compute1')
        self.run_image_cache_pass('compute1')

        self.assertTrue(os.path.exists(self.base_file('compute1', image)))
        self.assertIn(image, self.plan_ids('compute1'))
        self.assertEqual('active', self.glance_status('compute1', image))
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Glance is unavailable'))
