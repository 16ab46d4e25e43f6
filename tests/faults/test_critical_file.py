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

"""The critical list on a FIFO, or on a file system that stopped answering.

A pass of a freshly started compute (the last good list comes from the
disk) must complete, keep the critical image through nova's aging (age 0
here), and start no second read of a file system that is still hung.

A watchdog (a native thread, which runs whatever the pass blocks on) ends
each hang after WATCHDOG seconds: a pass that waited for the file would
then complete too, but the test fails.
"""

import ctypes
import os
import unittest

import fixtures

from nova_precache import bounded_read
from tests.faults import base
from tests import qemu_img

WATCHDOG = 120
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


class HungFileSystem(fixtures.Fixture):
    """A FUSE mount whose server never answers, as a dead NFS server.

    The kernel's first request (INIT) is never read, so every lookup under
    the mount waits, in a wait only a fatal signal ends, until ``answer()``
    closes the device: the connection is aborted and the waiting calls
    fail with ENOTCONN. Needs root and /dev/fuse.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.fd = None

    def _setUp(self):
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            self.fd = os.open('/dev/fuse', os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise unittest.SkipTest('No FUSE here (these tests need root '
                                    'and /dev/fuse): %s' % e)
        options = 'fd=%d,rootmode=40000,user_id=0,group_id=0' % self.fd
        if libc.mount(b'precache-hung', os.fsencode(self.path),
                      b'fuse.precache-hung',
                      ctypes.c_ulong(_MS_NOSUID | _MS_NODEV),
                      options.encode()):
            error = os.strerror(ctypes.get_errno())
            self.answer()
            raise unittest.SkipTest('Cannot mount FUSE on %s: %s'
                                    % (self.path, error))
        self.addCleanup(libc.umount2, os.fsencode(self.path), _MNT_DETACH)
        self.addCleanup(self.answer)

    def answer(self):
        """End the hang."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class CriticalFileTestCase(base.FaultTestCase):

    def setUp(self):
        super().setUp()
        # The list in a directory of its own, which a mount can cover.
        self.etc = os.path.join(self.instances, 'etc')
        os.mkdir(self.etc)
        self.critical = os.path.join(self.etc, 'critical-images')
        self.flags(critical_images_file=self.critical, group='precache')
        self.flags(remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.image = self.glance.upload(qemu_img.qcow2_image('16M'))['id']
        self.set_critical(self.image)
        self.run_pass()
        self.assertTrue(os.path.exists(self.base_file(self.image)))
        self.log = self.useFixture(fixtures.FakeLogger('nova_precache'))

    def watchdog(self, end_hang):
        fired = []

        def _fire():
            fired.append(True)
            end_hang()

        timer = bounded_read._modules()[0].Timer(WATCHDOG, _fire)
        timer.daemon = True
        timer.start()
        self.addCleanup(timer.cancel)
        return fired

    def readers(self):
        # Native threads: eventlet's threading module does not list them.
        return [t for t in bounded_read._modules()[0].enumerate()
                if t.name == bounded_read.THREAD_NAME]

    def test_fifo_while_a_pass_runs(self):
        os.unlink(self.critical)
        os.mkfifo(self.critical)

        def _write_end():
            # A writer lets a reader stuck in open() go on.
            native_os = bounded_read._modules()[1]
            os.close(native_os.open(self.critical, os.O_WRONLY))

        fired = self.watchdog(_write_end)

        self.run_pass()

        self.assertEqual([], fired, 'the pass waited for the FIFO')
        self.assertTrue(os.path.exists(self.base_file(self.image)))
        self.assertIn('Critical images file %s is not used: a FIFO, not a '
                      'regular file. Keeping the last good list: 1 images'
                      % self.critical, self.log.output)

    def test_hung_file_system_while_passes_run(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_precache.critical.READ_TIMEOUT', 1))
        hung = self.useFixture(HungFileSystem(self.etc))
        fired = self.watchdog(hung.answer)

        manager = self.run_pass()

        self.assertEqual([], fired, 'the pass waited for the file system')
        self.assertTrue(os.path.exists(self.base_file(self.image)))
        self.assertIn('Critical images file %s is not used: no answer from '
                      'the file system within 1 seconds. Keeping the last '
                      'good list: 1 images' % self.critical, self.log.output)
        [reader] = self.readers()
        self.assertTrue(reader.is_alive())

        # The next pass, and the resource tracker's stats, start no second
        # read while the first is stuck.
        manager.update(self.context, [])
        manager.published_stats()
        self.assertEqual([reader], self.readers())
        self.assertTrue(os.path.exists(self.base_file(self.image)))
        self.assertIn('has not returned: its file system does not answer',
                      self.log.output)

        hung.answer()
        reader.join(WATCHDOG)
        self.assertFalse(reader.is_alive())
        self.assertEqual([], fired)
