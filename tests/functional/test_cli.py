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

"""The installed ``nova-precache`` console script, run as a subprocess.

Against a real temporary instances_path and a real glance-api on
127.0.0.1. The command logs in as the Nova service user (``[service_user]``)
to a keystone stub, and talks to Glance through nova's image API; this
Glance does not check tokens and serves its public images.
"""

import codecs
import fcntl
import hashlib
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time

import fixtures
import testtools

from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import critical
from nova_precache import last_good
from nova_precache import targets
from tests.functional import glance_api
from tests.functional import keystone_stub
from tests import qemu_img

SCRIPT = shutil.which('nova-precache',
                      path=os.path.dirname(sys.executable)) or 'nova-precache'


class CommandLineTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.instances = os.path.join(self.tmp, 'instances')
        os.mkdir(self.instances)
        self.critical = os.path.join(self.tmp, 'critical-images')
        self.conf = os.path.join(self.tmp, 'nova.conf')
        self.options = {
            'DEFAULT': {'instances_path': self.instances,
                        'host': 'compute-cli'},
            'glance': {'num_retries': '0', 'timeout': '10'},
            'precache': {'enabled': 'true',
                         'critical_images_file': self.critical,
                         'min_free_disk_gb': '0'},
        }
        self.write_conf()

    def write_conf(self, **sections):
        for section, options in sections.items():
            self.options.setdefault(section, {}).update(options)
        with open(self.conf, 'w') as f:
            for section, options in self.options.items():
                f.write('[%s]\n' % section)
                f.writelines('%s = %s\n' % o for o in options.items())

    def precache(self, *args, expect=0):
        """Run the command; check its status, and that it shows no trace."""
        result = subprocess.run(
            [SCRIPT, '--config-file', self.conf] + list(args),
            capture_output=True, text=True, timeout=300)
        self.assertEqual(expect, result.returncode,
                         'stdout: %s\nstderr: %s'
                         % (result.stdout, result.stderr))
        self.assertNotIn('Traceback', result.stderr)
        return result

    def json(self, *args, expect=0):
        return json.loads(self.precache(*args + ('-f', 'json'),
                                        expect=expect).stdout)

    def assertOneLineError(self, result, *words):
        lines = result.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), result.stderr)
        self.assertTrue(lines[0].startswith('nova-precache: error: '),
                        lines[0])
        for word in words:
            self.assertIn(word, lines[0])


