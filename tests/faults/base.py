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

"""What the fault tests share: a real glance-api, a cache, passes.

The pass runs in this process (nova's real manager, as the functional
tests run it) or in processes of its own (``PassRunner``) where a test
kills it. Files are checked with real qemu-img and against Glance's hashes.
"""

import configparser
import hashlib
import json
import os
import subprocess
import sys
import unittest

import fixtures
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt.libvirt import imagecache as nova_imagecache
from nova.virt.libvirt import utils as libvirt_utils
from oslo_utils import units
from oslo_utils import uuidutils

from nova_precache import catalog
from nova_precache import imagebackend
from nova_precache import imagecache
from nova_precache import targets
from tests.functional import glance_api

# What a crash may leave in the cache, and the next pass removes.
LEFTOVER_SUFFIXES = ('.part', '.converted')

# The bytes of an empty nova database, made once per test process.
_NOVA_DB = []


def sha512(path):
    digest = hashlib.sha512()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def sha512_of(data):
    return hashlib.sha512(data).hexdigest()


class Tmpfs(fixtures.Fixture):
    """A small file system of its own, so that the cache can fill it."""

    def __init__(self, path, size):
        super().__init__()
        self.path = path
        self.size = size

    def _setUp(self):
        os.makedirs(self.path, exist_ok=True)
        result = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', 'size=%d' % self.size, 'tmpfs',
             self.path], capture_output=True, text=True)
        if result.returncode:
            raise unittest.SkipTest(
                'Cannot mount a tmpfs of %d bytes on %s (these tests need '
                'root): %s' % (self.size, self.path, result.stderr))
        self.addCleanup(subprocess.run, ['umount', '-l', self.path],
                        check=True)


class PassRunner(fixtures.Fixture):
    """tests.faults.pass_runner: passes in processes a test may kill."""

    def _setUp(self):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'tests.faults.pass_runner'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(self._stop)

    def _stop(self):
        self.process.stdin.close()
        self.process.wait(60)
        self.process.stdout.close()

    def run(self, config, logs, headers, kill_after=None):
        """Run one pass per log file at once; their status each."""
        self.process.stdin.write(json.dumps({
            'config': config, 'logs': logs, 'headers': headers,
            'kill_after': kill_after}) + '\n')
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())['status']


class FaultTestCase(test.TestCase):
    """A compute's image cache against a real glance-api."""

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.glance = self.useFixture(glance_api.GlanceAPI())
        self.glance.configure_nova(self.flags)
        self.flags(num_retries=0, group='glance')
        self.context = self.glance.nova_context()
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.critical = os.path.join(self.instances, 'critical-images')
        self.flags(instances_path=self.instances)
        self.flags(enabled=True, critical_images_file=self.critical,
                   min_free_disk_gb=0, group='precache')

    @property
    def base_dir(self):
        return os.path.join(self.instances, '_base')

    def base_file(self, image_id):
        return os.path.join(self.base_dir,
                            nova_imagecache.get_cache_fname(image_id))

    def glance_hash(self, image_id):
        """Glance's SHA-512 of the image's data."""
        return self.glance._request(
            'GET', '/v2/images/%s' % image_id,
            self.glance.identity_headers()).json()['os_hash_value']

    def set_critical(self, *image_ids):
        with open(self.critical, 'w') as f:
            f.write(''.join('%s\n' % i for i in image_ids))

    def run_pass(self):
        """One pass of a freshly started compute's manager, here."""
        manager = imagecache.PrecacheImageCacheManager()
        manager.update(self.context, [])
        return manager

    def spawn(self, image_id, root_gb=1):
        """Make a qcow2 spawn's root disk as PrecacheLibvirtDriver does.

        The driver's image backend, with the call LibvirtDriver's
        _create_image makes: the base file is downloaded (under its lock)
        only if the cache lacks it. Returns the instance disk's path.
        """
        instance = objects.Instance(uuid=uuidutils.generate_uuid())
        disk = imagebackend.Qcow2(instance=instance, disk_name='disk')
        disk.cache(fetch_func=libvirt_utils.fetch_image,
                   context=self.context,
                   filename=nova_imagecache.get_cache_fname(image_id),
                   image_id=image_id, trusted_certs=None,
                   size=root_gb * units.Gi)
        return disk.path

    def leftovers(self):
        """Files of interrupted writes: downloads, targets, the catalog."""
        found = []
        for directory, _, names in os.walk(self.base_dir):
            found += [os.path.join(directory, n) for n in names
                      if n.endswith(LEFTOVER_SUFFIXES) or n.startswith('.')]
        return found

    def cached_files(self, image_id):
        """Everything in the cache made from ``image_id``."""
        name = nova_imagecache.get_cache_fname(image_id)
        found = []
        for directory, _, names in os.walk(self.base_dir):
            found += [os.path.join(directory, n) for n in names
                      if name in n]
        return found

    def catalog(self):
        return catalog.Catalog(os.path.join(self.instances, '_base'),
                               os.path.join(self.instances, 'locks'))

    def target(self, image_id, root_gb):
        return targets.path(self.base_dir,
                            nova_imagecache.get_cache_fname(image_id),
                            root_gb)

    def write_nova_conf(self, path, glance_url=None, **precache):
        """A nova.conf for passes run by PassRunner.

        nova's pass looks the instances' block devices up in nova's
        database, even with no instance: the passes get an empty one.
        """
        database = os.path.join(os.path.dirname(path), 'nova.sqlite')
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_dict({
            'DEFAULT': {'instances_path': self.instances, 'debug': 'True'},
            'database': {'connection': 'sqlite:///' + database},
            'glance': {'endpoint_override': glance_url or self.glance.url,
                       'num_retries': '0'},
            'precache': dict({'enabled': 'True',
                              'critical_images_file': self.critical,
                              'min_free_disk_gb': '0'},
                             **{k: str(v) for k, v in precache.items()}),
        })
        with open(path, 'w') as f:
            parser.write(f)
        if not _NOVA_DB:
            subprocess.run(
                [os.path.join(os.path.dirname(sys.executable), 'nova-manage'),
                 '--config-file', path, 'db', 'sync', '--local_cell'],
                check=True, capture_output=True)
            with open(database, 'rb') as f:
                _NOVA_DB.append(f.read())
        else:
            with open(database, 'wb') as f:
                f.write(_NOVA_DB[0])
        return path
