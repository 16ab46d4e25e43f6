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
since there is no hypervisor here. Three things are added:

* each compute has its own instances_path. ``CONF.host`` and
  ``CONF.instances_path`` are process-wide, so every call that runs as one
  compute (a boot, an image cache pass) goes through ``as_host()``;
  otherwise nova's pass would count that host's instances as remote.
* ``RealImageBackend`` undoes the harness's mocks of nova's image backend,
  so a spawn downloads through nova, writes a real base file in ``_base``
  and a real qcow2 overlay with real qemu-img.
* ``SeparateHosts`` stands in for the ssh that carries a resize's or a
  cold migration's disks between computes, and keeps one compute from
  seeing another's files as its own.
"""

import contextlib
import io
import os
import sys

import fixtures
from nova.compute import manager as compute_manager
from nova import conf
from nova import context as nova_context
from nova import exception
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional.libvirt import base
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt import utils as libvirt_utils
from nova.virt.libvirt.volume import remotefs
from oslo_concurrency import processutils

from tests import qemu_img

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


class SeparateHosts(fixtures.Fixture):
    """Computes of one process see each other's files as remote hosts would.

    Real computes share one instances_path, each on its own disk, and
    name a file on another compute by the path it has on their own. Two
    places of a resize or cold migration do so, and both are replaced:

    * ``RemoteFilesystem``, nova's ssh transport (``scp``, ``ssh
      mkdir/touch/rm``) that carries the disks: there is no ssh between
      two computes in one process, so the same commands run locally, on
      the path mapped from this compute's instances_path to the other
      host's. The backing file of a copied qcow2 disk, an absolute path
      that on a real destination names the destination's own base file,
      is mapped the same way (``qemu-img rebase -u``: metadata only).
    * the shared-storage probe of a revert
      (``check_instance_shared_storage_remote``): the destination makes a
      file in its instance directory and asks the source whether it sees
      that path; on one machine it always would, and the destination
      would keep the reverted server's disks. The source looks for the
      path mapped into its own instances_path instead.

    Hosts are named by ``[libvirt] migration_inbound_addr = %s``, i.e. by
    hostname, as the computes of one process share one ``my_ip``.
    """

    def __init__(self, instances_paths):
        super().__init__()
        self.instances_paths = instances_paths

    def _setUp(self):
        hosts = self

        class _Transport(remotefs.RemoteFilesystemDriver):

            def create_file(self, host, dst_path, on_execute, on_completion):
                hosts._run(on_execute, on_completion,
                           'touch', hosts._remote(host, dst_path))

            def remove_file(self, host, dst, on_execute, on_completion):
                hosts._run(on_execute, on_completion,
                           'rm', hosts._remote(host, dst))

            def create_dir(self, host, dst_path, on_execute, on_completion):
                hosts._run(on_execute, on_completion,
                           'mkdir', '-p', hosts._remote(host, dst_path))

            def remove_dir(self, host, dst, on_execute, on_completion):
                hosts._run(on_execute, on_completion,
                           'rm', '-rf', hosts._remote(host, dst))

            def copy_file(self, src, dst, on_execute, on_completion,
                          compression):
                hosts._copy(src, dst, on_execute, on_completion)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.volume.remotefs.SshDriver', _Transport))

        driver = libvirt_driver.LibvirtDriver
        probe = driver.check_instance_shared_storage_remote

        def _probe_here(driver, context, data):
            return probe(driver, context,
                         dict(data, filename=hosts._here(data['filename'])))

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            'check_instance_shared_storage_remote', _probe_here))

    @staticmethod
    def _run(on_execute, on_completion, *cmd):
        processutils.execute(*cmd, on_execute=on_execute,
                             on_completion=on_completion)

    @staticmethod
    def _relative(path, root):
        relative = os.path.relpath(path, root)
        return None if relative.startswith(os.pardir) else relative

    def _remote(self, host, path):
        """``path`` as this compute names it, on ``host``."""
        relative = self._relative(path, CONF.instances_path)
        if relative is None:
            raise ValueError('%s is outside instances_path %s' %
                             (path, CONF.instances_path))
        return os.path.join(self.instances_paths[host], relative)

    def _here(self, path):
        """``path`` as another compute names it, on this compute."""
        for root in self.instances_paths.values():
            relative = self._relative(path, root)
            if relative is not None:
                return os.path.join(CONF.instances_path, relative)
        return path

    def _split(self, spec):
        """(host, path here) of ``host:path``; (None, path) of a path."""
        if spec.startswith(os.sep):
            return None, spec
        host, path = spec.split(':', 1)
        return host, self._remote(host, path)

    def _copy(self, src, dst, on_execute, on_completion):
        src_host, src_path = self._split(src)
        dst_host, dst_path = self._split(dst)
        self._run(on_execute, on_completion, 'cp', '-r', src_path, dst_path)
        if os.path.isdir(dst_path):
            return
        info = qemu_img.info(dst_path)
        backing = info.get('backing-filename')
        if info['format'] != 'qcow2' or not backing:
            return
        from_root = self.instances_paths.get(src_host, CONF.instances_path)
        to_root = self.instances_paths.get(dst_host, CONF.instances_path)
        relative = self._relative(backing, from_root)
        if relative is not None:
            qemu_img.run('rebase', '-u', '-F',
                         info['backing-filename-format'],
                         '-b', os.path.join(to_root, relative), dst_path)


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

    def start_compute(self, hostname='compute1', *args, **kwargs):
        # A restart (nova's restart_compute_service) keeps the host's disk.
        if hostname not in self.instances_paths:
            path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                hostname)
            os.makedirs(path)
            self.instances_paths[hostname] = path
        with self.as_host(hostname):
            return super().start_compute(hostname, *args, **kwargs)

    # What nova's computes do for a boot, a delete, a resize or cold
    # migration (source and destination), its confirm and revert, a stop,
    # a start and a snapshot.
    _OWN_HOST_METHODS = (
        '_do_build_and_run_instance', 'terminate_instance',
        'prep_resize', 'resize_instance', 'finish_resize',
        'confirm_resize', 'revert_resize', 'finish_revert_resize',
        'check_instance_shared_storage',
        'stop_instance', 'start_instance', 'snapshot_instance')

    def follow_scheduler(self):
        """Compute operations run as the compute that does them.

        For servers booted without a host: the build runs with that
        compute's CONF.host and instances_path, wherever it lands; so do
        the source's and the destination's halves of a resize or a
        migration, which call each other (nested, under CastAsCall).
        """
        for name in self._OWN_HOST_METHODS:
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

    def age_unused_at_once(self):
        """nova's aging removes whatever nothing protects at its next pass."""
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')

    def glance_down(self):
        """Every image call of the harness's Glance fails from now on."""
        down = exception.GlanceConnectionFailed(server='glance',
                                                reason='down')
        for call in ('show', 'download', 'detail'):
            self.useFixture(fixtures.MockPatchObject(
                self.glance, call, side_effect=down))

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