class CriticalCommandTestCase(CommandLineTestCase):

    IMAGE = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
    OTHER = '0b6e7c56-8a4e-4c56-9f3a-2f1d5e9c7a10'

    def test_add_list_remove_keep_comments_and_notes(self):
        with open(self.critical, 'w') as f:
            f.write('# billing cluster\n%s  base OS\n\n# end\n' % self.OTHER)
        os.chmod(self.critical, 0o640)
        self.precache('critical', 'add', self.IMAGE.upper(),
                      '--note', 'web tier')
        self.assertEqual(
            [{'Image ID': self.OTHER, 'Note': 'base OS'},
             {'Image ID': self.IMAGE, 'Note': 'web tier'}],
            self.json('critical', 'list'))
        self.precache('critical', 'remove', self.OTHER)
        with open(self.critical) as f:
            self.assertEqual('# billing cluster\n\n# end\n%s  web tier\n'
                             % self.IMAGE, f.read())
        self.assertEqual(0o640, os.stat(self.critical).st_mode & 0o777)
        self.assertEqual(['critical-images'],
                         [n for n in os.listdir(self.tmp)
                          if n.startswith('critical') or
                          n.startswith('.critical-images.')
                          and not n.endswith('.lock')])

    def test_add_makes_the_file(self):
        self.precache('critical', 'add', self.IMAGE)
        self.assertEqual([{'Image ID': self.IMAGE, 'Note': ''}],
                         self.json('critical', 'list'))

    def test_file_option_overrides_nova_conf(self):
        other = os.path.join(self.tmp, 'other-list')
        self.precache('critical', 'add', self.IMAGE, '--file', other)
        self.assertFalse(os.path.exists(self.critical))
        self.assertEqual([{'Image ID': self.IMAGE, 'Note': ''}],
                         self.json('critical', 'list', '--file', other))

    def test_bad_input(self):
        self.precache('critical', 'add', self.IMAGE)
        with open(self.critical) as f:
            before = f.read()
        cases = [
            (('critical', 'add', 'not-a-uuid'), 'not-a-uuid'),
            (('critical', 'add', self.IMAGE[:-1]), self.IMAGE[:-1]),
            (('critical', 'add', self.IMAGE), 'already listed'),
            (('critical', 'add', self.OTHER, '--note', 'two\nlines'),
             'one line'),
            (('critical', 'remove', self.OTHER), 'not listed'),
            (('critical', 'remove', 'x' * 36), 'x' * 36),
        ]
        for args, word in cases:
            result = self.precache(*args, expect=2)
            self.assertOneLineError(result, word)
        with open(self.critical) as f:
            self.assertEqual(before, f.read())

    def test_missing_or_unreadable_file(self):
        result = self.precache('critical', 'list', expect=3)
        self.assertOneLineError(result, self.critical)
        result = self.precache('critical', 'remove', self.IMAGE, expect=3)
        self.assertOneLineError(result, self.critical)
        os.mkdir(self.critical)
        result = self.precache('critical', 'list', expect=3)
        self.assertOneLineError(result, self.critical)
        nowhere = os.path.join(self.tmp, 'no-such-dir', 'list')
        result = self.precache('critical', 'add', self.IMAGE, '--file',
                               nowhere, expect=3)
        self.assertOneLineError(result, nowhere)

    def test_no_file_configured(self):
        self.write_conf(precache={'critical_images_file': ''})
        result = self.precache('critical', 'list', expect=3)
        self.assertOneLineError(result, 'critical_images_file')

    def read_bytes(self):
        with open(self.critical, 'rb') as f:
            return f.read()

    def test_windows_file_listed_and_edited_byte_for_byte(self):
        # As Notepad saves it: a byte-order mark, CRLF, and a note typed
        # in Latin-1.
        windows = (codecs.BOM_UTF8 + b'# billing\r\n' + self.OTHER.encode() +
                   b'  caf\xe9\r\n')
        with open(self.critical, 'wb') as f:
            f.write(windows)
        result = self.precache('critical', 'list', '-f', 'json')
        self.assertEqual([{'Image ID': self.OTHER, 'Note': 'caf\ufffd'}],
                         json.loads(result.stdout))
        self.assertIn('critical-images:2: the line is not UTF-8: image %s '
                      'is kept' % self.OTHER, result.stderr)

        self.precache('critical', 'add', self.IMAGE, '--note', 'web')
        added = windows + self.IMAGE.encode() + b'  web\r\n'
        self.assertEqual(added, self.read_bytes())
        self.assertOneLineError(
            self.precache('critical', 'add', self.OTHER, expect=2),
            'already listed', 'line 2')
        self.precache('critical', 'remove', self.IMAGE)
        self.assertEqual(windows, self.read_bytes())
        self.precache('critical', 'remove', self.OTHER)
        self.assertEqual(codecs.BOM_UTF8 + b'# billing\r\n',
                         self.read_bytes())

    def test_fifo_refused_at_once(self):
        # Opened for reading, a FIFO with no writer would never answer.
        os.mkfifo(self.critical)
        for args in (('list',), ('remove', self.IMAGE)):
            result = self.precache('critical', *args, expect=3)
            self.assertOneLineError(result, self.critical,
                                    'a FIFO, not a regular file')

    def test_huge_file_refused(self):
        huge = b'# ' + b'x' * (10 << 20) + b'\n'
        with open(self.critical, 'wb') as f:
            f.write(huge)
        result = self.precache('critical', 'add', self.IMAGE, expect=3)
        self.assertOneLineError(result, self.critical,
                                'larger than 1048576 bytes')
        self.assertEqual(huge, self.read_bytes())

    def test_file_naming_no_image(self):
        # PowerShell's "> file": UTF-16, in which no line is a UUID.
        with open(self.critical, 'wb') as f:
            f.write(codecs.BOM_UTF16_LE +
                    ('%s\n' % self.OTHER).encode('utf-16-le'))
        result = self.precache('critical', 'list', expect=3)
        self.assertOneLineError(result, self.critical,
                                'no line names an image',
                                'nova-compute keeps its last good list')

    def test_symlink_kept(self):
        real = os.path.join(self.tmp, 'real-list')
        with open(real, 'w') as f:
            f.write('%s\n' % self.OTHER)
        os.symlink(real, self.critical)
        self.precache('critical', 'add', self.IMAGE)
        self.assertTrue(os.path.islink(self.critical))
        self.assertEqual([self.OTHER, self.IMAGE],
                         [r['Image ID']
                          for r in self.json('critical', 'list')])

    def test_plan_uses_the_list_nova_compute_kept(self):
        """plan and status read nova-compute's last good list, only."""
        state_dir = os.path.join(self.instances, '_base', 'precache')
        kept = os.path.join(state_dir, last_good.FILENAME)
        os.makedirs(os.path.join(self.instances, '_base'))
        self.precache('critical', 'add', self.IMAGE, '--note', 'db')
        self.assertIn('in the critical list (db)',
                      self.json('plan')[0]['Reasons'])
        self.assertFalse(os.path.exists(state_dir))
        # nova-compute reads the list (its own code, here) and keeps it.
        critical.CriticalImages(
            state_dir, os.path.join(self.instances, 'locks')).load(
                self.critical)
        with open(kept, 'rb') as f:
            before = f.read(), os.stat(kept).st_mtime_ns
        os.unlink(self.critical)
        os.mkfifo(self.critical)

        result = self.precache('plan', '-f', 'json')

        [row] = json.loads(result.stdout)
        self.assertEqual(self.IMAGE, row['Image ID'])
        self.assertIn('in the critical list (db)', row['Reasons'])
        self.assertIn('is not used: a FIFO, not a regular file. Keeping '
                      'the last good list: 1 images', result.stderr)
        with open(kept, 'rb') as f:
            self.assertEqual(before, (f.read(), os.stat(kept).st_mtime_ns))


