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

"""Whatever operators write, the plugin says what is wrong and goes on.

Property-based: hypothesis writes the critical list and the ``[precache]``
options. Never an unhandled exception; a bad value is named in the
message; what was good before stays in force.
"""

import os
import tempfile

import fixtures
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from nova import exception
from nova import test
from oslo_config import cfg
from oslo_utils import uuidutils

from nova_precache import conf
from nova_precache import critical
from nova_precache import imagecache
from nova_precache.scheduler import weigher

GOOD = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'

# Lines as an editor, a script or a cat on the keyboard may write them.
uuids = st.uuids().map(str)
lines = st.one_of(
    st.text(max_size=80),
    uuids,
    st.builds(lambda u, note: '%s %s' % (u.upper(), note), uuids,
              st.text(max_size=20)),
    st.builds(lambda u: '# ' + u, uuids),
    st.builds(lambda u, cut: u[:cut], uuids, st.integers(0, 35)),
)

# An option's value as a configuration file line may carry it.
one_line = st.characters(blacklist_categories=('Cs',),
                         blacklist_characters='\n\r')
values = st.one_of(
    st.text(alphabet=one_line, max_size=30),
    st.integers(-2 ** 70, 2 ** 70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(['nan', 'inf', '-inf', '-0', '1e400', 'True', 'no',
                     '1,,2', '', ' ', '0x10', '1_000']),
)

SETTINGS = settings(max_examples=150, deadline=None)
OPTS = {opt.name: opt for opt in conf.precache_opts}


class CriticalListTestCase(test.NoDBTestCase):

    @SETTINGS
    @given(st.lists(lines, max_size=30))
    def test_parse_any_lines(self, text_lines):
        logged = self.useFixture(fixtures.FakeLogger('nova_precache'))

        images = critical.parse('critical', text_lines)

        for image_id in images:
            self.assertTrue(uuidutils.is_uuid_like(image_id))
            self.assertEqual(image_id.lower(), image_id)
        # Every line that names something is taken or said to be skipped,
        # by its number.
        for number, line in enumerate(text_lines, 1):
            fields = line.split(None, 1)
            if not fields or fields[0].startswith('#'):
                continue
            if fields[0].lower() not in images:
                self.assertIn('critical:%d:' % number, logged.output)
        self.assertEqual(len(images), len(set(images)))

    @SETTINGS
    @given(st.binary(max_size=400))
    def test_load_any_bytes_keeps_last_good_list(self, data):
        directory = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(directory, 'critical')
        with open(path, 'w') as f:
            f.write(GOOD + '\n')
        images = critical.CriticalImages()
        self.assertEqual([GOOD], list(images.load(path)))
        logged = self.useFixture(fixtures.FakeLogger('nova_precache'))
        with open(path, 'wb') as f:
            f.write(data)

        loaded = images.load(path)

        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            self.assertEqual([GOOD], list(loaded))
            self.assertIn('Cannot read critical images file %s, keeping '
                          'the 1 images read before' % path, logged.output)
        else:
            self.assertEqual(critical.parse(path, text.splitlines()),
                             loaded)

    @SETTINGS
    @given(st.text(max_size=40))
    @example(path='critical\x00images')
    def test_load_any_path(self, path):
        images = critical.CriticalImages()
        good = os.path.join(self.useFixture(fixtures.TempDir()).path, 'ok')
        with open(good, 'w') as f:
            f.write(GOOD + '\n')
        images.load(good)

        loaded = images.load(path)

        self.assertIsInstance(loaded, dict)
        if path and not os.path.isfile(path):
            self.assertEqual([GOOD], list(loaded))


class PrecacheOptionsTestCase(test.NoDBTestCase):
    """Any value in nova.conf: refused at start-up by name, or taken."""

    def _conf(self, path):
        conf_ = cfg.ConfigOpts()
        conf.register_opts(conf_)
        conf_(args=[], default_config_files=[path])
        return conf_

    def _write(self, path, name, value):
        with open(path, 'w', encoding='utf-8') as f:
            f.write('[precache]\n%s = %s\n' % (name, value))

    @SETTINGS
    @given(st.sampled_from(conf.precache_opts), values)
    @example(opt=OPTS['min_free_disk_gb'], value='nan')
    @example(opt=OPTS['max_images'], value='')
    @example(opt=OPTS['enabled'], value='$A')
    def test_any_value(self, opt, value):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, 'nova.conf')
            self._write(path, opt.name, value)
            conf_ = self._conf(path)
            try:
                conf.check(conf_)
            except exception.InvalidConfiguration as e:
                self.assertIn('[precache] %s' % opt.name, str(e))
                self.assertIn(repr(value.strip()), str(e))
                return
            taken = getattr(conf_.precache, opt.dest)
            self.assertFalse(taken != taken, 'nan taken')
            if opt.type.__class__.__name__ == 'Integer':
                self.assertGreaterEqual(taken, opt.type.min)

    @SETTINGS
    @given(st.sampled_from(conf.precache_opts), values)
    def test_reload_keeps_last_good_values(self, opt, value):
        """SIGHUP makes nova re-read its files: [precache] stays as it was."""
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, 'nova.conf')
            with open(path, 'w') as f:
                f.write('[precache]\n')
            conf_ = self._conf(path)
            before = {o.dest: getattr(conf_.precache, o.dest)
                      for o in conf.precache_opts}
            self._write(path, opt.name, value)

            conf_.mutate_config_files()

            self.assertEqual(before, {o.dest: getattr(conf_.precache, o.dest)
                                      for o in conf.precache_opts})
            conf.check(conf_)

    def test_nova_compute_stops_at_start_up(self):
        self.flags(enabled=True, min_free_disk_gb=float('nan'),
                   group='precache')
        e = self.assertRaises(exception.InvalidConfiguration,
                              imagecache.PrecacheImageCacheManager)
        self.assertIn('[precache] min_free_disk_gb: not a number', str(e))

    def test_nova_scheduler_stops_at_start_up(self):
        self.flags(weight_multiplier=float('nan'), group='precache')
        e = self.assertRaises(exception.InvalidConfiguration,
                              weigher.ImageCacheWeigher)
        self.assertIn('[precache] weight_multiplier: not a number', str(e))
