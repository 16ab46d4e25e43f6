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

"""Root disk preparation of a qcow2 spawn: stock cold, stock warm, target.

Each case is the call nova's libvirt driver makes for a root disk
(``Image.cache()`` of the qcow2 backend, with ``libvirt_utils.fetch_image``
as the fetch function), on real files with real qemu-img, for a 1 GiB
image and a 20 GiB root disk:

* stock cold: nova's backend, the image not in ``_base``: downloaded from
  a real glance-api on 127.0.0.1 and converted to raw (only when a glance
  virtualenv is given, see ``tests/functional/glance_api.py``);
* stock warm: nova's backend, the base file already there;
* target: PrecacheLibvirtDriver's backend with the resize target the pass
  builds.
"""

import os
import subprocess
import tempfile

from nova.virt.libvirt import imagebackend as nova_imagebackend
from nova.virt.libvirt import imagecache
from nova.virt.libvirt import utils as libvirt_utils

from benchmarks import common
from nova_precache import imagebackend
from nova_precache import targets

GiB = 2 ** 30
ROOT_GB = 20


def make_qcow2_image(path, size_mib):
    """A qcow2 image whose guest data is ``size_mib`` MiB of random bytes."""
    raw = path + '.raw'
    with open(raw, 'wb') as f:
        for _ in range(size_mib):
            f.write(os.urandom(1024 * 1024))
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw,
                    path], check=True)
    os.unlink(raw)


def run(repeat=5, image_mib=1024, glance=None, cold_repeat=3):
    """Print the cases; return {case: seconds}.

    :param glance: a started tests.functional.glance_api.GlanceAPI, or
        None to leave out the cold case.
    """
    with tempfile.TemporaryDirectory() as root, \
            common.NovaProcess() as nova:
        nova.flags(instances_path=root)
        nova.flags(group='precache', enabled=True)
        base_dir = os.path.join(root, '_base')
        os.makedirs(base_dir)
        rows = []
        counter = iter(range(10 ** 6))

        def prepare(backend_class, image_id, context=None):
            disk = os.path.join(root, 'instance-%d' % next(counter), 'disk')
            os.makedirs(os.path.dirname(disk))
            backend_class(path=disk).cache(
                fetch_func=libvirt_utils.fetch_image, context=context,
                filename=imagecache.get_cache_fname(image_id),
                image_id=image_id, size=ROOT_GB * GiB)
            return disk

        if glance is not None:
            image = os.path.join(root, 'image.qcow2')
            make_qcow2_image(image, image_mib)
            with open(image, 'rb') as f:
                data = f.read()
            # A distinct image per cold run: each is a new base file.
            cold_ids = [glance.upload(data)['id']
                        for _ in range(cold_repeat + 1)]
            glance.configure_nova(nova.flags)
            context = glance.nova_context()
            # The first download of a process is slower: not measured.
            prepare(nova_imagebackend.Qcow2, cold_ids[0], context)
            pending = iter(cold_ids[1:])
            rows.append(('stock cold (glance download)',
                         common.median_seconds(
                             lambda: prepare(nova_imagebackend.Qcow2,
                                             next(pending), context),
                             cold_repeat), None))
            image_id = cold_ids[0]
        else:
            image_id = '00000000-0000-4000-8000-000000000001'
            base = os.path.join(base_dir, imagecache.get_cache_fname(image_id))
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'raw', base,
                            '%dM' % image_mib], check=True)

        base_name = imagecache.get_cache_fname(image_id)
        rows.append(('stock warm (base in _base)', common.median_seconds(
            lambda: prepare(nova_imagebackend.Qcow2, image_id), repeat),
            rows[0][0] if rows else None))
        targets.build(base_dir, base_name, ROOT_GB,
                      os.path.join(root, 'locks'))
        target_s = common.median_seconds(
            lambda: prepare(imagebackend.Qcow2, image_id), repeat)
        rows.append(('precached with target', target_s,
                     'stock warm (base in _base)'))
        common.report('Root disk preparation, qcow2 spawn, %d MiB image, '
                      '%d GiB root disk (median of %d; cold: of %d)'
                      % (image_mib, ROOT_GB, repeat, cold_repeat), rows)
        if glance is not None:
            print('  precached with target: %.0fx faster than stock cold'
                  % (rows[0][1] / target_s))
        return {label: seconds for label, seconds, _ in rows}


if __name__ == '__main__':
    run()