class ConfigurationErrorTestCase(CommandLineTestCase):

    def setUp(self):
        super().setUp()
        open(self.critical, 'w').close()

    def test_missing_nova_conf(self):
        missing = os.path.join(self.tmp, 'missing.conf')
        for command in ('status', 'plan', 'run', 'critical list'):
            result = subprocess.run(
                [SCRIPT, '--config-file', missing] + command.split(),
                capture_output=True, text=True, timeout=120)
            self.assertEqual(3, result.returncode, result.stderr)
            self.assertOneLineError(result, missing)

    def test_unparsable_nova_conf(self):
        with open(self.conf, 'w') as f:
            f.write('[DEFAULT\ninstances_path = x\n')
        self.assertOneLineError(self.precache('status', expect=3),
                                self.conf)

    def test_bad_option_value(self):
        self.write_conf(precache={'max_images': 'plenty'})
        self.assertOneLineError(self.precache('plan', expect=3), 'plenty')

    def test_unknown_ranker(self):
        self.write_conf(precache={'rankers': 'critical,popular'})
        self.assertOneLineError(self.precache('plan', expect=3), 'popular')

    def test_missing_instances_path(self):
        os.rmdir(self.instances)
        for command in ('status', 'plan', 'run'):
            self.assertOneLineError(self.precache(command, expect=3),
                                    self.instances)

    def test_run_needs_precache_enabled(self):
        self.write_conf(precache={'enabled': 'false'})
        self.assertOneLineError(self.precache('run', expect=3), 'enabled')


