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

"""``nova-precache``: the operator's command line on a compute node.

Built on cliff; each command is a plug-in in the ``nova_precache.cli``
namespace. Exit status: 0 success; 1 the command ran and failed (``run``
could not cache a critical image); 2 bad input (a malformed image UUID, a
duplicate or absent entry); 3 bad configuration or environment (nova.conf
unreadable, an invalid option value, instances_path or the critical images
file missing or unreadable). Errors are one line on stderr; ``--debug``
adds the traceback.
"""

import re
import warnings

from cliff import command
from oslo_config import cfg

# nova imports eventlet, which warns of its own deprecation on every run of
# a command line that does not use it.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BAD_CONFIG = 3


class Error(Exception):
    """A failure the operator can act on; ``code`` is the exit status."""

    code = EXIT_FAILED


class BadInput(Error):
    code = EXIT_BAD_INPUT


class BadConfig(Error):
    code = EXIT_BAD_CONFIG


class Command(command.Command):
    """A command that reads nova.conf first and turns errors into codes."""

    def run(self, parsed_args):
        try:
            self.app.load_config()
            return super().run(parsed_args)
        except cfg.Error as e:
            # oslo.config names the file by the repr of a LocationInfo.
            error = BadConfig('invalid configuration: %s' % re.sub(
                r"LocationInfo\(location=<[^>]*>, detail='([^']*)'\)",
                r'\1', str(e)))
        except Error as e:
            error = e
        if self.app.options.debug:
            self.app.LOG.exception(error)
        self.app.stderr.write('nova-precache: error: %s\n' % error)
        return error.code
