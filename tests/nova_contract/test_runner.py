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

"""The runner itself: nova's tests do see the product's classes.

A substitution that silently stopped working would leave nova's tests
passing against nova's own classes; these checks fail instead.
"""

import re
import sys
from unittest import mock

from nova import conf
from nova.virt import fake
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagebackend as nova_imagebackend
import testtools

from tests.nova_contract import known
from tests.nova_contract import loader
# Declared first: they import nova's test modules.
from tests.nova_contract import test_driver
from tests.nova_contract import test_imagebackend
from tests.nova_contract import test_imagecache

CONF = conf.CONF
CONTRACT = (test_driver, test_imagebackend, test_imagecache)


class KnownDifferencesTestCase(testtools.TestCase):

    def test_each_names_a_nova_test(self):
        for mode, test_id, pattern, reason in known.KNOWN:
            self.assertIn(mode, (None,) + tuple(loader.MODES), test_id)
            module, case, method = test_id.rsplit('.', 2)
            self.assertIn(module, sys.modules, test_id)
            self.assertTrue(
                hasattr(getattr(sys.modules[module], case, None), method),
                'nova no longer has %s: remove it from known.py' % test_id)
            re.compile(pattern)
            self.assertTrue(reason, test_id)

    def _run_known(self, method):
        case = type('Case', (testtools.TestCase,), {
            'test_it': loader._known('test_it', method, 'the listed way',
                                     'a reason')})('test_it')
        result = testtools.TestResult()
        case.run(result)
        return result

    def test_failing_the_listed_way_is_an_expected_failure(self):
        def method(case):
            raise AssertionError('fails the listed way')
        summary = self._run_known(method)
        self.assertTrue(summary.wasSuccessful())
        self.assertEqual(1, len(summary.expectedFailures))

    def test_failing_another_way_fails(self):
        def method(case):
            raise TypeError('a signature nova would see')
        summary = self._run_known(method)
        self.assertFalse(summary.wasSuccessful())
        self.assertIn('a signature nova would see',
                      str(summary.errors[0][1]))

    def test_passing_fails(self):
        summary = self._run_known(lambda case: None)
        self.assertFalse(summary.wasSuccessful())
        self.assertIn('Listed in known.py but passes',
                      str(summary.failures[0][1]))


class SubstitutionTestCase(testtools.TestCase):

    def test_every_nova_case_declared_in_both_modes(self):
        for contract in CONTRACT:
            nova_tests = sys.modules[contract.__name__.replace(
                'tests.nova_contract', 'nova.tests.unit.virt.libvirt')]
            for name in loader.cases(nova_tests):
                for mode in loader.MODES:
                    self.assertTrue(issubclass(getattr(contract, name + mode),
                                               getattr(nova_tests, name)))

    def _assert_nova_modules_are_nova_s(self):
        for module, names in loader.REPLACED.items():
            for name, product in names.items():
                self.assertIs(product.__base__, getattr(module, name))

    def test_nova_modules_are_nova_s_after_import(self):
        self._assert_nova_modules_are_nova_s()

    def test_classes_built_at_import_are_the_products(self):
        nova_tests = sys.modules['nova.tests.unit.virt.libvirt.test_driver']
        self.assertTrue(issubclass(nova_tests.HostStateTestCase.FakeConnection,
                                   loader.driver.PrecacheLibvirtDriver))

    def test_view_writes_reach_nova_s_module(self):
        view = loader.View(nova_imagebackend,
                           loader.REPLACED[nova_imagebackend])
        self.assertIs(loader.imagebackend.Qcow2, view.Qcow2)
        self.assertIs(nova_imagebackend.Flat, view.Flat)
        log = nova_imagebackend.LOG
        with mock.patch.object(view, 'LOG') as patched:
            self.assertIs(patched, nova_imagebackend.LOG)
        self.assertIs(log, nova_imagebackend.LOG)

    def _probe(self, case, check):
        """Run ``check`` as a test of the declared ``case``."""
        probe = type('Probe', (case,), {'test_probe': check})('test_probe')
        result = testtools.TestResult()
        probe.run(result)
        self.assertEqual([], [str(e[1]) for e in result.errors +
                              result.failures])
        self.assertEqual(1, result.testsRun)

    def test_nova_tests_see_the_products_classes(self):
        products = loader.REPLACED
        for mode, enabled in loader.MODES.items():

            def driver_check(case, enabled=enabled):
                nova_tests = sys.modules[
                    'nova.tests.unit.virt.libvirt.test_driver']
                made = nova_tests.libvirt_driver.LibvirtDriver(
                    fake.FakeVirtAPI(), True)
                case.assertIsInstance(
                    made, products[libvirt_driver]['LibvirtDriver'])
                case.assertIsInstance(made.image_backend,
                                      loader.imagebackend.Backend)
                case.assertIsInstance(
                    made.image_cache_manager,
                    loader.imagecache.PrecacheImageCacheManager)
                case.assertIs(enabled, CONF.precache.enabled)

            def backend_check(case, enabled=enabled):
                # Qcow2TestCase.setUp() took the class from the view.
                case.assertIs(loader.imagebackend.Qcow2, case.image_class)
                case.assertIs(enabled, CONF.precache.enabled)

            def cache_check(case, enabled=enabled):
                nova_tests = sys.modules[
                    'nova.tests.unit.virt.libvirt.test_imagecache']
                case.assertIsInstance(
                    nova_tests.imagecache.ImageCacheManager(),
                    loader.imagecache.PrecacheImageCacheManager)
                case.assertIs(enabled, CONF.precache.enabled)

            self._probe(getattr(test_driver, 'LibvirtConnTestCase' + mode),
                        driver_check)
            self._probe(getattr(test_imagebackend, 'Qcow2TestCase' + mode),
                        backend_check)
            self._probe(
                getattr(test_imagecache, 'ImageCacheManagerTestCase' + mode),
                cache_check)
        # nova's own code kept nova's classes throughout.
        self._assert_nova_modules_are_nova_s()
