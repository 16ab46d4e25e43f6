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
REFERENCE = os.path.join(REPO, 'doc', 'source', 'options.rst')
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
    """The sample and the option reference are what genconfig makes."""

    def _check_current(self, checked_in_path, *format_args):
        out = os.path.join(self.useFixture(fixtures.TempDir()).path,
                           'generated')
        # The console script of oslo.config, through the installed
        # oslo.config.opts entry point, exactly as ``tox -e genconfig``.
        subprocess.run(
            [sys.executable, '-m', 'oslo_config.generator',
             '--config-file', GENERATOR_CONF, '--output-file', out] +
            list(format_args), check=True, cwd=REPO)
        with open(checked_in_path) as checked_in, open(out) as generated:
            self.assertEqual(
                generated.read(), checked_in.read(),
                '%s is stale: run "tox -e genconfig" and commit the result'
                % os.path.relpath(checked_in_path, REPO))

    def test_checked_in_sample_is_current(self):
        self._check_current(SAMPLE)

    def test_option_reference_is_current(self):
        self._check_current(REFERENCE, '--format', 'rst')
