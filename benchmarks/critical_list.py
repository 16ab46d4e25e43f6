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

"""What reading the critical list costs nova-compute.

Every pass and every stats update loads the list; each load looks at the
file in a reader thread of its own (``bounded_read``), and parses it only
when it changed. Cases, on real files: a load of an unchanged list; a
load of a changed 20-image list (read, parse, compare with the kept
list); parsing the largest list taken, 1 MiB of bare UUIDs.
"""

import os
import tempfile
import uuid

from benchmarks import common
from nova_precache import critical


def run(repeat=200):
    with tempfile.TemporaryDirectory() as root:
        os.mkdir(os.path.join(root, '_base'))
        images = critical.CriticalImages(
            os.path.join(root, '_base', 'precache'), root)
        small = os.path.join(root, 'critical-images')
        with open(small, 'wb') as f:
            f.writelines(b'%s  note\n' % str(uuid.uuid4()).encode()
                         for _ in range(20))
        images.load(small)
        unchanged_s = common.median_seconds(lambda: images.load(small),
                                            repeat)

        def changed():
            os.utime(small)
            images.load(small)

        changed_s = common.median_seconds(changed, repeat)
        line = len(str(uuid.uuid4())) + 1
        largest = b''.join(b'%s\n' % str(uuid.uuid4()).encode()
                           for _ in range(critical.MAX_BYTES // line))
        parse_s = common.median_seconds(lambda: critical.parse(largest), 5)
        common.report(
            'Critical list: a load by a pass or a stats update (median)',
            [('unchanged list', unchanged_s, None),
             ('changed 20-image list', changed_s, None),
             ('parse of %d bytes (%d images)'
              % (len(largest), len(largest) // line), parse_s, None)])


if __name__ == '__main__':
    run()
