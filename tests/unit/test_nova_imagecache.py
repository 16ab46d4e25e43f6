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

"""Nova's own image cache manager tests, run against our subclass.

Every test case of ``nova.tests.unit.virt.libvirt.test_imagecache`` (it
ships in the nova wheel) is re-declared here with nova's
``ImageCacheManager`` replaced by ``PrecacheImageCacheManager``: whatever
nova promises of its manager, ours keeps, both idle (the default) and with
``[precache] enabled`` (the ``...Enabled`` copies), where our manager reads
backing files from qcow2 headers.

The replacement is made in the test module's view of
``nova.virt.libvirt.imagecache`` only: nova's class refers to itself by its
module-level name in ``super()``, so patching the real module would recurse.
"""

import types

import fixtures
import testtools

from nova.tests.unit.virt.libvirt import test_imagecache as nova_tests
from nova.virt.libvirt import imagecache as nova_imagecache

from nova_precache import imagecache


class _WithPrecacheManager(object):

    def setUp(self):
        super().setUp()
        module = types.SimpleNamespace(**vars(nova_imagecache))
        module.ImageCacheManager = imagecache.PrecacheImageCacheManager
        self.useFixture(fixtures.MonkeyPatch(
            nova_tests.__name__ + '.imagecache', module))

    def test_runs_against_precache_manager(self):
        self.assertIsInstance(nova_tests.imagecache.ImageCacheManager(),
                              imagecache.PrecacheImageCacheManager)


def _nova_test_cases():
    for name, obj in sorted(vars(nova_tests).items()):
        if (isinstance(obj, type) and issubclass(obj, testtools.TestCase) and
                obj.__module__ == nova_tests.__name__):
            yield name, obj


class _Enabled(_WithPrecacheManager):

    def setUp(self):
        super().setUp()
        self.flags(enabled=True, group='precache')


for _name, _case in _nova_test_cases():
    globals()[_name] = type(_name, (_WithPrecacheManager, _case), {})
    globals()[_name + 'Enabled'] = type(_name + 'Enabled',
                                        (_Enabled, _case), {})
del _name, _case
