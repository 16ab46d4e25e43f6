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

Two computes on ``precache.PrecacheLibvirtDriver``, a real qcow2 image
built with qemu-img and served by nova's Glance fixture, a server booted
through the API with a real spawn, then nova's image cache periodic task:
what the cache manager kept, and what it aged out once the server was gone.
"""

import os
import sys
import unittest

from nova_precache import conf
from tests.functional import base

OUT = sys.__stdout__


def say(fmt, *args):
    OUT.write((fmt % args if args else fmt) + '\n')
    OUT.flush()


class Demonstration(base.PrecacheServersTestBase):

    def _cache_log(self, since):
        """What the image cache managers logged since offset ``since``."""
        lines = self.stdlog.logger.output[since:].splitlines()
        return [line for line in lines
                if 'imagecache' in line and ' INFO ' in line]

    def _show_base(self, hostname):
        path = self.base_dir(hostname)
        names = sorted(os.listdir(path)) if os.path.isdir(path) else []
        say('  %s _base: %s', hostname, ', '.join(names) or '(empty)')

    def _pass(self, hostname):
        since = len(self.stdlog.logger.output)
        self.run_image_cache_pass(hostname)
        for line in self._cache_log(since):
            say('    %s', line.split(' INFO ', 1)[1].replace(
                self.instances_paths[hostname], '<%s>' % hostname))

    def test_demonstration(self):
        self.useFixture(base.RealImageBackend())
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')
        for host in ('compute1', 'compute2'):
            self.start_compute(host)
            say('started %s: %s', host,
                type(self.computes[host].driver.image_cache_manager).__name__)

        image = self.create_image(base.qcow2_image('64M'), name='demo-qcow2')
        say('uploaded image %s (%d bytes, qcow2)', image['id'], image['size'])

        server = self.boot('compute1', image['id'])
        disk = self.instance_disk('compute1', server)
        say('booted server %s on compute1: %s', server['id'],
            server['status'])
        say('  disk backing chain: %s', ' -> '.join(
            os.path.relpath(p, self.instances_paths['compute1'])
            for p in base.backing_chain(disk)))
        self._show_base('compute1')

        say('image cache pass on compute1 (server running):')
        self._pass('compute1')
        self._show_base('compute1')

        self._delete_server(server)
        say('deleted the server; image cache pass on compute1:')
        self._pass('compute1')
        self._show_base('compute1')
        say('done: [precache] enabled = %s, so the manager did exactly what '
            "nova's own manager does.", conf.CONF.precache.enabled)


def main():
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(
        Demonstration('test_demonstration'))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
