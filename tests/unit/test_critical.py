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

"""The critical list as operators' editors write it, on real files."""

import codecs
import json
import os

import fixtures
from nova import test

from nova_precache import critical
from nova_precache import last_good

A = '5f4c8c3e-0a4b-4c5e-9d59-0f3c1f0a8b1e'
B = '0b6c7a52-3b44-4b2f-8d0e-5a1e2c9d4f70'


def _lines(*lines, ending='\n'):
    return ''.join(line + ending for line in lines).encode('utf-8')


class ParseTestCase(test.NoDBTestCase):

    def _parse(self, data):
        parsed = critical.parse(data)
        critical.log_problems('/etc/nova/critical', parsed)
        return parsed

    def test_ids_notes_comments_and_order(self):
        parsed = self._parse(_lines(
            '# header', '', '%s  billing base OS ' % B, '   ', A.upper()))
        self.assertEqual([(B, 'billing base OS'), (A, '')],
                         list(parsed.images.items()))
        self.assertEqual([], parsed.problems)

    def test_bad_and_duplicate_lines_skipped_with_line_numbers(self):
        parsed = self._parse(_lines(
            A, 'not-a-uuid note', '%s again' % A, A.replace('-', '')))
        self.assertEqual([A], list(parsed.images))
        log = self.stdlog.logger.output
        self.assertIn("/etc/nova/critical:2: 'not-a-uuid' is not an image "
                      "UUID", log)
        self.assertIn('/etc/nova/critical:3: image %s is listed twice' % A,
                      log)
        # uuidutils accepts the 32-digit form; the file takes only the
        # canonical one, so that one image has one spelling.
        self.assertIn('/etc/nova/critical:4:', log)
        self.assertIsNone(parsed.unusable)

    def test_byte_order_mark_ignored(self):
        # Notepad's "UTF-8" writes one.
        parsed = self._parse(codecs.BOM_UTF8 + _lines(A, B))
        self.assertEqual([A, B], list(parsed.images))
        self.assertEqual([], parsed.problems)

    def test_crlf_and_cr_endings(self):
        for ending in ('\r\n', '\r'):
            parsed = self._parse(_lines('# list', '%s  web' % A, B,
                                        ending=ending))
            self.assertEqual([(A, 'web'), (B, '')],
                             list(parsed.images.items()))

    def test_utf8_note(self):
        parsed = self._parse(_lines('%s  café du matin' % A))
        self.assertEqual({A: 'café du matin'}, parsed.images)
        self.assertEqual([], parsed.problems)

    def test_latin1_note_keeps_its_image(self):
        parsed = self._parse(A.encode() + b'  caf\xe9\n' + B.encode() + b'\n')
        self.assertEqual([(A, 'caf\ufffd'), (B, '')],
                         list(parsed.images.items()))
        self.assertIn('/etc/nova/critical:1: the line is not UTF-8: image '
                      '%s is kept' % A, self.stdlog.logger.output)

    def test_undecodable_uuid_skipped_with_its_line_number(self):
        parsed = self._parse(_lines(A) + b'\xe9' + B.encode() + b' x\n')
        self.assertEqual([A], list(parsed.images))
        self.assertIn('/etc/nova/critical:2: ', self.stdlog.logger.output)
        self.assertIn('is not an image UUID (the line is not UTF-8)',
                      self.stdlog.logger.output)

    def test_nul_and_control_characters(self):
        parsed = self._parse(A.encode() + b'  db\x00\x1b[2J\tmain\n' +
                             B.encode() + b'\x00\n')
        # Nothing a terminal or a log would act on reaches them.
        self.assertEqual({A: 'db\ufffd\ufffd[2J main'}, parsed.images)
        self.assertIn("/etc/nova/critical:2: '%s\\x00' is not an image "
                      "UUID" % B, self.stdlog.logger.output)

    def test_long_bad_value_quoted_short(self):
        self._parse(b'x' * 5000 + b'\n')
        self.assertIn("'%s...' is not an image UUID" % ('x' * 40),
                      self.stdlog.logger.output)
        self.assertNotIn('x' * 41, self.stdlog.logger.output)

    def test_unusable_only_when_no_image_and_malformed_lines(self):
        for data in (b'', b'\n\n', _lines('# nothing is critical'),
                     codecs.BOM_UTF8):
            self.assertIsNone(critical.parse(data).unusable, data)
        for data in (_lines('garbage'), b'\x00' * 4096,
                     # PowerShell's "> file": UTF-16 with its BOM.
                     codecs.BOM_UTF16_LE + _lines(A).decode().encode(
                         'utf-16-le')):
            self.assertIn('no line names an image',
                          critical.parse(data).unusable, data)
        self.assertIsNone(critical.parse(_lines(A, 'garbage')).unusable)


class CriticalImagesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'critical')
        self.base = os.path.join(self.tmp, '_base')
        os.mkdir(self.base)
        self.state_dir = os.path.join(self.base, 'precache')
        self.critical = self.new()

    def new(self):
        """A freshly started nova-compute's list."""
        return critical.CriticalImages(self.state_dir,
                                       os.path.join(self.tmp, 'locks'))

    def write(self, data):
        with open(self.path, 'wb') as f:
            f.write(data)

    def kept(self):
        with open(os.path.join(self.state_dir, last_good.FILENAME)) as f:
            return json.load(f)

    def errors(self):
        return [line for line in self.stdlog.logger.output.splitlines()
                if 'is not used' in line]

    def test_no_file_configured(self):
        self.assertEqual({}, self.critical.load(None))

    def test_edits_picked_up(self):
        self.write(_lines(A))
        self.assertEqual([A], list(self.critical.load(self.path)))
        self.write(_lines(A, B + ' added later'))
        self.assertEqual([A, B], list(self.critical.load(self.path)))

    def test_empty_and_comments_only_files_are_honoured(self):
        self.write(_lines(A))
        self.critical.load(self.path)
        for data in (_lines('# nothing is critical now'), b''):
            self.write(data)
            self.assertEqual({}, self.critical.load(self.path))
            self.assertEqual([], self.kept()['images'])
        self.assertEqual([], self.errors())

    def test_unreadable_file_keeps_last_good_list(self):
        self.write(_lines(A))
        self.critical.load(self.path)
        os.unlink(self.path)
        for _ in range(3):
            self.assertEqual([A], list(self.critical.load(self.path)))
        # Once per change, with the path, the reason and the count.
        [error] = self.errors()
        self.assertIn('Critical images file %s is not used: No such file '
                      'or directory. Keeping the last good list: 1 images'
                      % self.path, error)

    def test_fifo_directory_and_huge_file_keep_last_good_list(self):
        self.write(_lines(A, B))
        self.critical.load(self.path)
        os.unlink(self.path)
        os.mkfifo(self.path)
        self.assertEqual([A, B], list(self.critical.load(self.path)))
        os.unlink(self.path)
        os.mkdir(self.path)
        self.assertEqual([A, B], list(self.critical.load(self.path)))
        os.rmdir(self.path)
        self.write(b'# ' + b'x' * (10 * 1024 * 1024) + b'\n')
        self.assertEqual([A, B], list(self.critical.load(self.path)))
        reasons = [e.split(' is not used: ')[1].split('.')[0]
                   for e in self.errors()]
        self.assertEqual(['a FIFO, not a regular file',
                          'a directory, not a regular file',
                          'larger than 1048576 bytes: not a list an '
                          'operator wrote'], reasons)

    def test_symlink_to_a_file(self):
        target = os.path.join(self.tmp, 'real-list')
        with open(target, 'wb') as f:
            f.write(_lines(A))
        os.symlink(target, self.path)
        self.assertEqual([A], list(self.critical.load(self.path)))

    def test_malformed_file_keeps_last_good_list(self):
        self.write(_lines(A))
        self.critical.load(self.path)
        self.write(codecs.BOM_UTF16_LE + _lines(B).decode().encode(
            'utf-16-le'))
        self.assertEqual([A], list(self.critical.load(self.path)))
        self.assertEqual([A], list(self.critical.load(self.path)))
        [error] = self.errors()
        # Its newline is b'\n\x00': the NUL starts a second bad line.
        self.assertIn('no line names an image and 2 lines are malformed. '
                      'Keeping the last good list: 1 images', error)
        # Another broken version of the file is said again.
        self.write(_lines('garbage', '# a comment', 'more garbage', 'x'))
        self.assertEqual([A], list(self.critical.load(self.path)))
        self.assertIn('3 lines are malformed', self.errors()[1])

    def test_last_good_list_survives_a_restart(self):
        self.write(codecs.BOM_UTF8 + _lines('%s  caf\u00e9' % A, B))
        self.critical.load(self.path)
        self.assertEqual([[A, 'café'], [B, '']], self.kept()['images'])
        self.assertEqual(self.path, self.kept()['source'])
        self.write(A.encode() + b'\xe9\n')

        for restarted in (self.new(), self.new()):
            self.assertEqual([(A, 'café'), (B, '')],
                             list(restarted.load(self.path).items()))
        self.assertIn('Keeping the last good list: 2 images, as read from '
                      '%s at ' % self.path, self.errors()[0])
        self.assertIn('and kept in %s' % self.state_dir, self.errors()[0])

        # A missing file, too, at start-up; an empty one is honoured.
        os.unlink(self.path)
        self.assertEqual([A, B], list(self.new().load(self.path)))
        self.write(b'')
        self.assertEqual({}, self.new().load(self.path))
        os.unlink(self.path)
        self.assertEqual({}, self.new().load(self.path))

    def test_kept_list_written_only_when_it_changes(self):
        self.write(_lines(A))
        self.critical.load(self.path)
        stamp = os.stat(os.path.join(self.state_dir, last_good.FILENAME))
        self.write(_lines('# reordered comments', A))
        self.critical.load(self.path)
        self.new().load(self.path)
        self.assertEqual(stamp, os.stat(
            os.path.join(self.state_dir, last_good.FILENAME)))
        self.assertEqual([last_good.FILENAME], os.listdir(self.state_dir))

    def test_read_only_never_writes(self):
        # The command line's plan and status: nova-compute's file.
        self.write(_lines(A))
        reader = self.new()
        reader.read_only = True
        self.assertEqual([A], list(reader.load(self.path)))
        self.assertFalse(os.path.exists(self.state_dir))
        self.critical.load(self.path)
        os.unlink(self.path)
        reader = self.new()
        reader.read_only = True
        self.assertEqual([A], list(reader.load(self.path)))

    def test_kept_once_the_cache_exists(self):
        os.rmdir(self.base)
        self.write(_lines(A))
        self.assertEqual([A], list(self.critical.load(self.path)))
        # instances_path/_base is nova's to make, not ours.
        self.assertFalse(os.path.exists(self.base))
        os.mkdir(self.base)
        self.critical.load(self.path)
        self.assertEqual([[A, '']], self.kept()['images'])

    def test_corrupt_kept_list_ignored(self):
        os.mkdir(self.state_dir)
        with open(os.path.join(self.state_dir, last_good.FILENAME),
                  'w') as f:
            f.write('{"images": [[1, 2]]')
        self.assertEqual({}, self.critical.load(self.path))
        self.assertIn('Discarding the corrupt last good critical list',
                      self.stdlog.logger.output)
        self.write(_lines(A))
        self.assertEqual([A], list(self.critical.load(self.path)))
        self.assertEqual([[A, '']], self.kept()['images'])

    def test_crash_leftover_removed_at_next_save(self):
        os.mkdir(self.state_dir)
        leftover = os.path.join(self.state_dir, '.critical-images.x1y2')
        open(leftover, 'w').close()
        self.write(_lines(A))
        self.critical.load(self.path)
        self.assertEqual([last_good.FILENAME], os.listdir(self.state_dir))

    def test_cannot_keep_is_said_once_and_the_list_still_used(self):
        os.mkdir(self.state_dir)
        os.mkdir(os.path.join(self.state_dir, last_good.FILENAME))
        self.write(_lines(A))
        for _ in range(3):
            self.assertEqual([A], list(self.critical.load(self.path)))
        self.assertEqual(1, self.stdlog.logger.output.count(
            'Cannot keep the last good critical list'))
