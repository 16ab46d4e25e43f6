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

"""Test cases running as one compute among peers with a real sshd each.

The process is compute ``here`` (``instances_path`` is its directory);
``peer1`` and ``peer2`` are reached only through their sshd, as nova's
``copy_image`` reaches another compute. ``transport`` is ``[libvirt]
remote_filesystem_transport``.
"""

import os

import fixtures
from nova import test
from nova.virt.libvirt import imagecache

from nova_precache import digest
from nova_precache import peers
from tests import sshd


class PeerHosts(object):
    """Mixed into a nova test case: this process is host ``here``."""

    HOSTS = ('here', 'peer1', 'peer2')
    transport = 'ssh'

    def setUp(self):
        super().setUp()
        root = self.useFixture(fixtures.TempDir()).path
        self.dirs = {}
        for host in self.HOSTS:
            self.dirs[host] = os.path.join(root, host)
            os.makedirs(self.base_dir(host))
        self.hosts = self.useFixture(sshd.Hosts(self.dirs))
        self.flags(instances_path=self.dirs['here'])
        self.flags(remote_filesystem_transport=self.transport,
                   group='libvirt')

    def peer(self, host):
        return peers.Peer(host, self.hosts[host].address)

    def base_dir(self, host):
        return os.path.join(self.dirs[host], '_base')

    def base_file(self, host, image_id):
        return os.path.join(self.base_dir(host),
                            imagecache.get_cache_fname(image_id))

    def plant(self, host, image_id, data):
        """``host`` holds ``data`` as the base file of ``image_id``.

        With its digest, as the host that made it from Glance's download
        records it.
        """
        path = self.base_file(host, image_id)
        with open(path, 'wb') as f:
            f.write(data)
        self.record_digest(host, image_id)
        return path

    def record_digest(self, host, image_id):
        path = self.base_file(host, image_id)
        digest.record(self.base_dir(host), os.path.basename(path),
                      digest.compute(path)[digest.ALGORITHM],
                      os.path.getsize(path))

    def leftovers(self, host='here'):
        """What is in ``host``'s _base besides base files and precache/."""
        return sorted(name for name in os.listdir(self.base_dir(host))
                      if name != 'precache' and not (
                          len(name) == 40 and os.path.isfile(
                              os.path.join(self.base_dir(host), name))))

    def read(self, path):
        with open(path, 'rb') as f:
            return f.read()


class PeerHostsTestCase(PeerHosts, test.NoDBTestCase):
    pass
