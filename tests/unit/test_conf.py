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

import os
import subprocess
import sys

import fixtures
from nova import test

from nova_precache import conf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, 'etc', 'nova-precache.conf.sample')
GENERATOR_CONF = os.path.join(
    REPO, 'etc', 'oslo-config-generator', 'nova-precache.conf')


class OptionsTestCase(test.NoDBTestCase):

    def test_registered_on_nova_conf_with_safe_default(self):
        self.assertFalse(conf.CONF.precache.enabled)

    def test_list_opts_covers_every_registered_option(self):
        [(group, opts)] = conf.list_opts()
        self.assertEqual('precache', group.name)
        self.assertEqual(set(conf.CONF.precache.keys()),
                         {opt.dest for opt in opts})


class SampleConfigTestCase(test.NoDBTestCase):
    """etc/nova-precache.conf.sample is what ``tox -e genconfig`` makes."""

    def test_checked_in_sample_is_current(self):
        out = os.path.join(self.useFixture(fixtures.TempDir()).path,
                           'sample')
        # The console script of oslo.config, through the installed
        # oslo.config.opts entry point, exactly as ``tox -e genconfig``.
        subprocess.run(
            [sys.executable, '-m', 'oslo_config.generator',
             '--config-file', GENERATOR_CONF, '--output-file', out],
            check=True, cwd=REPO)
        with open(SAMPLE) as checked_in, open(out) as generated:
            self.assertEqual(
                generated.read(), checked_in.read(),
                'etc/nova-precache.conf.sample is stale: run '
                '"tox -e genconfig" and commit the result')
