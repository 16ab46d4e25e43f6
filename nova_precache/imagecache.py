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

"""Image cache manager that pre-caches images on top of nova's own.

nova-compute's periodic task ``_run_image_cache_manager_pass`` calls
``update()``. With ``[precache] enabled`` one pass is nova's own
bookkeeping, unchanged except that the files the plan keeps are not
removed by its aging; the plan (``nova_precache.planner``), made when
nova's aging starts, from what nova found in use; and the plan carried
out (``nova_precache.carrier``). This module holds nova's hooks and what
the driver publishes in its stats (``nova_precache.stats``).

Disabled, it is nova's ``ImageCacheManager``.
"""

import functools
import os
import time

from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import uuidutils

from nova.virt.libvirt import imagecache

from nova_precache import carrier
from nova_precache import catalog
from nova_precache import conf
from nova_precache import critical
from nova_precache import discovery
from nova_precache import fleet
from nova_precache import glance
from nova_precache import local_disks
from nova_precache import notifications
from nova_precache import planner
from nova_precache import ranking
from nova_precache import stats
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class PrecacheImageCacheManager(imagecache.ImageCacheManager):

    def __init__(self):
        # Checked at start-up so that a bad value or a misspelt ranker
        # stops nova-compute with a clear message instead of failing every
        # periodic task.
        if CONF.precache.enabled:
            conf.check(CONF)
        self.rankers = (ranking.load(CONF.precache.rankers)
                        if CONF.precache.enabled else [])
        self.glance = glance.Glance()
        self.catalog = None
        self._published = None
        self._best_first = []
        # Whether nova's bookkeeping runs from this update(): only then is
        # there a catalog to plan with.
        self._in_pass = False
        super().__init__()
        self.critical_images = critical.CriticalImages(
            os.path.join(self.cache_dir, catalog.DIRNAME), self.lock_path)
        self.carrier = carrier.Carrier(self.cache_dir, self.lock_path,
                                       self.glance)
        self.discovery = discovery.Discovery(
            self.glance, os.path.join(self.cache_dir, catalog.DIRNAME),
            self.lock_path)

    def _reset_state(self):
        """Reset the state of one pass: nova's, and the plan's."""
        super()._reset_state()
        self.last_plan = None
        # Base files the plan keeps; None: no plan, so nothing is known
        # to be unwanted.
        self.kept_files = frozenset()
        # {base file name: set of root_gb} of the local instance disks.
        self.root_sizes = {}
        # The critical list the plan was made with.
        self.critical = {}

    # nova's pass, with the plan's files protected from its aging.

    def update(self, context, all_instances):
        if not CONF.precache.enabled:
            return super().update(context, all_instances)
        if not os.path.isdir(CONF.instances_path):
            # Not ours to create: nova skips the pass as well.
            LOG.warning('Pre-caching skipped: instances_path %s does not '
                        'exist', CONF.instances_path)
            return super().update(context, all_instances)
        started = time.monotonic()
        fleet.forget(CONF.host)
        fileutils.ensure_tree(self.cache_dir)
        self.catalog = catalog.Catalog(self.cache_dir, self.lock_path)
        self._in_pass = True
        try:
            super().update(context, all_instances)
        finally:
            self._in_pass = False
        if self.last_plan is None:
            return
        summary = self.carrier.carry_out(context, self.last_plan,
                                         self.catalog, self.root_sizes,
                                         critical=self.critical)
        self._best_first = [e.image_id for e in self.last_plan.cut.keep]
        self._published = None
        summary['seconds'] = time.monotonic() - started
        LOG.info('Pre-caching pass: %(kept)d images kept, %(fetched)d '
                 'fetched (%(bytes)d bytes; %(from_glance)d from Glance, '
                 '%(from_peers)d from peers), %(failed)d failed, '
                 '%(waiting_glance)d waiting for Glance, %(waiting_peer)d '
                 'waiting for a peer, %(left_out)d left out by the budget, '
                 '%(targets)d resize targets built, in %(seconds).2f s',
                 summary)
        notifications.pass_end(CONF.host, summary)

    def _age_and_verify_cached_images(self, context, all_instances,
                                      base_dir):
        if self._in_pass:
            try:
                self.last_plan = self._plan(context)
                self.kept_files = {self.catalog.base_file(e.image_id)
                                   for e in self.last_plan.cut.keep}
            except Exception:
                LOG.exception('Pre-caching could not make its plan: no base '
                              'file is removed in this pass')
                self.kept_files = None
        super()._age_and_verify_cached_images(context, all_instances,
                                              base_dir)

    def _plan(self, context):
        # What nova counted: instances using each image, here and on hosts
        # sharing this storage.
        in_use = {image_id: local + remote for image_id, (
                  local, remote, _) in self.used_images.items()
                  if uuidutils.is_uuid_like(image_id) and local + remote}
        self.critical = self.critical_images.load(
            CONF.precache.critical_images_file)
        inputs = planner.Inputs(
            context, CONF.host, self.rankers, self.catalog, in_use,
            self.critical, self.cache_dir)
        self.discovery.refresh(context, self.catalog)
        return planner.make(
            inputs, learn=functools.partial(self.glance.learn, context,
                                            self.catalog),
            reread=functools.partial(self.discovery.reread, context,
                                     self.catalog))

    def _remove_base_file(self, base_file):
        if self.kept_files is None or base_file in self.kept_files:
            LOG.info('Not removing base file %s: the pre-caching plan keeps '
                     'it', base_file)
            return
        super()._remove_base_file(base_file)

    def _list_backing_images(self):
        """nova's in-use backing files, from the qcow2 headers.

        The same walk and result as nova's, but each disk's backing file is
        read from its qcow2 header instead of a prlimit-wrapped qemu-img
        per disk; any disk the header reader is unsure of goes to qemu-img
        as in nova. The disks' sizes are kept for the resize targets.

        Unlike nova's, it also counts the ``<uuid>_resize`` directories of
        instances this host was not given: after a resize or cold
        migration to another host, the old disk waits there for a revert
        until the move is confirmed or reverted, but the instance's host is
        already the destination, and nova would age out the base file a
        revert needs.
        """
        if not CONF.precache.enabled:
            return super()._list_backing_images()
        inuse_images = []
        for ent in os.listdir(CONF.instances_path):
            awaiting_revert = (ent not in self.instance_names and
                               ent.endswith('_resize'))
            if ent not in self.instance_names and not awaiting_revert:
                continue
            if awaiting_revert:
                self._keep_swap_and_ephemeral_bases(ent)
            disk_path = os.path.join(CONF.instances_path, ent, 'disk')
            if not os.path.exists(disk_path):
                continue
            backing_file, size = local_disks.existing_backing_file(disk_path)
            if not backing_file:
                continue
            if awaiting_revert:
                LOG.info('Keeping base file %(backing)s: it backs the disk '
                         'in %(instance)s, kept for reverting a resize or '
                         'migration',
                         {'instance': ent, 'backing': backing_file})
            else:
                LOG.debug('Instance %(instance)s is backed by %(backing)s',
                          {'instance': ent, 'backing': backing_file})
            if local_disks.root_gb(size):
                self.root_sizes.setdefault(backing_file, set()).add(
                    local_disks.root_gb(size))
            backing_path = os.path.join(self.cache_dir, backing_file)
            if backing_path not in inuse_images:
                inuse_images.append(backing_path)
            if backing_path in self.unexplained_images:
                if not awaiting_revert:
                    LOG.warning('Instance %(instance)s is using a backing '
                                'file %(backing)s which does not appear in '
                                'the image service',
                                {'instance': ent, 'backing': backing_file})
                self.unexplained_images.remove(backing_path)
        return inuse_images

    def _keep_swap_and_ephemeral_bases(self, ent):
        """Count the swap and ephemeral base files of ``ent``'s disks in use.

        nova counts them from the block device mappings of the instances
        it was given, which the instance of a revert's disks is not.
        """
        directory = os.path.join(CONF.instances_path, ent)
        try:
            disks = local_disks.instance_disks(directory)
        except (FileNotFoundError, NotADirectoryError):
            # Confirmed or reverted meanwhile; or not an instance's.
            return
        for name, backing_file, _ in disks:
            if name == 'disk':
                continue
            LOG.info('Keeping base file %(backing)s: it backs %(disk)s in '
                     '%(instance)s, kept for reverting a resize or migration',
                     {'backing': backing_file, 'disk': name,
                      'instance': ent})
            if backing_file.startswith('swap_'):
                self.used_swap_images.add(backing_file)
            else:
                self.used_ephemeral_images.add(backing_file)

    # Publishing.

    def record(self, image_id):
        """Note an image nova itself cached (``cache_image`` or a spawn).

        One without a base file (volume-backed) or published already
        changes nothing.
        """
        if not CONF.precache.enabled:
            return
        if (self._published is not None and
                image_id in stats.decode(self._published[1])):
            return
        cat = catalog.Catalog(self.cache_dir, self.lock_path)
        if not os.path.exists(cat.base_file(image_id)):
            return
        cat.record(image_id)
        cat.save()
        self._published = None

    def _publish(self):
        """(catalog stamp, stats) of what the catalog on disk holds.

        The last plan's images come first, so that the most valuable ones
        survive the stats' bound. Only files are read: the resource
        tracker may call this during a pass.
        """
        stamp = catalog.stamp(self.cache_dir)
        cached = set(catalog.Catalog(self.cache_dir, self.lock_path).cached())
        ordered = [i for i in self._best_first if i in cached]
        ordered += sorted(cached - set(ordered))
        ready = targets.present(self.cache_dir)
        return stamp, stats.encode(
            {image_id: sorted(ready.get(
                imagecache.get_cache_fname(image_id), ()))
             for image_id in ordered},
            critical=self.critical_images.load(
                CONF.precache.critical_images_file))

    def retry_waiting(self):
        """Between passes: copy what waits for a peer that now holds it."""
        if CONF.precache.enabled and CONF.precache.peer_fetch:
            self.carrier.retry_waiting()

    def published_stats(self):
        """Stats entries for the driver's get_available_resource().

        Made again whenever the catalog changed since: a pass here, nova's
        pre-cache API, or ``nova-precache run`` in another process.
        """
        if not CONF.precache.enabled:
            return {}
        if (self._published is None or
                self._published[0] != catalog.stamp(self.cache_dir)):
            self._published = self._publish()
        return self._published[1]
