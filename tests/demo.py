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

Two computes on ``precache.PrecacheLibvirtDriver`` with ``[precache]
enabled``, real qcow2 images built with qemu-img and served by nova's
Glance fixture, servers booted through the API with real spawns, and nova's
image cache periodic task: what the pass fetched and why, the resize target
a spawn cloned, what the computes publish to the scheduler, and what nova's
own aging still removes.
"""

import os
import shutil
import sys
import tempfile
import unittest

from nova import objects
from nova.scheduler import weights
from nova.virt.libvirt import imagecache

from nova_precache import stats
from nova_precache import targets
from tests.functional import base
from tests import qemu_img

OUT = sys.__stdout__


def say(fmt, *args):
    OUT.write((fmt % args if args else fmt) + '\n')
    OUT.flush()


class Demonstration(base.PrecacheServersTestBase):

    def _pass(self, hostname):
        """Run the periodic task; show what the cache managers said."""
        since = len(self.stdlog.logger.output)
        self.run_image_cache_pass(hostname)
        for line in self.stdlog.logger.output[since:].splitlines():
            if ' INFO [' in line and ('imagecache' in line or
                                      'precache' in line):
                say('    %s', line.split(' INFO ', 1)[1].replace(
                    self.instances_paths[hostname], '<%s>' % hostname
                ).replace(self.critical_file, '<critical-images>'))

    def _show_cache(self, hostname, names):
        base_dir = self.base_dir(hostname)
        files = sorted(f for f in os.listdir(base_dir)
                       if os.path.isfile(os.path.join(base_dir, f)))
        say('  %s _base: %s', hostname, ', '.join(
            names.get(f, f[:12]) for f in files) or '(empty)')
        ready = targets.present(base_dir)
        for base_name, sizes in sorted(ready.items()):
            say('  %s resize targets of %s: %s', hostname,
                names.get(base_name, base_name[:12]),
                ', '.join('%dG' % gb for gb in sorted(sizes)))

    def test_demonstration(self):
        self.useFixture(base.RealImageBackend())
        self.critical_file = critical_file = os.path.join(
            tempfile.mkdtemp(), 'critical-images')
        self.addCleanup(shutil.rmtree, os.path.dirname(critical_file))
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')
        self.flags(enabled=True, critical_images_file=critical_file,
                   resize_target_sizes=[1], min_free_disk_gb=0,
                   group='precache')
        for host in ('compute1', 'compute2'):
            self.start_compute(host)
        say('Two computes on precache.PrecacheLibvirtDriver, [precache] '
            'enabled, resize_target_sizes = 1 (GiB)')

        data = qemu_img.qcow2_image('64M')
        critical = self.create_image(data, name='billing-os')['id']
        upload = self.create_image(data, name='user-upload')['id']
        names = {imagecache.get_cache_fname(critical): 'billing-os',
                 imagecache.get_cache_fname(upload): 'user-upload'}
        with open(critical_file, 'w') as f:
            f.write('# image UUID                          why\n'
                    '%s  billing runs on it\n' % critical)
        say('Glance: billing-os %s (in the critical list), user-upload %s; '
            'qcow2, %d bytes each', critical, upload, len(data))

        say('\n1. Image cache pass on compute1, before any server exists:')
        self._pass('compute1')
        self._show_cache('compute1', names)

        tiny = next(f['id'] for f in self.api.get_flavors()
                    if f['disk'] == 1)
        server = self.boot('compute1', critical, flavor_id=tiny)
        disk = self.instance_disk('compute1', server)
        say('\n2. Booted a 1 GiB-root server of billing-os on compute1: %s',
            server['status'])
        say('  its disk is a copy of the ready target, backed by: %s',
            ' -> '.join(names.get(os.path.basename(p), os.path.basename(p))
                        for p in qemu_img.backing_chain(disk)[1:]))
        other = self.boot('compute2', upload, flavor_id=tiny)
        say('  booted a server of user-upload on compute2 (no target: '
            "nova's own path): %s", other['status'])

        say('\n3. What the computes publish to the scheduler '
            '(HostState.stats):')
        for host in ('compute1', 'compute2'):
            self._pass(host)
            self.update_available_resource(host)
        for host, state in sorted(self.host_states().items()):
            published = stats.decode(state.stats)
            say('  %s: %s', host, ', '.join(
                '%s (targets: %s)' % (
                    names[imagecache.get_cache_fname(i)],
                    ', '.join('%dG' % g for g in sorted(s)) or 'none')
                for i, s in published.items()) or 'nothing')

        spec = objects.RequestSpec(
            image=objects.ImageMeta.from_dict({'id': upload}),
            flavor=objects.Flavor(root_gb=1, memory_mb=512, vcpus=1),
            instance_group=None)
        handler = weights.HostWeightHandler()
        weighers = [cls() for cls in handler.get_matching_classes(
            ['nova.scheduler.weights.ram.RAMWeigher',
             'nova_precache.scheduler.ImageCacheWeigher'])]
        ranked = handler.get_weighed_objects(
            weighers, list(self.host_states().values()), spec)
        say('  nova\'s weighing (RAMWeigher + ImageCacheWeigher) of a '
            '1 GiB boot of user-upload: %s', ', '.join(
                '%s %.2f' % (w.obj.host, w.weight) for w in ranked))

        say("\n4. Both servers deleted; nova's aging set to 0 s:")
        self._delete_server(server)
        self._delete_server(other)
        for host in ('compute2', 'compute1'):
            self._pass(host)
            self._show_cache(host, names)
        say('\nbilling-os stays cached on both computes: it is critical. '
            "compute2 aged user-upload out by nova's own rules (no "
            'instance uses it, its plan does not keep it); compute1 '
            'pre-fetched it, since compute2 still published it '
            '(cluster_usage: stats are as fresh as the last resource '
            'tracker run).')


def main():
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(
        Demonstration('test_demonstration'))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
