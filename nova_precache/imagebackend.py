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

"""nova's libvirt image backend, with qcow2 spawns that clone a target.

A spawn of a qcow2 root disk whose size has a ready resize target
(``nova_precache.targets``) copies that ~200 KB file instead of running
``qemu-img create`` after several prlimit-wrapped ``qemu-img info`` calls.
The disk is byte for byte the one nova would have made. Everything else is
nova's own path.
"""

import os
import shutil

from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils.imageutils import format_inspector
from oslo_utils import units

from nova import utils
from nova.virt import images
from nova.virt.libvirt import imagebackend

from nova_precache import conf
from nova_precache import peer_fallback
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class Qcow2(imagebackend.Qcow2):
    """nova's qcow2 image backend that clones a ready target if there is one.

    Falls back to nova's own path for everything else: no target of that
    size, preallocation, rescue disks, or a base file that fails nova's
    safety check (nova's path then raises its usual error). A base file
    that Glance cannot give while it is down may come from a peer
    (``nova_precache.peer_fallback``).
    """

    def cache(self, fetch_func, filename, size=None, safe=False, *args,
              **kwargs):
        fetch_func = peer_fallback.wrap(fetch_func, kwargs)
        if not (CONF.precache.enabled and size and size % units.Gi == 0 and
                not self.preallocate and not self.exists() and
                self._clone(filename, size // units.Gi)):
            super().cache(fetch_func, filename, size, safe, *args, **kwargs)

    def _clone(self, base_name, root_gb):
        cache_dir = os.path.join(CONF.instances_path,
                                 CONF.image_cache.subdirectory_name)
        base = os.path.join(cache_dir, base_name)
        target = targets.path(cache_dir, base_name, root_gb)
        if not os.path.exists(target):
            return False

        @utils.synchronized(base_name, external=True,
                            lock_path=self.lock_path)
        def _locked_clone():
            if not (os.path.exists(base) and os.path.exists(target)):
                return False
            # nova checks the base file at every spawn: so do we.
            if not CONF.workarounds.disable_deep_image_inspection:
                try:
                    images.get_image_format(base).safety_check()
                except format_inspector.SafetyCheckFailed:
                    return False
            imagebackend._update_utime_ignore_eacces(base)
            fileutils.ensure_tree(os.path.dirname(self.path))
            with fileutils.remove_path_on_error(self.path):
                shutil.copyfile(target, self.path)
            return True

        cloned = _locked_clone()
        if cloned:
            LOG.debug('Cloned resize target %(target)s to %(disk)s',
                      {'target': target, 'disk': self.path})
        return cloned


class Backend(imagebackend.Backend):
    """nova's image backends, with ``Qcow2`` above for qcow2 disks."""

    def __init__(self, use_cow):
        super().__init__(use_cow)
        for name, backend in self.BACKEND.items():
            if backend is imagebackend.Qcow2:
                self.BACKEND[name] = Qcow2
