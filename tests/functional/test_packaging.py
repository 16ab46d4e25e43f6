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

"""The built wheel, installed next to nova, loads and uninstalls cleanly.

A throwaway virtualenv gets a copy of the nova installation this test runs
with (package and dist-info, as pip left them), then our wheel, built from
this source tree. Nova's dependencies come from the running environment
through a .pth file placed after the throwaway site-packages, so nothing is
downloaded.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import fixtures
import nova
import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOVA_SITE = os.path.dirname(os.path.dirname(os.path.abspath(nova.__file__)))
NOVA_FILES = ('nova/__init__.py', 'nova/virt/__init__.py')

# Run by the throwaway interpreter: nova-compute's own start-up and loader.
LOAD_DRIVER = textwrap.dedent("""
    import json
    from nova import monkey_patch; monkey_patch.patch()
    from nova.tests import fixtures as nova_fixtures
    from nova.virt import driver, fake
    from nova.virt.libvirt import driver as libvirt_driver
    from nova.virt.libvirt import imagecache

    # No hypervisor on a build machine: nova's fake libvirt stands in.
    with nova_fixtures.LibvirtFixture():
        loaded = driver.load_compute_driver(
            fake.FakeVirtAPI(), 'precache.PrecacheLibvirtDriver')
    manager = loaded.image_cache_manager
    print(json.dumps({
        'driver': type(loaded).__module__ + '.' + type(loaded).__name__,
        'driver_file': __import__(type(loaded).__module__,
                                  fromlist=['_']).__file__,
        'is_libvirt_driver': isinstance(loaded, libvirt_driver.LibvirtDriver),
        'manager': type(manager).__module__ + '.' + type(manager).__name__,
        'is_nova_manager': isinstance(manager, imagecache.ImageCacheManager),
    }))
""")


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _without_our_shim(directory, names):
    if os.path.basename(directory) == 'virt' and 'precache' in names:
        return ['precache']
    return []


def _tree(root):
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        found.update(os.path.relpath(os.path.join(dirpath, f), root)
                     for f in filenames)
    return found


class WheelInstallTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        env = os.path.join(self.tmp, 'env')
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip', env],
                       check=True)
        self.python = os.path.join(env, 'bin', 'python')
        self.site = subprocess.run(
            [self.python, '-c',
             'import sysconfig; print(sysconfig.get_path("purelib"))'],
            check=True, capture_output=True, text=True).stdout.strip()
        # Nova as pip installed it: without the shim of the nova-precache
        # that tox installed into the running environment.
        shutil.copytree(os.path.join(NOVA_SITE, 'nova'),
                        os.path.join(self.site, 'nova'), symlinks=True,
                        ignore=_without_our_shim)
        pattern = os.path.join(NOVA_SITE, 'nova-*.dist-info')
        for dist_info in glob.glob(pattern):
            shutil.copytree(dist_info, os.path.join(
                self.site, os.path.basename(dist_info)))
        with open(os.path.join(self.site, 'zz-deps.pth'), 'w') as f:
            f.write(self._dependencies() + '\n')

    def _dependencies(self):
        """Nova's dependencies: the running environment less nova and us.

        pip must not see the nova-precache that tox installed, or it would
        find it "already satisfied" and install nothing.
        """
        deps = os.path.join(self.tmp, 'deps')
        os.mkdir(deps)
        purelib = sysconfig.get_path('purelib')
        for name in os.listdir(purelib):
            project = name.split('-')[0].split('.')[0]
            if (project in ('nova', 'nova_precache') or
                    name.startswith('__editable__')):
                continue
            os.symlink(os.path.join(purelib, name), os.path.join(deps, name))
        return deps

    def _build_wheel(self):
        src = os.path.join(self.tmp, 'src')
        shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
            '.git', '.tox', '.stestr', 'build', 'dist', '*.egg-info',
            '__pycache__'))
        dist = os.path.join(self.tmp, 'dist')
        subprocess.run(
            [sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
             '--no-build-isolation', '--wheel-dir', dist, src], check=True)
        [wheel] = glob.glob(os.path.join(dist, '*.whl'))
        return wheel

    def _pip(self, *args):
        subprocess.run(
            [sys.executable, '-m', 'pip', '--python', self.python,
             '--disable-pip-version-check', '--no-input', '--quiet'] +
            list(args), check=True)

    def _nova_digests(self):
        return {f: _digest(os.path.join(self.site, f)) for f in NOVA_FILES}

    def _run(self, code, check=True):
        # Away from the source tree, which would shadow what is installed.
        return subprocess.run([self.python, '-c', code], cwd=self.tmp,
                              check=check, capture_output=True, text=True)

    def _import_shim(self):
        return self._run('import nova.virt.precache', check=False)

    def test_install_load_uninstall(self):
        wheel = self._build_wheel()
        before_files = _tree(self.site)
        before_digests = self._nova_digests()
        self.assertNotEqual(0, self._import_shim().returncode)

        self._pip('install', '--no-deps', wheel)

        added = _tree(self.site) - before_files
        self.assertEqual(before_digests, self._nova_digests())
        self.assertIn('nova/virt/precache/__init__.py', added)
        self.assertIn('nova_precache/driver.py', added)
        for path in added:
            self.assertTrue(
                path.startswith(('nova_precache/', 'nova/virt/precache/',
                                 'nova_precache-')),
                '%s installed outside our packages' % path)
        loaded = json.loads(self._run(LOAD_DRIVER).stdout.splitlines()[-1])
        self.assertEqual(
            'nova_precache.driver.PrecacheLibvirtDriver', loaded['driver'])
        self.assertTrue(loaded['driver_file'].startswith(self.site))
        self.assertTrue(loaded['is_libvirt_driver'])
        self.assertEqual(
            'nova_precache.imagecache.PrecacheImageCacheManager',
            loaded['manager'])
        self.assertTrue(loaded['is_nova_manager'])

        self._pip('uninstall', '--yes', 'nova-precache')

        self.assertEqual(before_digests, self._nova_digests())
        self.assertEqual(before_files, _tree(self.site))
        self.assertNotEqual(0, self._import_shim().returncode)
