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

"""Demonstration on nova's in-process cloud (``tox -e demo``).

Three computes on ``precache.PrecacheLibvirtDriver`` with ``[precache]
enabled``, nova's scheduler with its own weighers and ``ImageCacheWeigher``,
a real glance-api on 127.0.0.1 serving real qcow2 images made with
qemu-img, and servers booted through nova's API with real spawns (libvirt
is nova's fake: there is no hypervisor here). The installed
``nova-precache`` command edits the critical list and shows each host's
plan; nova's periodic image cache task does the pre-caching, and finds
the image the operator publishes in Glance before anyone boots it. Then
Glance is killed, and a server of the critical image stops, starts and
hard-reboots. Last, what the passes told the message bus: nova's
versioned notifications, as nova's own NotificationFixture receives them.
"""

# Patched as nova-compute is, before nova is imported.
from tests import functional  # noqa: F401  isort:skip

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from nova import objects
from nova.scheduler import weights
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache.scheduler import weigher
from nova_precache import stats
from tests.functional import base
from tests.functional import glance_api
from tests.functional import keystone_stub
from tests import qemu_img

OUT = sys.__stdout__
SCRIPT = shutil.which('nova-precache',
                      path=os.path.dirname(sys.executable)) or 'nova-precache'
HOSTS = ('compute1', 'compute2', 'compute3')


def say(fmt='', *args):
    OUT.write((fmt % args if args else fmt) + '\n')
    OUT.flush()


