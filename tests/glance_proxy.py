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

"""A sick network between nova and a real glance-api.

``python -m tests.glance_proxy --upstream PORT [--rate B/s]
[--stall-after N] [--inflate N]`` listens on 127.0.0.1 (it prints the
port) and forwards every connection to glance-api on 127.0.0.1:PORT,
unchanged except for what the options say about Glance's answers:

``--rate``: answers trickle at that many bytes a second;
``--stall-after``: an image download (``GET .../file``) stops after that
many bytes of its body, the connection left open and silent;
``--inflate``: an image download carries that many bytes more than the
image's size, its Content-Length raised to match;
``--image``: only downloads of that image stall or grow.

glance-api closes every connection after its answer (``Connection:
close``), so a connection carries one request and one answer. It runs in a
process of its own: the tests count the threads and files of their own
process.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import fixtures


def _pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Answer(object):

    def __init__(self, args, request_line):
        self.args = args
        parts = request_line.split()
        path = parts[1].split(b'?')[0] if len(parts) > 1 else b''
        self.download = (parts[:1] == [b'GET'] and path.endswith(b'/file')
                         and args.image.encode() in path)

    def head(self, head):
        if not (self.download and self.args.inflate):
            return head
        lines = head.split(b'\r\n')
        for i, line in enumerate(lines):
            name, _, value = line.partition(b':')
            if name.strip().lower() == b'content-length':
                lines[i] = b'Content-Length: %d' % (
                    int(value) + self.args.inflate)
        return b'\r\n'.join(lines)

    def send(self, client, data):
        if not self.args.rate:
            client.sendall(data)
            return
        # A tenth of a second's worth at a time: steadily, as a slow link.
        step = max(1, self.args.rate // 10)
        for i in range(0, len(data), step):
            chunk = data[i:i + step]
            client.sendall(chunk)
            time.sleep(len(chunk) / self.args.rate)


def _answer(upstream, client, request_line, args):
    answer = _Answer(args, request_line)
    head = b''
    body_sent = 0
    try:
        while b'\r\n\r\n' not in head:
            data = upstream.recv(65536)
            if not data:
                answer.send(client, head)
                return
            head += data
        head, _, body = head.partition(b'\r\n\r\n')
        answer.send(client, answer.head(head) + b'\r\n\r\n')
        while True:
            if (answer.download and args.stall_after is not None and
                    body_sent + len(body) > args.stall_after):
                answer.send(client, body[:args.stall_after - body_sent])
                # Silent, and open until the client gives up.
                while client.recv(65536):
                    pass
                return
            answer.send(client, body)
            body_sent += len(body)
            body = upstream.recv(65536)
            if not body:
                break
        if answer.download and args.inflate:
            answer.send(client, b'\0' * args.inflate)
    except OSError:
        pass
    finally:
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _serve_connection(client, args):
    upstream = socket.create_connection(('127.0.0.1', args.upstream))
    # The request line, to know what the answer is to.
    first = client.recv(65536)
    upstream.sendall(first)
    threading.Thread(target=_pipe, args=(client, upstream),
                     daemon=True).start()
    _answer(upstream, client, first.split(b'\r\n', 1)[0], args)


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--upstream', type=int, required=True)
    parser.add_argument('--rate', type=int)
    parser.add_argument('--stall-after', type=int)
    parser.add_argument('--inflate', type=int, default=0)
    parser.add_argument('--image', default='')
    args = parser.parse_args(argv)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve_connection, args=(client, args),
                         daemon=True).start()


class GlanceProxy(fixtures.Fixture):
    """The proxy in front of ``glance`` (a GlanceAPI fixture)."""

    def __init__(self, glance, rate=None, stall_after=None, inflate=0,
                 image=None):
        super().__init__()
        self.glance = glance
        self.options = ['--upstream', str(glance.port)]
        for name, value in (('--rate', rate), ('--stall-after', stall_after),
                            ('--inflate', inflate), ('--image', image)):
            if value:
                self.options += [name, str(value)]

    def _setUp(self):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'tests.glance_proxy'] +
            self.options, stdout=subprocess.PIPE, start_new_session=True)
        self.addCleanup(self._kill)
        self.port = int(self.process.stdout.readline())
        self.url = 'http://127.0.0.1:%d' % self.port

    def _kill(self):
        # Not reaped yet, so the group is still ours.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process.stdout.close()

    def nova_flags(self):
        return {'glance': {'endpoint_override': self.url}}


if __name__ == '__main__':
    main(sys.argv[1:])
