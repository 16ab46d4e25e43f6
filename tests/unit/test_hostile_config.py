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

import codecs
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
from nova_precache import critical_edit
from nova_precache import imagecache
from nova_precache.scheduler import weigher

GOOD = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
OTHER = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'

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

# Whole files as editors on any system may save them: any bytes, or lines
# in an encoding, after a byte-order mark or not, with any line ending.
files = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda bom, text_lines, encoding, ending: bom + ending.join(
            text_lines).encode(encoding, 'replace'),
        st.sampled_from([b'', codecs.BOM_UTF8]),
        st.lists(lines, max_size=10),
        st.sampled_from(['utf-8', 'latin-1', 'utf-16-le', 'cp1252']),
        st.sampled_from(['\n', '\r\n', '\r'])),
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
        data = '\n'.join(text_lines).encode('utf-8', 'surrogatepass')

        parsed = critical.parse(data)
        critical.log_problems('critical', parsed)

        for image_id in parsed.images:
            self.assertTrue(uuidutils.is_uuid_like(image_id))
            self.assertEqual(image_id.lower(), image_id)
        # Every line that names something is taken or said to be skipped,
        # by its number.
        for number, raw in enumerate(data.splitlines(), 1):
            fields = critical.decode(number, raw)[0].split(None, 1)
            if not fields or fields[0].startswith('#'):
                continue
            if fields[0].lower() not in parsed.images:
                self.assertIn('critical:%d:' % number, logged.output)

    @SETTINGS
    @given(files)
    @example(data=b'\xef\xbb\xbf' + GOOD.encode() + b'  caf\xe9\r\n')
    @example(data=b'\x00' * 64)
    def test_load_any_bytes_keeps_last_good_list(self, data):
        directory = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(directory, 'critical')
        with open(path, 'w') as f:
            f.write(OTHER + '\n')
        images = critical.CriticalImages()
        self.assertEqual([OTHER], list(images.load(path)))
        logged = self.useFixture(fixtures.FakeLogger('nova_precache'))
        with open(path, 'wb') as f:
            f.write(data)

        loaded = images.load(path)

        parsed = critical.parse(data)
        if parsed.unusable:
            self.assertEqual([OTHER], list(loaded))
            self.assertIn('Critical images file %s is not used: %s. Keeping '
                          'the last good list: 1 images'
                          % (path, parsed.unusable), logged.output)
        else:
            self.assertEqual(parsed.images, loaded)
        for image_id, note in loaded.items():
            self.assertTrue(note.isprintable(), repr(note))

    # Each example writes the file twice, with fsync: fewer of them.
    @settings(max_examples=50, deadline=None)
    @given(files)
    @example(data=b'\xef\xbb\xbf# x\r\n' + GOOD.encode() + b'\r\n')
    def test_add_then_remove_gives_the_bytes_back(self, data):
        directory = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(directory, 'critical')
        with open(path, 'wb') as f:
            f.write(data)
        stripped = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        try:
            critical_edit.add(path, OTHER)
        except critical_edit.EditError as e:
            # Only an image the file already lists is refused.
            self.assertIn('already listed', str(e))
            self.assertIn(OTHER, critical.parse(data).images)
            return
        with open(path, 'rb') as f:
            added = f.read()
        self.assertIn(OTHER, critical.parse(added).images)
        if not stripped.splitlines():
            return
        # Every line as it was; the last one ends as the others do.
        self.assertTrue(added.startswith(data.rstrip(b'\r\n')), added)
        critical_edit.remove(path, OTHER)
        with open(path, 'rb') as f:
            removed = f.read()
        if data.endswith((b'\n', b'\r')):
            self.assertEqual(data, removed)
        self.assertNotIn(OTHER, critical.parse(removed).images)

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
            if taken is None:
                # Empty is unset only where unset means something.
                self.assertIsNone(opt.default)
            elif opt.type.__class__.__name__ == 'Integer':
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
