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

"""nova-compute killed (SIGKILL) anywhere in a pass loses nothing.

Each trial starts from an empty cache, kills a pass at a random moment of
its run, checks that no base file, resize target or catalog is partial,
then runs the next pass, which must complete, remove what the killed one
left and hold every image intact: each base file the raw image Glance's
image converts to (its SHA-512), each target a clean qcow2 (``qemu-img
check``) on it, the catalog valid JSON with every image's metadata.
"""

import collections
import hashlib
import json
import os
import random
import re
import shutil
import time

from oslo_utils import units

from tests.faults import base
from tests import glance_proxy
from tests import qemu_img

TRIALS = 50
TARGET_SIZES = (1,)
# oslo.concurrency's debug lines: Lock "<name>" acquired by "<function>"
_LOCK = re.compile(r'Lock "([^"]+)" (acquired|"released") by "[\w.<>]*\.'
                   r'(\w+)"')


class KilledPassTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.runner = self.useFixture(base.PassRunner())
        # {image ID: SHA-512 of the raw base file it must become}
        self.images = {}
        for disk_format in ('qcow2', 'qcow2', 'raw'):
            raw = os.urandom(8 * units.Mi)
            data = qemu_img.qcow2_of(raw) if disk_format == 'qcow2' else raw
            image = self.glance.upload(data, disk_format=disk_format)
            self.images[image['id']] = hashlib.sha512(raw).hexdigest()
        self.set_critical(*self.images)
        self.conf = self.write_nova_conf(
            os.path.join(self.instances, 'nova.conf'),
            resize_target_sizes=','.join(map(str, TARGET_SIZES)))
        self.logs = os.path.join(self.instances, 'logs')
        os.mkdir(self.logs)

    def _pass(self, name, kill_after=None):
        log = os.path.join(self.logs, name)
        [status] = self.runner.run(self.conf, [log],
                                   self.glance.identity_headers(),
                                   kill_after=kill_after)
        return status, log

    def _phase(self, log):
        """What the killed pass was doing: the locks it held, its files."""
        held = set()
        if not os.path.exists(log):
            return 'start-up'
        with open(log) as f:
            for line in f:
                match = _LOCK.search(line)
                if match:
                    (held.add if match.group(2) == 'acquired'
                     else held.discard)(match.group(3))
        names = [os.path.basename(p) for p in self.leftovers()]
        if '_save' in held:
            return 'catalog write'
        if '_locked_build' in held:
            return 'target build'
        if '_locked_fetch' in held:
            if any(n.endswith('.converted') for n in names):
                return 'conversion'
            return 'download'
        return 'between those'

    def _assert_nothing_partial(self):
        """Whatever has its final name is whole."""
        for image_id, digest in self.images.items():
            if os.path.exists(self.base_file(image_id)):
                self.assertEqual(digest, base.sha512(
                    self.base_file(image_id)))
            for root_gb in TARGET_SIZES:
                target = self.target(image_id, root_gb)
                if os.path.exists(target):
                    qemu_img.check(target)
                    self.assertEqual(root_gb * units.Gi,
                                     qemu_img.info(target)['virtual-size'])
        path = self.catalog().path
        if os.path.exists(path):
            with open(path) as f:
                self.assertIsInstance(json.load(f)['images'], dict)

    def _assert_complete(self):
        self._assert_nothing_partial()
        self.assertEqual([], self.leftovers())
        known = self.catalog()
        for image_id in self.images:
            self.assertTrue(os.path.exists(self.base_file(image_id)))
            self.assertEqual('active', known.metadata(image_id)['status'])
            for root_gb in TARGET_SIZES:
                self.assertEqual(
                    [self.target(image_id, root_gb),
                     self.base_file(image_id)],
                    qemu_img.backing_chain(self.target(image_id, root_gb)))

    def test_killed_anywhere(self):
        # How long a whole pass takes here: the kills spread over it.
        started = time.monotonic()
        self.assertEqual('ok', self._pass('calibration.log')[0])
        duration = time.monotonic() - started
        self._assert_complete()

        phases = collections.Counter()
        failures = []
        for trial in range(TRIALS):
            shutil.rmtree(self.base_dir)
            delay = random.uniform(0, duration)
            status, log = self._pass('trial-%d-killed.log' % trial, delay)
            phase = self._phase(log) if status == 'killed' else 'not killed'
            phases[phase] += 1
            try:
                self._assert_nothing_partial()
                status, log = self._pass('trial-%d-next.log' % trial)
                self.assertEqual('ok', status)
                self._assert_complete()
            except Exception as e:
                failures.append('trial %d, killed after %.3f s (%s): %r'
                                % (trial, delay, phase, e))
        print('%d passes killed at random in %.2f s passes: %s; %d failed'
              % (TRIALS, duration, dict(phases), len(failures)))
        self.assertEqual([], failures)

    def test_killed_then_image_leaves_the_plan(self):
        # 1 MiB/s: a download that is surely under way when the kill comes.
        proxy = self.useFixture(glance_proxy.GlanceProxy(
            self.glance, rate=units.Mi))
        self.conf = self.write_nova_conf(self.conf, glance_url=proxy.url)
        image_id = next(iter(self.images))
        self.set_critical(image_id)

        status, _ = self._pass('killed.log', kill_after=2)

        self.assertEqual('killed', status)
        self.assertEqual([self.base_file(image_id) + '.part'],
                         self.leftovers())
        self.set_critical()
        self.assertEqual('ok', self._pass('next.log')[0])
        self.assertEqual([], self.leftovers())
