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

"""Nova's in-process cloud with computes on precache.PrecacheLibvirtDriver.

Everything is nova's own functional harness (API, conductor, scheduler,
placement, Glance fixture, libvirt computes); only libvirt is nova's fake,
since there is no hypervisor here. Two things are added:

* each compute has its own instances_path. ``CONF.host`` and
  ``CONF.instances_path`` are process-wide, so every call that runs as one
  compute (a boot, an image cache pass) goes through ``as_host()``;
  otherwise nova's pass would count that host's instances as remote.
* ``RealImageBackend`` undoes the harness's mocks of nova's image backend,
  so a spawn downloads through nova, writes a real base file in ``_base``
  and a real qcow2 overlay with real qemu-img.
"""

import contextlib
import io
import os
import sys

import fixtures
from nova.compute import manager as compute_manager
from nova import conf
from nova import context as nova_context
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional.libvirt import base
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt import utils as libvirt_utils

CONF = conf.CONF

# Captured at import, before any test fixture replaces them.
_REAL_IMAGE_BACKEND = {
    'nova.virt.libvirt.utils.fetch_image': libvirt_utils.fetch_image,
    'nova.virt.libvirt.utils.fetch_raw_image': libvirt_utils.fetch_raw_image,
    'nova.virt.libvirt.imagebackend.Backend.backend':
        imagebackend.Backend.backend,
    'nova.virt.libvirt.driver.LibvirtDriver._create_image':
        libvirt_driver.LibvirtDriver._create_image,
    'nova.virt.libvirt.driver.LibvirtDriver._create_ephemeral':
        libvirt_driver.LibvirtDriver._create_ephemeral,
    'nova.virt.libvirt.driver.LibvirtDriver._create_swap':
        libvirt_driver.LibvirtDriver._create_swap,
}


class RealImageBackend(fixtures.Fixture):
    """Spawns prepare disks with nova's real code and real qemu-img."""

    def _setUp(self):
        for name, real in _REAL_IMAGE_BACKEND.items():
            self.useFixture(fixtures.MonkeyPatch(name, real))


class PrecacheServersTestBase(base.ServersTestBase):

    def setUp(self):
        self.instances_paths = {}
        super().setUp()
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.ctxt = nova_context.get_admin_context()

    def _setup_services(self):
        # The nova wheel installs api-paste.ini under <prefix>/etc/nova,
        # not where nova's ConfFixture looks for it.
        self.flags(api_paste_config=os.path.join(
            sys.prefix, 'etc', 'nova', 'api-paste.ini'), group='wsgi')
        super()._setup_services()

    def _setup_compute_service(self):
        self.flags(compute_driver='precache.PrecacheLibvirtDriver')

    def start_compute(self, hostname='compute1', **kwargs):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            hostname)
        os.makedirs(path)
        self.instances_paths[hostname] = path
        with self.as_host(hostname):
            return super().start_compute(hostname=hostname, **kwargs)

    def follow_scheduler(self):
        """Builds and deletes run as the compute the scheduler picked.

        For servers booted without a host: the build runs with that
        compute's CONF.host and instances_path, wherever it lands.
        """
        for name in ('_do_build_and_run_instance', 'terminate_instance'):
            method = getattr(compute_manager.ComputeManager, name)

            def _as_own_host(manager, *args, _method=method, **kwargs):
                with self.as_host(manager.host):
                    return _method(manager, *args, **kwargs)

            self.useFixture(fixtures.MonkeyPatch(
                'nova.compute.manager.ComputeManager.' + name,
                _as_own_host))

    @contextlib.contextmanager
    def as_host(self, hostname):
        """Run the enclosed calls as compute ``hostname`` would see CONF.

        Nests: on the way out the outer host's values come back. (nova's
        ConfPatcher clears its overrides instead, which inside a nested
        call, e.g. a resize's source calling its destination, would leave
        the rest of the outer call with nova's default host and path.)
        """
        saved = {'host': CONF.host, 'instances_path': CONF.instances_path}
        CONF.set_override('host', hostname)
        CONF.set_override('instances_path', self.instances_paths[hostname])
        try:
            yield
        finally:
            for name, value in saved.items():
                CONF.set_override(name, value)

    def base_dir(self, hostname):
        return os.path.join(self.instances_paths[hostname], '_base')

    def create_image(self, data, disk_format='qcow2', **meta):
        meta.setdefault('name', 'precache-test')
        meta.update(disk_format=disk_format, container_format='bare',
                    size=len(data), visibility='public', properties={})
        return self.glance.create(self.ctxt, meta, data=io.BytesIO(data))

    def boot(self, hostname, image_id, **kwargs):
        with self.as_host(hostname):
            return self._create_server(image_uuid=image_id, host=hostname,
                                       networks='none', **kwargs)

    def run_image_cache_pass(self, hostname):
        """nova-compute's periodic task, as that compute runs it."""
        manager = self.computes[hostname].manager
        with self.as_host(hostname):
            cell = self.cell_mappings['cell1']
            with nova_context.target_cell(self.ctxt, cell) as cctxt:
                manager._run_image_cache_manager_pass(cctxt)

    def update_available_resource(self, hostname):
        """The resource tracker's periodic task: publishes the stats."""
        with self.as_host(hostname):
            self.computes[hostname].manager.update_available_resource(
                self.ctxt)

    def host_states(self):
        """{host: HostState} as nova's scheduler sees them now."""
        host_manager = self.scheduler.manager.host_manager
        return {state.host: state for state in
                host_manager.get_host_states_by_uuids(self.ctxt, None, None)}

    def instance_disk(self, hostname, server):
        return os.path.join(self.instances_paths[hostname], server['id'],
                            'disk')
