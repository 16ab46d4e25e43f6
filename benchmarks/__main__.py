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

"""Run every benchmark: ``tox -e bench`` (``python -m benchmarks``).

The cases that need a real glance-api take it from the virtualenv named
by ``GLANCE_VENV`` (tox makes it); without one they are left out, and so
is the peer copy without root and sshd (``tools/install-deps.sh``).
"""

import os

from benchmarks import critical_list
from benchmarks import discovery
from benchmarks import fetch
from benchmarks import fleet_read
from benchmarks import pass_cost
from benchmarks import peer_copy
from benchmarks import rollout
from benchmarks import simulation
from benchmarks import startup
from tests.functional import glance_api


def main():
    if os.environ.get('GLANCE_VENV'):
        with glance_api.GlanceAPI() as glance:
            startup.run(glance=glance)
        with glance_api.GlanceAPI() as glance:
            discovery.run(glance)
        fetch.run()
        peer_copy.run()
    else:
        print('GLANCE_VENV not set: cases with a real glance-api left out')
        startup.run()
    pass_cost.run()
    fleet_read.run()
    critical_list.run()
    simulation.run()
    rollout.main([])


if __name__ == '__main__':
    main()
