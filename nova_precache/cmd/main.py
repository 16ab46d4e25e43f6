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

"""The ``nova-precache`` application: cliff, with nova.conf options."""

from importlib import metadata
import logging
import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg

from nova_precache import cmd
from nova_precache import conf

CONF = conf.CONF


class PrecacheApp(app.App):

    # Warnings and errors only; -v adds what the pass logs at INFO.
    DEFAULT_VERBOSE_LEVEL = 0

    def __init__(self):
        super().__init__(
            description='Inspect and drive nova-precache on this compute '
                        'node: the cache, the plan, a pass now, and the '
                        'critical images list.',
            version=_version(),
            command_manager=commandmanager.CommandManager(
                'nova_precache.cli'),
            deferred_help=True)
        self._config_loaded = False

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', action='append', default=[], metavar='PATH',
            help='nova configuration file; repeat for several, later ones '
                 'win (default: nova\'s own, /etc/nova/nova.conf).')
        parser.add_argument(
            '--config-dir', action='append', default=[], metavar='DIR',
            help='directory of *.conf files read after the config files.')
        return parser

    def configure_logging(self):
        super().configure_logging()
        if not self.options.debug:
            for handler in logging.getLogger().handlers:
                if getattr(handler, 'stream', None) is self.stderr:
                    handler.setFormatter(_OneLineFormatter(
                        self.CONSOLE_MESSAGE_FORMAT))

    def load_config(self):
        """Read nova.conf as nova's own commands do; once per run."""
        if self._config_loaded:
            return
        args = []
        for path in self.options.config_file:
            args += ['--config-file', path]
        for path in self.options.config_dir:
            args += ['--config-dir', path]
        try:
            CONF(args, project='nova', prog='nova-precache')
        except cfg.ConfigFilesNotFoundError as e:
            raise cmd.BadConfig('cannot read %s'
                                % ', '.join(e.config_files))
        except cfg.Error as e:
            raise cmd.BadConfig(str(e))
        self._config_loaded = True


class _OneLineFormatter(logging.Formatter):
    """The message without its traceback: nova logs some with one."""

    def formatException(self, ei):
        return ''

    def formatStack(self, stack_info):
        return ''

    def format(self, record):
        return super().format(record).rstrip('\n')


def _version():
    try:
        return metadata.version('nova-precache')
    except metadata.PackageNotFoundError:
        return 'unknown'


def main(argv=None):
    return PrecacheApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
