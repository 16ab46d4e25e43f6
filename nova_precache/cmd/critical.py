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

"""``critical list | add | remove``: the critical images list, edited safely.

The file is the one ``[precache] critical_images_file`` names in nova.conf,
or ``--file``. nova-compute reads it again at its next pass. A file that
cannot be read (missing, not a regular file, larger than
``critical.MAX_BYTES``, not answering) is a configuration error, and so is
one in which no line names an image while some are malformed (nova-compute
keeps its last good list instead): one line, exit status 3.
"""

import os

from cliff import command
from cliff import lister

from nova_precache import cmd
from nova_precache import conf
from nova_precache import critical
from nova_precache import critical_edit

CONF = conf.CONF


class _CriticalCommand(cmd.Command):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--file', metavar='PATH',
            help='the critical images list (default: [precache] '
                 'critical_images_file from nova.conf)')
        return parser

    def path(self, parsed_args):
        path = parsed_args.file or CONF.precache.critical_images_file
        if not path:
            raise cmd.BadConfig('no critical images file: set [precache] '
                                'critical_images_file or pass --file')
        return path

    def edit(self, change, *args):
        try:
            change(*args)
        except critical_edit.EditError as e:
            raise cmd.BadInput(str(e))
        except OSError as e:
            raise cmd.BadConfig('cannot edit %s: %s'
                                % (args[0], e.strerror or e))


class List(_CriticalCommand, lister.Lister):
    """The critical images, in the file's order, with their notes."""

    def take_action(self, parsed_args):
        path = self.path(parsed_args)
        try:
            parsed = critical.parse(critical.read_bytes(path)[1])
        except OSError as e:
            raise cmd.BadConfig('cannot read %s: %s'
                                % (path, e.strerror or e))
        if parsed.unusable:
            number, problem, _ = next(p for p in parsed.problems if p[2])
            raise cmd.BadConfig(
                '%s: %s (line %d: %s); nova-compute keeps its last good list'
                % (path, parsed.unusable, number, problem))
        critical.log_problems(path, parsed)
        return ('Image ID', 'Note'), list(parsed.images.items())


class Add(_CriticalCommand, command.Command):
    """Add an image to the critical list (the file is made if missing)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('image_id', metavar='UUID')
        parser.add_argument('--note', default='',
                            help='why the image is critical, kept on its '
                                 'line')
        return parser

    def take_action(self, parsed_args):
        path = self.path(parsed_args)
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise cmd.BadConfig('the directory of %s does not exist' % path)
        self.edit(critical_edit.add, path, parsed_args.image_id,
                  parsed_args.note)
        self.app.stdout.write('Added %s to %s\n'
                              % (parsed_args.image_id.lower(), path))


class Remove(_CriticalCommand, command.Command):
    """Remove an image from the critical list."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('image_id', metavar='UUID')
        return parser

    def take_action(self, parsed_args):
        path = self.path(parsed_args)
        self.edit(critical_edit.remove, path, parsed_args.image_id)
        self.app.stdout.write('Removed %s from %s\n'
                              % (parsed_args.image_id.lower(), path))
