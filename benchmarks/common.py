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

"""What every benchmark shares: nova's CONF, timing, and the report."""

import statistics
import time

import fixtures
from nova import config
from nova.tests import fixtures as nova_fixtures

from nova_precache import conf

CONF = conf.CONF


class NovaProcess(fixtures.Fixture):
    """nova's configuration and privsep as a compute's would be, in-process.

    privsep runs in-process (nova's own PrivsepFixture): there is no
    rootwrap here to start its daemon.
    """

    def _setUp(self):
        config.parse_args([], default_config_files=[])
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.addCleanup(CONF.reset)

    def flags(self, group=None, **kw):
        for name, value in kw.items():
            CONF.set_override(name, value, group)
            self.addCleanup(CONF.clear_override, name, group)


def median_seconds(func, repeat):
    """Median wall time of ``repeat`` calls of ``func``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(title, rows):
    """Print rows of (label, seconds, baseline label or None)."""
    print('\n' + title)
    seconds = {label: value for label, value, _ in rows}
    for label, value, baseline in rows:
        ratio = ''
        if baseline:
            ratio = '  %8.1fx faster than %s' % (
                seconds[baseline] / value, baseline)
        print('  %-34s %10.4f s%s' % (label, value, ratio))
