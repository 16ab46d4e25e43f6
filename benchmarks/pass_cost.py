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

"""Cost of one image cache pass with nothing to fetch: ours vs nova's.

A host with 200 instances (qcow2 overlays made by qemu-img) over 100 raw
base files. Both managers run ``update()`` on the same tree; the instance
list nova would read from its database is given to both the same way. Our
pass is in its steady state: catalog and resize targets already made by a
first, untimed pass. The rankers that need no other service are on.
"""

import os
import subprocess
import tempfile
import time
from unittest import mock

from nova.virt.libvirt import imagecache

from benchmarks import common
from nova_precache import catalog
from nova_precache import imagecache as precache_imagecache

INSTANCES = 200
IMAGES = 100


def build_tree(root):
    base_dir = os.path.join(root, '_base')
    os.makedirs(base_dir)
    image_ids = ['00000000-0000-4000-8000-%012d' % i for i in range(IMAGES)]
    for image_id in image_ids:
        with open(os.path.join(base_dir,
                               imagecache.get_cache_fname(image_id)),
                  'wb') as f:
            f.truncate(64 * 1024 * 1024)
    used, names = {}, set()
    for n in range(INSTANCES):
        name = '10000000-0000-4000-8000-%012d' % n
        image_id = image_ids[n % IMAGES]
        os.mkdir(os.path.join(root, name))
        subprocess.run(
            ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
             os.path.join(base_dir, imagecache.get_cache_fname(image_id)),
             os.path.join(root, name, 'disk'), '20G'], check=True)
        local, remote, insts = used.get(image_id, (0, 0, []))
        used[image_id] = (local + 1, remote, insts + [name])
        names.add(name)
    return image_ids, {'used_images': used, 'instance_names': names,
                       'used_swap_images': set(),
                       'used_ephemeral_images': set()}


def walk_seconds(root):
    """The physical reference: listdir + stat of the whole tree."""
    started = time.perf_counter()
    for ent in os.listdir(root):
        path = os.path.join(root, ent)
        if os.path.isdir(path):
            for f in os.listdir(path):
                os.stat(os.path.join(path, f))
    return time.perf_counter() - started


def run(repeat=3):
    with tempfile.TemporaryDirectory() as root, \
            common.NovaProcess() as nova:
        nova.flags(instances_path=root)
        nova.flags(group='image_cache', remove_unused_base_images=True)
        image_ids, running = build_tree(root)
        results = {}

        def one_pass(manager):
            with mock.patch.object(manager, '_list_running_instances',
                                   return_value=running):
                manager.update(None, [])
            results[type(manager).__name__] = (
                sorted(manager.active_base_files),
                sorted(manager.removable_base_files))

        stock = imagecache.ImageCacheManager()
        stock_s = common.median_seconds(lambda: one_pass(stock), repeat)

        nova.flags(group='precache', enabled=True, min_free_disk_gb=0,
                   max_images=IMAGES,
                   rankers=['critical', 'operator_owned', 'local_usage'])
        ours = precache_imagecache.PrecacheImageCacheManager()
        known = catalog.Catalog(ours.cache_dir, ours.lock_path)
        for image_id in image_ids:
            known.learn(image_id, {'size': 64 * 1024 * 1024})
        known.save()
        one_pass(ours)  # first pass: builds the 100 resize targets
        ours_s = common.median_seconds(lambda: one_pass(ours), repeat)

        if results['ImageCacheManager'] != results[
                'PrecacheImageCacheManager']:
            raise SystemExit('FAIL: the managers disagree on the tree')
        common.report(
            'Image cache pass, %d instances over %d base files, nothing '
            'to fetch (median of %d)' % (INSTANCES, IMAGES, repeat),
            [('stock nova ImageCacheManager', stock_s, None),
             ('PrecacheImageCacheManager', ours_s,
              'stock nova ImageCacheManager'),
             ('listdir+stat walk (reference)', walk_seconds(root), None)])
        print('  same in-use and removable base files: yes (%d in use)'
              % len(results['ImageCacheManager'][0]))
        return stock_s / ours_s


if __name__ == '__main__':
    run()
