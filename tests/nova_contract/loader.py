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

"""Re-declare nova's test cases with the product's classes in nova's place.

``declare()`` makes two copies of every test case of a nova test module:
``<Case>Disabled`` and ``<Case>Enabled``, with ``[precache] enabled`` false
and true from before nova's ``setUp()`` (which already builds drivers).
Subclassing nova's cases, rather than copying them, keeps every assertion
nova makes.

The product's classes (``LibvirtDriver``, ``Backend``, ``Qcow2``,
``ImageCacheManager``) reach nova's tests at the two times the tests look
them up, and nova's own modules are left alone otherwise:

* while nova's test module is imported, nova's modules carry the product's
  names: classes built then (``HostStateTestCase.FakeConnection``
  subclasses the driver) and ``mock.patch`` decorators get ours;
* while a test runs, the test module sees a view of each nova module
  whose only difference is those names: ``libvirt_driver.LibvirtDriver(
  ...)``, ``imagebackend.Qcow2`` and the like give ours, and every other
  name, read or written (``mock.patch.object(libvirt_driver, ...)``), is
  nova's module's.

Replacing the names in nova's modules for the whole run would not be
honest: nova's own code looks them up when it runs, so nova's ``Backend``
would build our ``Qcow2`` (leaving our ``Backend`` untested),
``ImageCacheManager.__init__``'s ``super(ImageCacheManager, self)`` would
recurse, and dotted patch targets (``'nova.virt.libvirt.driver.
LibvirtDriver._create_ephemeral'``) would land on our subclass, where
``fixtures.MonkeyPatch`` restores an inherited static method as a plain
method and breaks the tests that follow.

Tests whose failure is a known, explained difference are listed in
``known.py``; they must fail the listed way.
"""

import importlib
import re
import sys
import traceback
import types

from nova import conf
import nova.virt.libvirt
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagebackend as nova_imagebackend
from nova.virt.libvirt import imagecache as nova_imagecache
import testtools

from nova_precache import driver
from nova_precache import imagebackend
from nova_precache import imagecache

from tests.nova_contract import known

CONF = conf.CONF

# {nova module: {name: the product's class}}
REPLACED = {
    libvirt_driver: {'LibvirtDriver': driver.PrecacheLibvirtDriver},
    nova.virt.libvirt: {'LibvirtDriver': driver.PrecacheLibvirtDriver},
    nova_imagebackend: {'Backend': imagebackend.Backend,
                        'Qcow2': imagebackend.Qcow2},
    nova_imagecache: {
        'ImageCacheManager': imagecache.PrecacheImageCacheManager},
}
MODES = {'Disabled': False, 'Enabled': True}


def _import_replaced(nova_module):
    """Import ``nova_module`` with the product's names in nova's modules."""
    saved = {module: {name: getattr(module, name) for name in names}
             for module, names in REPLACED.items()}
    try:
        for module, names in REPLACED.items():
            vars(module).update(names)
        return importlib.import_module(nova_module)
    finally:
        for module, names in saved.items():
            vars(module).update(names)


class View(types.ModuleType):
    """A nova module with some names replaced, for a test module's eyes."""

    def __init__(self, module, replaced):
        super().__init__(module.__name__, module.__doc__)
        vars(self).update(replaced, _nova_module=module)

    def __getattr__(self, name):
        return getattr(vars(self)['_nova_module'], name)

    def __setattr__(self, name, value):
        if name in vars(self):
            vars(self)[name] = value
        else:
            setattr(vars(self)['_nova_module'], name, value)

    def __delattr__(self, name):
        if name in vars(self):
            del vars(self)[name]
        else:
            delattr(vars(self)['_nova_module'], name)


def _views(nova_tests):
    """{global name in the test module: View} of the modules to replace."""
    return {name: View(value, REPLACED[value])
            for name, value in vars(nova_tests).items()
            if isinstance(value, types.ModuleType) and value in REPLACED}


def _mode(nova_tests, enabled):

    class Mode(object):
        """Runs a nova case with the views and one ``[precache] enabled``."""

        def setUp(self):
            for name, view in _views(nova_tests).items():
                self.addCleanup(setattr, nova_tests, name,
                                getattr(nova_tests, name))
                setattr(nova_tests, name, view)
            # A default, not an override: nova's ConfFixture, set up in
            # the next line, keeps it, and clears it after the test.
            CONF.set_default('enabled', enabled, group='precache')
            self.addCleanup(CONF.clear_default, 'enabled', group='precache')
            super().setUp()

    return Mode


def _known(name, method, pattern, reason):
    """``method``, which must fail with ``pattern`` in its traceback."""

    def test(self, *args, **kwargs):
        if self._testMethodName != name:
            # Called by another test (nova does): that one is judged.
            return method(self, *args, **kwargs)
        try:
            method(self, *args, **kwargs)
        except self.skipException:
            raise
        except Exception:
            failure = traceback.format_exc()
            if not re.search(pattern, failure):
                raise
            self.expectFailure(reason, self.fail, failure)
        else:
            self.fail('Listed in known.py but passes, remove it: %s' %
                      reason)

    test.__name__ = name
    test.__doc__ = method.__doc__
    return test


def cases(nova_tests):
    """nova's test cases defined in module ``nova_tests``, by name."""
    return {name: obj for name, obj in vars(nova_tests).items()
            if isinstance(obj, type) and issubclass(obj, testtools.TestCase)
            and obj.__module__ == nova_tests.__name__}


def declare(namespace, nova_module):
    """Declare in ``namespace`` the two copies of each case of nova's."""
    if nova_module in sys.modules:
        raise ImportError('%s was imported before the product\'s classes '
                          'replaced nova\'s' % nova_module)
    nova_tests = _import_replaced(nova_module)
    for name, case in sorted(cases(nova_tests).items()):
        for mode, enabled in MODES.items():
            body = {'__module__': namespace['__name__']}
            for test, (pattern, reason) in known.of(
                    mode, '%s.%s' % (nova_module, name)).items():
                if hasattr(case, test):  # else test_runner says so
                    body[test] = _known(test, getattr(case, test), pattern,
                                        reason)
            namespace[name + mode] = type(
                name + mode, (_mode(nova_tests, enabled), case), body)
