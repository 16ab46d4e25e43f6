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

"""nova tests that fail against the product's classes, and why.

Only tests that fail because they count calls nova's code makes, or mock
a method the product overrides: never a signature, nor an exception nova
would see. Each must fail the listed way (the pattern is searched in its
traceback), and is reported as an expected failure; one that passes, or
that nova no longer has, fails the run.
"""

_DRIVER = 'nova.tests.unit.virt.libvirt.test_driver.LibvirtDriverTestCase.'

# After nova's cache_image, record() checks that the base file is there
# before it writes the catalog: one more os.path.exists() call than nova's
# own (and, with exists() mocked True, the writes the catalog tries).
_EXISTS_CALLED = r"AssertionError: Expected 'exists' to be called once"
_RECORD_CHECKS = 'record() checks the base file: os.path.exists() counted'

# nova's test.MatchType compares type() exactly, and the product's Backend
# builds its Qcow2 subclass, which is then called as nova's would be.
_EXACT_QCOW2 = (r"Expected: \[call\(<MatchType:<class "
                r"'nova\.virt\.libvirt\.imagebackend\.Qcow2'>>[\s\S]*"
                r"Actual: \[call\(<nova_precache\.\w+\.Qcow2 object")
_SUBCLASS = "asserts type(disk) is nova's Qcow2; ours is its subclass"

# (mode: 'Disabled', 'Enabled' or None for both, nova's test id,
#  pattern of its failure, reason)
KNOWN = tuple((None, _DRIVER + test, _EXACT_QCOW2, _SUBCLASS) for test in (
    'test_cross_cell_resize_qcow2_rebase_image_during_create',
    'test_cross_cell_resize_qcow2_rebase_image_during_create_notfound',
    'test_local_cell_resize_qcow2_rebase_image_during_create',
    'test_unshelve_qcow2_rebase_image_during_create',
    'test_unshelve_qcow2_rebase_image_during_create_notfound',
)) + tuple(('Enabled', _DRIVER + test, _EXISTS_CALLED, _RECORD_CHECKS)
           for test in ('test_cache_image_existing',
                        'test_cache_image_uncached',
                        'test_cache_image_uncached_first_time'))


def of(mode, case_id):
    """{test method: (pattern, reason)} of nova's case ``case_id``."""
    return {test_id[len(case_id) + 1:]: (pattern, reason)
            for m, test_id, pattern, reason in KNOWN
            if m in (None, mode) and test_id.rpartition('.')[0] == case_id}
