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

"""Create a virtualenv with a real glance-api for the functional tests.

Usage: python tools/glance_venv.py DIR

Glance gets an environment of its own: its requirements must not change
the nova under test. The tests find it through GLANCE_VENV=DIR. A marker
file, written last, makes a second run return at once; it records the
requirements, so changing them here rebuilds.
"""

import os
import subprocess
import sys
import venv

REQUIREMENTS = ['glance==33.0.0', 'pyuwsgi', 'SQLAlchemy<2.1']
MARKER = 'glance-venv-complete'


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: %s DIR' % argv[0])
    path = os.path.abspath(argv[1])
    marker = os.path.join(path, MARKER)
    wanted = '\n'.join(REQUIREMENTS) + '\n'
    try:
        with open(marker) as f:
            if f.read() == wanted:
                return
    except FileNotFoundError:
        pass

    print('Creating the glance virtualenv at %s' % path, flush=True)
    try:
        if os.path.exists(marker):
            os.unlink(marker)
        # An interrupted earlier run is resumed: pip skips what is there.
        venv.EnvBuilder().create(path)
        python = os.path.join(path, 'bin', 'python')
        # This environment's pip installs there (pip >= 22.3): Debian's
        # python3 has no ensurepip without the python3-venv package.
        subprocess.run(
            [sys.executable, '-m', 'pip', '--python', python, 'install',
             '--quiet', '--disable-pip-version-check'] + REQUIREMENTS,
            check=True)
        subprocess.run([python, '-c', 'import glance.wsgi, pyuwsgi'],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit('Could not create the glance virtualenv at %s: %s'
                 % (path, e))
    with open(marker, 'w') as f:
        f.write(wanted)


if __name__ == '__main__':
    main(sys.argv)