class Demonstration(base.PrecacheServersTestBase):

    def _setup_scheduler_service(self):
        self.flags(weight_classes=[
            'nova.scheduler.weights.all_weighers',
            'nova_precache.scheduler.ImageCacheWeigher'],
            group='filter_scheduler')
        return super()._setup_scheduler_service()

    def setUp(self):
        super().setUp()
        self.started = time.monotonic()
        self.useFixture(base.RealImageBackend())
        self.glance_api = self.useFixture(
            glance_api.GlanceAPI(anonymous=True))
        self.glance_api.replace_harness_glance(self)
        self.keystone = self.useFixture(keystone_stub.KeystoneStub())
        self.flags(num_retries=0, timeout=10, group='glance')
        self.keystone.configure_nova(self)
        self.tmp = tempfile.mkdtemp(prefix='nova-precache-demo-')
        self.addCleanup(shutil.rmtree, self.tmp)
        self.critical_file = os.path.join(self.tmp, 'critical-images')
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')
        self.precache_options = {
            'enabled': True, 'critical_images_file': self.critical_file,
            'resize_target_sizes': [1], 'min_free_disk_gb': 0,
            'max_images': 2,
            'operator_projects': [self.glance_api.project_id]}
        self.flags(group='precache', **self.precache_options)
        self.flags(notification_format='versioned', group='notifications')
        for host in HOSTS:
            self.start_compute(host)
        self.follow_scheduler()

    # The operator's command, as on each compute node.

    def nova_conf(self, host):
        path = os.path.join(self.tmp, '%s.conf' % host)
        options = {
            'DEFAULT': {'host': host,
                        'instances_path': self.instances_paths[host]},
            'glance': {'endpoint_override': self.glance_api.url,
                       'num_retries': 0},
            'service_user': self.keystone.service_user_options(),
            'image_cache': {
                'remove_unused_original_minimum_age_seconds': 0},
            'precache': {k: ','.join(map(str, v)) if isinstance(v, list)
                         else v for k, v in self.precache_options.items()},
        }
        with open(path, 'w') as f:
            for section, values in options.items():
                f.write('[%s]\n' % section)
                f.writelines('%s = %s\n' % kv for kv in values.items())
        return path

    def precache(self, host, *args):
        say('  $ nova-precache %s', ' '.join(args))
        result = subprocess.run(
            [SCRIPT, '--config-file', self.nova_conf(host)] + list(args),
            capture_output=True, text=True, timeout=120)
        for line in (result.stdout + result.stderr).splitlines():
            say('    %s', line)
        self.assertEqual(0, result.returncode)

    # nova's side.

    def image_cache_pass(self, host):
        since = len(self.stdlog.logger.output)
        self.run_image_cache_pass(host)
        self.update_available_resource(host)
        for line in self.stdlog.logger.output[since:].splitlines():
            if 'Pre-caching pass:' in line:
                say('  %s: %s', host, line.split('Pre-caching pass: ')[1])

    def precache_events(self):
        return [n for n in self.notifier.versioned_notifications
                if n['event_type'].startswith('precache.')]

    def show_events(self, events):
        for n in events:
            data = {k: round(v, 2) if isinstance(v, float) else v
                    for k, v in n['payload']['nova_object.data'].items()}
            say('  %s %s %s %s', n['event_type'], n['priority'],
                n['publisher_id'], json.dumps(data))

    def weigh(self, image_id, root_gb=1):
        """nova's weighing of a boot of ``image_id``, ours alone and all."""
        spec = objects.RequestSpec(
            image=objects.ImageMeta.from_dict({'id': image_id}),
            flavor=objects.Flavor(root_gb=root_gb, memory_mb=512, vcpus=1),
            instance_group=None)
        handler = weights.HostWeightHandler()
        states = list(self.host_states().values())
        ours = {w.obj.host: w.weight for w in handler.get_weighed_objects(
            [weigher.ImageCacheWeigher()], states, spec)}
        return ', '.join('%s %.2f' % (h, ours[h]) for h in sorted(ours))

    def boot_and_show(self, image_id, label):
        why = self.weigh(image_id)
        server = self._create_server(image_uuid=image_id, flavor_id=self.tiny,
                                     networks='none', api=self.admin_api)
        host = server['OS-EXT-SRV-ATTR:host']
        say('  %s server -> %s   (ImageCacheWeigher: %s)', label, host, why)
        self.landed[label].append(host)
        for h in HOSTS:
            self.update_available_resource(h)
        return server

    def publish_and_boot(self, data):
        """The operator publishes an image; it is warm before any boot."""
        monthly = self.glance_api.upload(data, name='monthly-base')['id']
        self.names[monthly] = 'monthly-base'
        say('\n6. The operator publishes monthly-base %s and makes room '
            'for one more image (max_images = 3); an hour later '
            '([precache] discovery_interval = 3600), nova\'s next periodic '
            'image cache task on every compute:', monthly)
        self.precache_options['max_images'] = 3
        self.flags(max_images=3, group='precache')
        # The hour, passed: the next pass refreshes.
        self.flags(discovery_interval=0, group='precache')
        for host in HOSTS:
            self.image_cache_pass(host)
        self.flags(discovery_interval=3600, group='precache')
        self.precache('compute2', 'plan', '-c', 'Name', '-c',
                      'Glance status', '-c', 'Decision', '-c', 'Reasons')
        self.warm_monthly = [h for h in HOSTS if os.path.exists(
            self.base_file(h, monthly))]
        self.assertEqual(list(HOSTS), self.warm_monthly)
        downloads = 'GET /v2/images/%s/file' % monthly
        before = self.glance_api.request_count(downloads)
        self.boot_and_show(monthly, 'monthly-base')
        self.monthly_boot_downloads = (
            self.glance_api.request_count(downloads) - before)
        self.assertEqual(0, self.monthly_boot_downloads)
        say('  monthly-base was in _base on %s before its first boot; the '
            'boot downloaded it %d times', ', '.join(self.warm_monthly),
            self.monthly_boot_downloads)

    def base_file(self, host, image_id):
        return os.path.join(self.base_dir(host),
                            nova_imagecache.get_cache_fname(image_id))

    def test_demonstration(self):
        say('Three computes on precache.PrecacheLibvirtDriver; nova\'s '
            'weighers plus ImageCacheWeigher; glance-api at %s',
            self.glance_api.url)
        say('[precache] max_images = 2, resize_target_sizes = 1 (GiB), '
            'operator_projects = the cloud operator\'s project')
        data = qemu_img.qcow2_image('64M')
        billing = self.glance_api.upload(data, name='billing-os')['id']
        web = self.glance_api.upload(data, name='web-base')['id']
        upload = self.glance_api.upload(data, name='user-upload',
                                        owner='tenant-project')['id']
        self.names = {billing: 'billing-os', web: 'web-base',
                      upload: 'user-upload'}
        say('Glance: billing-os %s and web-base %s (operator\'s), '
            'user-upload %s (a tenant\'s); qcow2, %d bytes each',
            billing, web, upload, len(data))
        self.tiny = next(f['id'] for f in self.api.get_flavors()
                         if f['disk'] == 1)
        self.admin_api.microversion = '2.81'
        self.landed = collections.defaultdict(list)

        say('\n1. The operator marks billing-os critical:')
        self.precache('compute1', 'critical', 'add', billing, '--note',
                      'billing runs on it')

        say('\n2. The operator runs web-base on compute1, a tenant runs '
            'user-upload on compute3; then nova\'s periodic image cache '
            'task runs on every compute:')
        self.boot('compute1', web, flavor_id=self.tiny, api=self.admin_api)
        self.boot('compute3', upload, flavor_id=self.tiny,
                  api=self.admin_api)
        # Twice: the second pass sees what the others published.
        for host in HOSTS + HOSTS:
            self.image_cache_pass(host)

        say('\n3. Each compute\'s plan: critical first, then what its '
            'instances use, then the operator\'s images, then what other '
            'hosts hold (max_images = 2):')
        for host in HOSTS:
            say('  %s', host)
            self.precache(host, 'plan', '-c', 'Rank', '-c', 'Name', '-c',
                          'Decision', '-c', 'Reasons')

        say('\n4. Boots, and where nova\'s scheduler puts them (weights '
            'normalised by nova, x[precache] weight_multiplier):')
        self.warm_before_boots = sum(
            billing in stats.decode(state.stats)
            for state in self.host_states().values())
        servers = [self.boot_and_show(billing, 'billing-os')
                   for _ in range(3)]
        for _ in range(2):
            self.boot_and_show(upload, 'user-upload')

        say('\n5. What each compute publishes to the scheduler:')
        for host, state in sorted(self.host_states().items()):
            published = stats.decode(state.stats)
            say('  %s: %s', host, ', '.join(
                '%s (%s)' % (self.names.get(i, i[:8]), ', '.join(
                    '%dG target' % g for g in sorted(s)) or 'no target')
                for i, s in published.items()) or 'nothing')

        self.publish_and_boot(data)

        release = self.glance_api.upload(data, name='billing-os-2')['id']
        self.names[release] = 'billing-os-2'
        say('\n7. Glance is killed. The billing-os servers:')
        self.glance_api.kill()
        for server in servers:
            host = server['OS-EXT-SRV-ATTR:host']
            with self.as_host(host):
                self._stop_server(server)
                self._start_server(server)
                self._reboot_server(server, hard=True)
            chain = qemu_img.backing_chain(self.instance_disk(host, server))
            missing = [p for p in chain if not os.path.exists(p)]
            self.assertEqual([], missing)
            say('  %s on %s: stopped, started, hard-rebooted: %s; its disk '
                'chain (%d files) is all on the host', server['id'][:8],
                host, self.api.get_server(server['id'])['status'],
                len(chain))
        for host in HOSTS:
            self.image_cache_pass(host)
        self.precache('compute1', 'status', '-c', 'File', '-c', 'Fate',
                      '-c', 'Why')

        say('\n8. What the passes told the message bus, as nova\'s '
            'versioned notifications ([notifications] notification_format '
            '= versioned):')
        say('  %s', ', '.join('%d %s' % (n, e) for e, n in sorted(
            collections.Counter(n['event_type']
                                for n in self.precache_events()).items())))
        say('  With Glance still down, the operator pins billing-os-2, '
            'uploaded just before; compute1\'s next pass sends:')
        self.precache('compute1', 'critical', 'add', release)
        since = len(self.precache_events())
        self.image_cache_pass('compute1')
        sent = self.precache_events()[since:]
        self.assertEqual(['precache.glance.unavailable', 'precache.pass.end'],
                         [n['event_type'] for n in sent])
        self.show_events(sent)

        say('\nReport')
        say('  billing-os: cached on %d of 3 computes before any boot; its '
            '3 servers went to %s and kept working without Glance.',
            self.warm_before_boots, ', '.join(self.landed['billing-os']))
        say('  user-upload: its new servers went to %s, where it was '
            'cached.', ', '.join(self.landed['user-upload']))
        say('  monthly-base: found in Glance and cached on %d of 3 computes '
            'before its first boot, which went to %s without a download.',
            len(self.warm_monthly), ', '.join(self.landed['monthly-base']))
        say('  Demonstration took %.0f s.', time.monotonic() - self.started)


def main():
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(
        Demonstration('test_demonstration'))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
