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

"""ImageCacheWeigher in nova's scheduler, with nova's own weighers on.

Three computes on precache.PrecacheLibvirtDriver; the image is put on
compute2 by nova's own pre-cache API (POST /os-aggregates/{id}/images),
which the driver publishes. Spawns use the harness's image backend: where
servers land is the point here, not their disks.
"""

import collections

from tests.functional import base
from tests import qemu_img


class ImageCacheWeigherTestCase(base.PrecacheServersTestBase):

    def _setup_scheduler_service(self):
        self.flags(weight_classes=[
            'nova.scheduler.weights.all_weighers',
            'nova_precache.scheduler.ImageCacheWeigher'],
            group='filter_scheduler')
        return super()._setup_scheduler_service()

    def setUp(self):
        super().setUp()
        self.flags(enabled=True, min_free_disk_gb=0, group='precache')
        for host in ('compute1', 'compute2', 'compute3'):
            self.start_compute(host)
        self.image = self.create_image(qemu_img.qcow2_image())['id']
        self.admin_api.microversion = '2.81'
        self.warm = self.admin_api.post_aggregate(
            {'aggregate': {'name': 'warm'}})
        self.admin_api.add_host_to_aggregate(self.warm['id'], 'compute2')
        with self.as_host('compute2'):
            self.admin_api.api_post(
                '/os-aggregates/%s/images' % self.warm['id'],
                {'cache': [{'id': self.image}]},
                check_response_status=[202])
        self._publish()

    def _publish(self):
        for host in self.computes:
            self.update_available_resource(host)

    def _boot(self, **kwargs):
        server = self._create_server(image_uuid=self.image, networks='none',
                                     api=self.admin_api, **kwargs)
        return server['OS-EXT-SRV-ATTR:host']

    def test_boots_land_on_the_warm_host(self):
        for _ in range(3):
            server = self._create_server(image_uuid=self.image,
                                         networks='none', api=self.admin_api)
            self.assertEqual('compute2', server['OS-EXT-SRV-ATTR:host'])
            self._delete_server(server)

    def test_spread_once_the_cap_is_reached(self):
        self.flags(weight_multiplier=100, max_same_image_per_host=2,
                   group='precache')
        hosts = collections.Counter(self._boot() for _ in range(5))
        self.assertEqual(2, hosts['compute2'])
        self.assertEqual(3, sum(hosts.values()) - hosts['compute2'])

    def test_anti_affinity_group_still_spreads(self):
        self.flags(weight_multiplier=100, group='precache')
        group = self.admin_api.post_server_groups(
            {'name': 'spread', 'policy': 'anti-affinity'})
        hosts = set()
        for _ in range(3):
            server = self._build_server(image_uuid=self.image,
                                        networks='none')
            created = self.admin_api.post_server(
                {'server': server,
                 'os:scheduler_hints': {'group': group['id']}})
            hosts.add(self._wait_for_state_change(
                created, 'ACTIVE')['OS-EXT-SRV-ATTR:host'])
        self.assertEqual({'compute1', 'compute2', 'compute3'}, hosts)

    def test_aggregate_multiplier_overrides(self):
        self.assertEqual('compute2', self._boot())
        self.admin_api.post_aggregate_action(self.warm['id'], {
            'set_metadata': {'metadata': {
                'precache_weight_multiplier': '-100'}}})
        for _ in range(3):
            self.assertNotEqual('compute2', self._boot())

    def test_stock_compute_is_harmless(self):
        self.flags(compute_driver='libvirt.LibvirtDriver')
        self.start_compute('stock')
        self._publish()
        self.assertNotIn('precache_images',
                         self.host_states()['stock'].stats)

        self.assertEqual('compute2', self._boot())
        self.assertEqual('stock', self._boot(host='stock'))
