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

"""Pre-fetch throughput from a real glance-api: our pass vs nova's own.

* one 1 GiB image: a pass whose critical list names it, against nova's
  upstream pre-cache path (``LibvirtDriver.cache_image``, what ``POST
  /os-aggregates/{id}/images`` runs on each compute);
* 8 images of 256 MiB: one pass (``fetch_concurrency`` 2) against nova's
  ``cache_images``, which calls ``cache_image`` for one image after the
  other;
* ``curl`` of the same URLs into files, as the physical reference.

Both sides download and convert to raw with the same nova code; the
difference is what surrounds it. Images are random data (nothing for
compression or sparseness to skip), made into qcow2 by qemu-img. nova
runs on native threads, as nova-compute 34 does (``benchmarks``): under
eventlet the pass's downloads take turns. The busy CPU seconds printed
below the times, and the floor they set (busy seconds / cores), bound
what parallel downloads can gain: glanceclient's sha512 check, nova's
prlimit-wrapped ``qemu-img info`` calls and the raw conversion all spend
CPU, and Glance shares the same cores.
"""

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from unittest import mock

from nova.tests import fixtures as nova_fixtures
from nova.virt import driver
from nova.virt import fake

from benchmarks import common
from benchmarks import startup
from nova_precache import imagecache
from tests.functional import glance_api


def _busy_cpu_seconds():
    """CPU time all processes spent busy (user, system, irq) so far."""
    with open('/proc/stat') as f:
        ticks = [int(t) for t in f.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / os.sysconf('SC_CLK_TCK')


def _seconds(func):
    """Wall and busy CPU seconds (every process: Glance's too) of func()."""
    # Start each run with no dirty pages of the last one to write back.
    os.sync()
    cpu = _busy_cpu_seconds()
    started = time.perf_counter()
    func()
    return time.perf_counter() - started, _busy_cpu_seconds() - cpu


class Contenders(object):
    """nova's driver and our manager, each with an instances_path."""

    def __init__(self, root, nova, glance):
        self.root = root
        self.nova = nova
        self.context = glance.nova_context()
        self.glance = glance
        self.runs = 0
        self.critical = os.path.join(root, 'critical-images')
        nova.flags(group='precache', enabled=True, rankers=['critical'],
                   critical_images_file=self.critical, max_images=100,
                   max_cache_gb=1000, min_free_disk_gb=1)
        with nova_fixtures.LibvirtFixture():
            self.driver = driver.load_compute_driver(
                fake.FakeVirtAPI(), 'libvirt.LibvirtDriver')

    def fresh_cache(self):
        """Point instances_path at a new, empty cache; the last run's go.

        Called before the clock starts: removing the gigabyte curl left
        in the page cache made whoever ran next 0.7 s slower, where
        removing nova's raw file (written with O_DIRECT) cost nothing.
        """
        if self.runs:
            shutil.rmtree(os.path.join(self.root, 'run-%d' % self.runs))
        self.runs += 1
        path = os.path.join(self.root, 'run-%d' % self.runs)
        os.makedirs(path)
        self.nova.flags(instances_path=path)
        self.path = path

    def nova_cache_images(self, image_ids):
        for image_id in image_ids:
            self.driver.cache_image(self.context, image_id)

    def precache_pass(self, image_ids):
        with open(self.critical, 'w') as f:
            f.write(''.join(i + '\n' for i in image_ids))
        manager = imagecache.PrecacheImageCacheManager()
        # The Nova service user of a real deployment.
        with mock.patch('nova.context.get_nova_service_user_context',
                        return_value=self.context), \
                mock.patch.object(manager, '_list_running_instances',
                                  return_value={
                                      'used_images': {},
                                      'instance_names': set(),
                                      'used_swap_images': set(),
                                      'used_ephemeral_images': set()}):
            manager.update(self.context, [])
        plan = manager.last_plan
        if plan is None or len(plan.cut.fetch) != len(image_ids):
            raise SystemExit('FAIL: the pass did not fetch every image')

    def curl(self, image_ids):
        path = self.path
        headers = []
        for name, value in self.glance.identity_headers().items():
            headers += ['-H', '%s: %s' % (name, value)]
        for image_id in image_ids:
            subprocess.run(
                ['curl', '-sSf', '-o', os.path.join(path, image_id)] +
                headers + ['%s/v2/images/%s/file' % (self.glance.url,
                                                     image_id)],
                check=True)


def run(count=8, small_mib=256, large_mib=1024, repeat=4):
    with tempfile.TemporaryDirectory() as root, \
            common.NovaProcess() as nova, \
            glance_api.GlanceAPI() as glance:
        glance.configure_nova(nova.flags)
        image = os.path.join(root, 'image.qcow2')
        startup.make_qcow2_image(image, large_mib)
        with open(image, 'rb') as f:
            large = glance.upload(f.read())['id']
        startup.make_qcow2_image(image, small_mib)
        with open(image, 'rb') as f:
            data = f.read()
        small = [glance.upload(data)['id'] for _ in range(count)]
        os.unlink(image)
        contenders = Contenders(root, nova, glance)
        contenders.fresh_cache()
        contenders.nova_cache_images([large])  # warm-up, not measured

        rows = []
        busy = []
        for label, ids in (('1 x %d MiB' % large_mib, [large]),
                           ('%d x %d MiB' % (count, small_mib), small)):
            times = {'nova': [], 'ours': [], 'curl': []}
            cpu = {'nova': [], 'ours': [], 'curl': []}
            for n in range(repeat):
                # Alternate who goes first (repeat is even): the page
                # cache favours neither.
                pair = [('nova', contenders.nova_cache_images),
                        ('ours', contenders.precache_pass)]
                if n % 2 == 0:
                    pair.reverse()
                for name, func in pair + [('curl', contenders.curl)]:
                    contenders.fresh_cache()
                    wall, cpu_s = _seconds(lambda: func(ids))
                    times[name].append(wall)
                    cpu[name].append(cpu_s)
            nova_s, ours_s, curl_s = (statistics.median(times[k])
                                      for k in ('nova', 'ours', 'curl'))
            # No schedule of this work on these cores can take less than
            # its busy CPU seconds spread over all of them.
            busy.append('%s: busy CPU s (all processes) and CPU-bound floor '
                        '(busy / %d cores): %s' % (
                            label, os.cpu_count(), ', '.join(
                                '%s %.1f (floor %.2f s)' % (
                                    k, statistics.median(v),
                                    statistics.median(v) / os.cpu_count())
                                for k, v in cpu.items())))
            rows += [("%s: nova's cache_image(s)" % label, nova_s, None),
                     ('%s: pre-caching pass' % label, ours_s,
                      "%s: nova's cache_image(s)" % label),
                     ('%s: curl (reference)' % label, curl_s, None)]
        common.report('Pre-fetch from a real glance-api on 127.0.0.1 '
                      '(download and raw conversion, median of %d)'
                      % repeat, rows)
        print('\n'.join('  ' + line for line in busy))


if __name__ == '__main__':
    run()