class PassCommandTestCase(CommandLineTestCase):
    """``run``, ``plan`` and ``status`` against a real glance-api."""

    def setUp(self):
        super().setUp()
        self.glance = self.useFixture(glance_api.GlanceAPI(anonymous=True))
        keystone = self.useFixture(keystone_stub.KeystoneStub())
        self.write_conf(glance={'endpoint_override': self.glance.url},
                        service_user=keystone.service_user_options(),
                        precache={'resize_target_sizes': '1'},
                        DEFAULT={'force_raw_images': 'false'})
        self.qcow2 = self.glance.upload(qemu_img.qcow2_image('1G'),
                                        name='web')
        self.raw = self.glance.upload(os.urandom(3 << 20),
                                      disk_format='raw', name='db')

    def base_file(self, image_id):
        return os.path.join(self.instances, '_base',
                            nova_imagecache.get_cache_fname(image_id))

    def assertCached(self, image):
        with open(self.base_file(image['id']), 'rb') as f:
            digest = hashlib.sha512(f.read()).hexdigest()
        self.assertEqual(image['os_hash_value'], digest)

    def test_run_fetches_critical_images_and_builds_targets(self):
        self.precache('critical', 'add', self.qcow2['id'])
        self.precache('critical', 'add', self.raw['id'])
        before = self.glance.request_count()
        result = self.precache('run', '-f', 'json')
        outcomes = {r['Image ID']: r['Outcome']
                    for r in json.loads(result.stdout)}
        self.assertEqual({self.qcow2['id']: 'fetched from Glance',
                          self.raw['id']: 'fetched from Glance'}, outcomes)
        self.assertCached(self.qcow2)
        self.assertCached(self.raw)
        # Not a terminal: plain progress lines on stderr.
        self.assertIn('image %s: downloaded' % self.raw['id'],
                      result.stderr)
        target = targets.path(
            os.path.join(self.instances, '_base'),
            nova_imagecache.get_cache_fname(self.qcow2['id']), 1)
        info = qemu_img.info(target)
        self.assertEqual(1 << 30, info['virtual-size'])
        self.assertEqual(self.base_file(self.qcow2['id']),
                         info['backing-filename'])
        self.assertGreater(self.glance.request_count(), before)

        # Everything is cached and described: Glance is not asked again.
        before = self.glance.request_count()
        outcomes = {r['Image ID']: r['Outcome']
                    for r in self.json('run')}
        self.assertEqual({'present'}, set(outcomes.values()))
        self.assertEqual(before, self.glance.request_count())

    def test_plan_and_status_show_the_glance_status_they_act_on(self):
        self.write_conf(precache={'discovery_interval': '0'})
        self.precache('critical', 'add', self.qcow2['id'])
        self.precache('run')
        self.glance.deactivate(self.qcow2['id'])
        # A refresh: the plan's images are read again.
        self.precache('run')

        plan = {r['Image ID']: r for r in self.json('plan')}
        self.assertEqual('deactivated',
                         plan[self.qcow2['id']]['Glance status'])
        self.assertEqual('keep', plan[self.qcow2['id']]['Decision'])
        files = {r['File']: r for r in self.json('status')}
        base = os.path.basename(self.base_file(self.qcow2['id']))
        self.assertEqual('deactivated', files[base]['Glance status'])
        self.assertEqual('kept: pre-caching plan', files[base]['Fate'])

    def test_run_shows_progress_bars_on_a_terminal(self):
        self.precache('critical', 'add', self.raw['id'])
        controller, terminal = pty.openpty()
        self.addCleanup(os.close, controller)
        # A terminal of 24 lines of 100 columns.
        fcntl.ioctl(terminal, termios.TIOCSWINSZ,
                    struct.pack('HHHH', 24, 100, 0, 0))
        with os.fdopen(terminal, 'w') as stderr:
            result = subprocess.run(
                [SCRIPT, '--config-file', self.conf, 'run'],
                stdout=subprocess.PIPE, stderr=stderr, timeout=300)
        self.assertEqual(0, result.returncode)
        shown = b''
        while select.select([controller], [], [], 0)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        shown = shown.decode()
        # tqdm's bar: the image, 100%, the size in MiB and a rate.
        self.assertIn(self.raw['id'][:8], shown)
        self.assertIn('100%', shown)
        self.assertIn('3.00M/3.00M', shown)
        self.assertIn('B/s', shown)
        self.assertCached(self.raw)

    def test_run_fails_for_a_critical_image_it_cannot_cache(self):
        missing = '7d0c5cbe-2f1a-4a2b-8e8f-3c9e2a9d1f00'
        self.precache('critical', 'add', self.raw['id'])
        self.precache('critical', 'add', missing)
        result = self.precache('run', expect=1)
        self.assertIn('critical image %s is not cached' % missing,
                      result.stderr)
        self.assertCached(self.raw)

    def test_run_with_glance_down(self):
        self.precache('critical', 'add', self.raw['id'])
        self.glance.kill()
        result = self.precache('run', expect=1)
        self.assertIn('critical image %s is not cached: waiting for Glance'
                      % self.raw['id'], result.stderr)
        self.assertEqual([], [n for n in os.listdir(
            os.path.join(self.instances, '_base')) if os.path.isfile(
                os.path.join(self.instances, '_base', n))])

    def test_plan_and_status(self):
        self.precache('critical', 'add', self.raw['id'], '--note', 'db')
        self.precache('run')
        # A local instance on the qcow2 image, and an old unused file.
        base = os.path.join(self.instances, '_base')
        with open(self.base_file(self.qcow2['id']), 'wb') as f:
            f.write(qemu_img.qcow2_image('1G'))
        instance = os.path.join(self.instances,
                                '3b1ef4b5-7a53-4d1e-a0a5-1f0d2a6c9e77')
        os.mkdir(instance)
        qemu_img.run('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b',
                     self.base_file(self.qcow2['id']),
                     os.path.join(instance, 'disk'), '2G')
        stale = os.path.join(base, 'f' * 40)
        with open(stale, 'wb') as f:
            f.write(b'\0' * 4096)
        old = time.time() - 2 * 86400
        os.utime(stale, (old, old))

        plan = {r['Image ID']: r for r in self.json('plan')}
        self.assertEqual('keep', plan[self.raw['id']]['Decision'])
        self.assertIn('critical', plan[self.raw['id']]['Reasons'])
        self.assertEqual(1, plan[self.raw['id']]['Rank'])
        # Known from the catalog only after the qcow2 file is recorded:
        # the instance's disk is found by its backing file.
        status = {r['File']: r for r in self.json('status')}
        raw = status[os.path.basename(self.base_file(self.raw['id']))]
        self.assertEqual('kept: pre-caching plan', raw['Fate'])
        self.assertIn('critical (db)', raw['Why'])
        self.assertEqual(self.raw['id'], raw['Image ID'])
        self.assertEqual('removed by the next pass',
                         status['f' * 40]['Fate'])
        in_use = status[os.path.basename(self.base_file(self.qcow2['id']))]
        self.assertEqual('kept: in use', in_use['Fate'])
        self.assertEqual('', in_use['Image ID'])
        self.assertIn('in use by 1 local instance(s)', in_use['Why'])
        # Reading changed nothing.
        self.assertTrue(os.path.exists(stale))
