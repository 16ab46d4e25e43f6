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

"""Image cache passes in processes of their own, that tests may SIGKILL.

``python -m tests.faults.pass_runner`` imports nova once, then reads one
JSON request a line on stdin and answers one JSON line on stdout:

    {"config": "nova.conf", "logs": ["pass-1.log", "pass-2.log"],
     "headers": {...identity headers...}, "kill_after": 0.7}
    -> {"pids": [...], "status": ["killed" | "ok" | "failed", ...]}

For each log it forks a process that parses ``config`` as nova-compute
would, then runs ``PrecacheImageCacheManager().update(context, [])``, the
periodic task's call, logging to that file; the processes run at the same
time. Those still running ``kill_after`` seconds later get SIGKILL.
Forking from a process that already imported nova makes a pass start in
milliseconds instead of the seconds an interpreter needs to import it.

The runner is the parent of every pass it starts and reaps each itself, so
it never signals a process number that could be someone else's.
"""

import json
import os
import signal
import sys
import time
import traceback

import nova.conf
import nova.privsep
from oslo_log import log as logging

from nova_precache import imagecache
from tests.functional import glance_api

CONF = nova.conf.CONF


def _run_pass(config, log_file, headers):
    """The body of one forked pass; never returns."""
    code = 1
    try:
        logging.register_options(CONF)
        CONF(['--config-file', config, '--log-file', log_file],
             project='nova')
        logging.setup(CONF, 'nova')
        # As nova's PrivsepFixture: we are root, privileged calls run here.
        nova.privsep.sys_admin_pctxt.client_mode = False
        context = glance_api.identity_context(headers)
        imagecache.PrecacheImageCacheManager().update(context, [])
        code = 0
    except BaseException:
        with open(log_file, 'a') as f:
            f.write('PASS FAILED\n' + traceback.format_exc())
    finally:
        os._exit(code)


def _start(request):
    pids = []
    for log_file in request['logs']:
        pid = os.fork()
        if pid == 0:
            _run_pass(request['config'], log_file, request['headers'])
        pids.append(pid)
    return pids


def _wait(pids, kill_after):
    status = {}
    deadline = None if kill_after is None else time.monotonic() + kill_after
    while len(status) < len(pids):
        for pid in pids:
            if pid in status:
                continue
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status[pid] = ('killed' if os.WIFSIGNALED(code) else
                               'ok' if os.WEXITSTATUS(code) == 0 else
                               'failed')
            elif deadline is not None and time.monotonic() >= deadline:
                # Not reaped yet: the number is still our child's.
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)
    return [status[pid] for pid in pids]


def main():
    for line in sys.stdin:
        request = json.loads(line)
        pids = _start(request)
        status = _wait(pids, request.get('kill_after'))
        sys.stdout.write(json.dumps({'pids': pids, 'status': status}) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
