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

"""A base file from a peer against nova's own download from Glance.

``python -m benchmarks.peer_copy`` (as root: each host's sshd runs in a
mount namespace of its own, ``tests.sshd``). One 1 GiB image, random data
made into qcow2 by qemu-img, served by a real glance-api on 127.0.0.1:

* nova's download: ``images.fetch_to_raw``, what a spawn runs on a host
  without the base file (download, format checks, raw conversion);
* a peer copy of the peer's 1 GiB raw base file with ``copy_from_peers``
  over scp and over rsync ([libvirt] remote_filesystem_transport) to the
  peer's sshd on 127.0.0.N, with every check (digest, format, size) and
  the fsync; "of which checks" times those checks alone on the result;
* nova's ``copy_image`` alone, without and with its compression (scp -C,
  nova's default), to show what the transport costs and what compressing
  a raw disk's random data costs.

Everything shares 2 cores and one disk here, glance-api and sshd too;
compare ratios of one run, not seconds.
"""

import os
import shutil
import statistics
import tempfile
import time

from nova.virt import images
from nova.virt.libvirt import imagecache
from nova.virt.libvirt import utils as libvirt_utils

from benchmarks import common
from benchmarks import startup
from nova_precache import basefile
from nova_precache import digest
from nova_precache import fetch
from nova_precache import peers
from tests.functional import glance_api
from tests import sshd


def _seconds(func):
    os.sync()
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


class Hosts(object):

    def __init__(self, root, nova):
        self.nova = nova
        self.dirs = {name: os.path.join(root, name)
                     for name in ('here', 'peer')}
        for path in self.dirs.values():
            os.makedirs(os.path.join(path, '_base'))

    def fresh(self):
        """Empty _base here; instances_path is here's."""
        base_dir = os.path.join(self.dirs['here'], '_base')
        shutil.rmtree(base_dir)
        os.makedirs(base_dir)
        self.nova.flags(instances_path=self.dirs['here'])
        return base_dir


def run(image_mib=1024, repeat=3):
    why = sshd.missing()
    if why:
        print('\nPeer copy: left out (%s)' % why)
        return
    with tempfile.TemporaryDirectory() as root, \
            common.NovaProcess() as nova, \
            glance_api.GlanceAPI() as glance:
        glance.configure_nova(nova.flags)
        context = glance.nova_context()
        image = os.path.join(root, 'image.qcow2')
        startup.make_qcow2_image(image, image_mib)
        with open(image, 'rb') as f:
            image_id = glance.upload(f.read())['id']
        os.unlink(image)
        meta = {'disk_format': 'qcow2'}
        name = imagecache.get_cache_fname(image_id)
        hosts = Hosts(root, nova)
        with sshd.Hosts(hosts.dirs) as rig:
            # The peer's base file, made as its pass makes it (digest
            # recorded); also the untimed first download of the process.
            nova.flags(instances_path=hosts.dirs['peer'])
            peer_base = os.path.join(hosts.dirs['peer'], '_base', name)
            fetch.fetch(context, image_id, peer_base,
                        os.path.join(hosts.dirs['peer'], 'locks'), meta,
                        verify_on_disk=False)
            peer = peers.Peer('peer', rig['peer'].address)
            recorded = digest.recorded(os.path.dirname(peer_base), name)

            def download():
                base_dir = hosts.fresh()
                images.fetch_to_raw(context, image_id,
                                    os.path.join(base_dir, name))

            def copy(transport):
                def _copy():
                    hosts.fresh()
                    nova.flags(remote_filesystem_transport=transport,
                               group='libvirt')
                    peers.copy_from_peers(context, image_id, [peer], meta)
                return _copy

            def transport_only(compression):
                def _copy():
                    base_dir = hosts.fresh()
                    nova.flags(remote_filesystem_transport='ssh',
                               group='libvirt')
                    libvirt_utils.copy_image(
                        peer_base, os.path.join(base_dir, name),
                        host=peer.address, receive=True,
                        compression=compression)
                return _copy

            cases = [("nova's download from Glance", download),
                     ('peer copy, scp', copy('ssh')),
                     ('peer copy, rsync', copy('rsync'))]
            times = {label: [] for label, _ in cases}
            for n in range(repeat):
                # Turn about: the page cache favours no one.
                order = cases[n % len(cases):] + cases[:n % len(cases)]
                for label, func in order:
                    times[label].append(_seconds(func))
            # The checks alone, on the last copy.
            check = common.median_seconds(lambda: basefile.Expected(
                image_id, meta).check(
                    os.path.join(hosts.dirs['here'], '_base', name),
                    *recorded), repeat)
            plain = _seconds(transport_only(False))
            compressed = _seconds(transport_only(True))
        stock = "nova's download from Glance"
        rows = [(label, statistics.median(times[label]),
                 None if label == stock else stock) for label, _ in cases]
        rows += [('  of which checks', check, None),
                 ('scp alone, no compression', plain, None),
                 ('scp -C alone (compression)', compressed, None)]
        common.report('A %d MiB base file: from a peer against nova\'s '
                      'download (median of %d)' % (image_mib, repeat), rows)


if __name__ == '__main__':
    run()
