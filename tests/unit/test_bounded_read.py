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

"""Reading on real files of every kind; none may hold the reader up."""

import os
import socket

import fixtures
from nova import test
from nova import utils

from nova_precache import bounded_read


class BoundedReadTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'list')

    def read(self, path=None, **kwargs):
        return bounded_read.read(path or self.path, kwargs.pop('limit', 100),
                                 kwargs.pop('timeout', 30), **kwargs)

    def assertRefused(self, words, path=None, **kwargs):
        e = self.assertRaises(bounded_read.Refused, self.read, path,
                              **kwargs)
        self.assertIn(words, str(e))

    def write(self, data, path=None):
        with open(path or self.path, 'wb') as f:
            f.write(data)

    def test_regular_file(self):
        self.write(b'abc\n')
        st, data = self.read()
        self.assertEqual(b'abc\n', data)
        self.assertEqual(os.stat(self.path).st_ino, st.st_ino)

    def test_unchanged_file_is_not_read_again(self):
        self.write(b'abc\n')
        st, _ = self.read()
        self.assertEqual((st, None), self.read(
            unchanged=bounded_read.stamp(st)))
        self.write(b'abcd\n')
        self.assertEqual(b'abcd\n', self.read(
            unchanged=bounded_read.stamp(st))[1])

    def test_symlink_to_a_file(self):
        self.write(b'abc\n')
        link = os.path.join(self.tmp, 'link')
        os.symlink(self.path, link)
        self.assertEqual(b'abc\n', self.read(link)[1])

    def test_fifo_refused_without_blocking(self):
        # Opened for reading with no writer, a FIFO would block forever
        # (and under eventlet, every green thread with it).
        os.mkfifo(self.path)
        self.assertRefused('a FIFO, not a regular file')
        link = os.path.join(self.tmp, 'link')
        os.symlink(self.path, link)
        self.assertRefused('a FIFO, not a regular file', link)

    def test_directory_socket_and_device_refused(self):
        self.assertRefused('a directory, not a regular file', self.tmp)
        self.assertRefused('a character device, not a regular file',
                           '/dev/zero')
        sock = socket.socket(socket.AF_UNIX)
        self.addCleanup(sock.close)
        sock.bind(self.path)
        self.assertRefused('a socket, not a regular file')

    def test_size_bound(self):
        self.write(b'x' * 100)
        self.assertEqual(100, len(self.read()[1]))
        self.write(b'x' * 10 * 1024 * 1024)
        self.assertRefused('larger than 100 bytes')

    def test_missing_file_and_nul_in_path(self):
        self.assertRaises(FileNotFoundError, self.read)
        self.assertRefused('null byte', self.path + '\x00x')

    def test_deleted_between_stat_and_open(self):
        self.write(b'abc\n')
        native_os = bounded_read._modules()[1]
        real_stat = native_os.stat

        def stat_then_delete(path, *args, **kwargs):
            st = real_stat(path, *args, **kwargs)
            if path == self.path:
                os.unlink(self.path)
            return st

        self.useFixture(fixtures.MockPatchObject(native_os, 'stat',
                                                 stat_then_delete))
        self.assertRaises(FileNotFoundError, self.read)

    def test_replaced_between_stat_and_open(self):
        # What was read is stamped, not what was looked at first.
        self.write(b'old\n')
        new = os.path.join(self.tmp, 'new')
        self.write(b'new list\n', new)
        native_os = bounded_read._modules()[1]
        real_stat = native_os.stat

        def stat_then_replace(path, *args, **kwargs):
            st = real_stat(path, *args, **kwargs)
            if path == self.path and os.path.exists(new):
                os.replace(new, self.path)
            return st

        self.useFixture(fixtures.MockPatchObject(native_os, 'stat',
                                                 stat_then_replace))
        st, data = self.read()
        self.assertEqual(b'new list\n', data)
        self.assertEqual(len(data), st.st_size)


class HungFileSystemTestCase(test.NoDBTestCase):
    """A read that does not return, as on an NFS mount whose server died.

    The file system's side is simulated (tests/faults has a real hung
    FUSE mount): the native os.stat the reader calls waits on an event.
    """

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'list')
        with open(self.path, 'wb') as f:
            f.write(b'abc\n')
        native_threading, native_os = bounded_read._modules()
        self.answer = native_threading.Event()
        self.addCleanup(self.answer.set)
        self.calls = []
        real_stat = native_os.stat

        def hung_stat(path, *args, **kwargs):
            self.calls.append(path)
            self.answer.wait()
            return real_stat(path, *args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(native_os, 'stat',
                                                 hung_stat))

    def _hung_read(self):
        e = self.assertRaises(bounded_read.Refused, bounded_read.read,
                              self.path, 100, 0.1)
        self.assertIn('no answer from the file system within 0.1 seconds',
                      str(e))

    def _check_one_reader_while_hung(self):
        self._hung_read()
        # Not a second reader while the first is stuck: refused at once.
        for _ in range(3):
            e = self.assertRaises(bounded_read.Refused, bounded_read.read,
                                  self.path, 100, 30)
            self.assertIn('has not returned: its file system does not '
                          'answer', str(e))
        self.assertEqual([self.path], self.calls)
        # The file system answers again: the next read is a new one.
        self.answer.set()
        for reader in bounded_read._stuck.values():
            reader.join(30)
        self.assertEqual(b'abc\n', bounded_read.read(self.path, 100, 30)[1])
        self.assertEqual(2, len(self.calls))

    def test_bounded_under_eventlet(self):
        if utils.concurrency_mode_threading():
            self.skipTest('these tests run on native threads')
        self._check_one_reader_while_hung()

    def test_bounded_on_native_threads(self):
        # nova-compute's mode: the caller waits on the reader's event.
        self.useFixture(fixtures.MockPatch(
            'nova.utils.concurrency_mode_threading', return_value=True))
        self._check_one_reader_while_hung()
