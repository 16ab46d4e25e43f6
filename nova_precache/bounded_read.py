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

"""Read a small file an operator owns without ever hanging the reader.

nova-compute reads such files (the critical images list) from periodic
tasks that share their threads, so a read that does not return stops every
one of them. Three things could keep it from returning, and each is ruled
out:

* a FIFO, a socket or a device at the path (``open()`` of a FIFO waits for
  a writer): only a regular file, or a symlink to one, is read; it is
  opened with ``O_NONBLOCK``, so a FIFO put there after the check still
  opens at once, and ``fstat`` of what was opened refuses it;
* a huge file (a disk image or a log at the wrong path): at most ``limit``
  bytes are read;
* a file system that stops answering (a hard NFS mount whose server is
  gone): the read runs in a daemon thread that the caller waits for at
  most ``timeout`` seconds. While that read is still stuck no second one
  is started for the same path: every later call is refused at once, so
  a hung file system costs the caller ``timeout`` once, not once a call.

The thread is a native one in both of nova's concurrency modes: under
eventlet (nova's test harness, and its deprecated service mode) a green
thread stuck in a system call would stop every other green thread, so the
reader uses the unpatched ``threading`` and ``os`` modules, and the caller
waits by polling with a (green) sleep. The reader thread does nothing but
system calls: no logging, no lock of the caller's.
"""

import collections
import os
import stat
import threading
import time

from nova import utils

# The reader threads, as a thread dump shows them.
THREAD_NAME = 'precache-read'

Stamp = collections.namedtuple('Stamp', 'dev ino mtime_ns size')

_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO'),
          (stat.S_ISSOCK, 'a socket'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'))

# {path: reader thread whose read has not returned}, shared by all callers.
_stuck = {}
_stuck_lock = threading.Lock()
_native = []


class Refused(OSError):
    """Not read: not a regular file, too large, or no answer in time."""


def stamp(st):
    """What changes whenever the file is replaced or written."""
    return Stamp(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def read(path, limit, timeout, unchanged=None):
    """Return (os.stat_result, bytes) of the regular file ``path``.

    :param limit: the most bytes the file may hold; a larger one is
        Refused.
    :param timeout: the most seconds to wait for the file system.
    :param unchanged: a Stamp; if the file still has it, return
        (os.stat_result, None) without opening it.
    :raises OSError: as ``os.open`` would (FileNotFoundError...), or
        Refused.
    """
    threading_, os_ = _modules()
    with _stuck_lock:
        stuck = _stuck.get(path)
        if stuck is not None and stuck.is_alive():
            raise Refused('a read of %s started %d seconds ago has not '
                          'returned: its file system does not answer'
                          % (path, time.monotonic() - stuck.started))
        _stuck.pop(path, None)
    outcome = {}
    done = threading_.Event()

    def _run():
        try:
            outcome['result'] = _read(os_, path, limit, unchanged)
        except BaseException as e:
            outcome['error'] = e
        finally:
            done.set()

    reader = threading_.Thread(target=_run, name=THREAD_NAME, daemon=True)
    reader.started = time.monotonic()
    reader.start()
    if not _wait(done, timeout):
        with _stuck_lock:
            _stuck[path] = reader
        raise Refused('no answer from the file system within %g seconds'
                      % timeout)
    if 'error' in outcome:
        error = outcome['error']
        if isinstance(error, ValueError):
            # A NUL in the path.
            raise Refused(str(error))
        raise error
    return outcome['result']


def _read(os_, path, limit, unchanged):
    st = os_.stat(path)
    _check_regular(st)
    if unchanged is not None and stamp(st) == unchanged:
        return st, None
    fd = os_.open(path, os_.O_RDONLY | os_.O_NONBLOCK | os_.O_NOCTTY |
                  os_.O_CLOEXEC)
    try:
        # What was opened, which may not be what was looked at above.
        st = os_.fstat(fd)
        _check_regular(st)
        chunks, size = [], 0
        while size <= limit:
            chunk = os_.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os_.close(fd)
    if size > limit:
        raise Refused('larger than %d bytes: not a list an operator wrote'
                      % limit)
    return st, b''.join(chunks)


def _check_regular(st):
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)),
                    'not a regular file')
        raise Refused('%s, not a regular file' % kind)


def _wait(done, timeout):
    """Whether ``done`` (a native Event) was set within ``timeout`` s."""
    if utils.concurrency_mode_threading():
        return done.wait(timeout)
    # A native Event's wait() would block every green thread: poll it.
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not done.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.05)
    return True


def _modules():
    """The native ``threading`` and ``os``, even under eventlet."""
    if not _native:
        eventlet = utils.get_eventlet()
        if eventlet is None:
            _native.extend([threading, os])
        else:
            _native.extend([eventlet.patcher.original('threading'),
                            eventlet.patcher.original('os')])
    return _native
