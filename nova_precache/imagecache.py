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
``update()``. With ``[precache] enabled`` one pass is:

1. nova's own bookkeeping, unchanged, except that base files the plan
   keeps are not removed by its aging;
2. the plan: rank the images this host's signals name (rankers in
   ``nova_precache.ranking``) and cut the ranking to the budget
   (``nova_precache.budget``); Glance is asked only for the metadata of
   images the catalog does not know yet;
3. fetch what the plan keeps and the cache lacks, best first, through
   nova's download path (``nova_precache.fetch``); touch what it keeps, so
   that a stock nova compute sharing the storage does not age it out;
4. record the cache in the catalog and publish it through the driver's
   stats (``nova_precache.stats``).

Disabled, it is nova's ``ImageCacheManager``.
"""

from concurrent import futures
import os
import time

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import units
from oslo_utils import uuidutils

from nova import context as nova_context
from nova import exception
from nova.image import glance
import nova.privsep.path
from nova import utils
from nova.virt.libvirt import imagecache
from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import budget
from nova_precache import catalog
from nova_precache import conf
from nova_precache import critical
from nova_precache import fetch
from nova_precache import glance_health
from nova_precache import qcow2
from nova_precache import ranking
from nova_precache import stats
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class PrecacheImageCacheManager(imagecache.ImageCacheManager):

    def __init__(self):
        super().__init__()
        # Loaded at start-up so that a misspelt ranker stops nova-compute
        # with a clear message instead of failing every periodic task.
        self.rankers = (ranking.load(CONF.precache.rankers)
                        if CONF.precache.enabled else [])
        self.critical_images = critical.CriticalImages()
        self.image_api = glance.API()
        self.glance_health = glance_health.GlanceHealth()
        self.catalog = None
        self.cut = None
        self._protected = set()
        self._published = None
        self._glance_context = None
        self._in_pass = False
        # {base file name: set of root_gb} of this pass's instance disks.
        self.local_disks = {}

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
        fileutils.ensure_tree(self.cache_dir)
        self.catalog = catalog.Catalog(self.cache_dir, self.lock_path)
        self.cut = None
        self._protected = set()
        self.local_disks = {}
        self._in_pass = True
        try:
            super().update(context, all_instances)
        finally:
            self._in_pass = False
            protected, self._protected = self._protected, set()
        if protected is None:
            return
        summary = self._carry_out(context)
        summary['seconds'] = time.monotonic() - started
        LOG.info('Pre-caching pass: %(kept)d images kept, %(fetched)d '
                 'fetched (%(bytes)d bytes), %(failed)d failed, %(deferred)d '
                 'waiting for Glance, %(left_out)d left out by the budget, '
                 '%(targets)d resize targets built, in %(seconds).2f s',
                 summary)

    def _age_and_verify_cached_images(self, context, all_instances,
                                      base_dir):
        if self._in_pass:
            try:
                self.cut = self._plan(context)
                self._protected = {self.catalog.base_file(entry.image_id)
                                   for entry in self.cut.keep}
            except Exception:
                # Without a plan, nothing is known to be unwanted.
                LOG.exception('Pre-caching could not make its plan: no base '
                              'file is removed in this pass')
                self._protected = None
        super()._age_and_verify_cached_images(context, all_instances,
                                              base_dir)

    def _remove_base_file(self, base_file):
        if self._protected is None or base_file in self._protected:
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
        """
        if not CONF.precache.enabled:
            return super()._list_backing_images()
        inuse_images = []
        for ent in os.listdir(CONF.instances_path):
            if ent not in self.instance_names:
                continue
            disk_path = os.path.join(CONF.instances_path, ent, 'disk')
            if not os.path.exists(disk_path):
                continue
            try:
                backing_file, size = _backing_file(disk_path)
            except processutils.ProcessExecutionError:
                # As nova (bug 1261442): a disk deleted under our feet.
                if not os.path.exists(disk_path):
                    continue
                raise
            if not backing_file:
                continue
            LOG.debug('Instance %(instance)s is backed by %(backing)s',
                      {'instance': ent, 'backing': backing_file})
            if size and size % units.Gi == 0:
                self.local_disks.setdefault(backing_file, set()).add(
                    size // units.Gi)
            backing_path = os.path.join(self.cache_dir, backing_file)
            if backing_path not in inuse_images:
                inuse_images.append(backing_path)
            if backing_path in self.unexplained_images:
                LOG.warning('Instance %(instance)s is using a backing file '
                            '%(backing)s which does not appear in the image '
                            'service', {'instance': ent,
                                        'backing': backing_file})
                self.unexplained_images.remove(backing_path)
        return inuse_images

    # The plan.

    def _plan(self, context):
        in_use = {image_id for image_id, (local, remote, _) in
                  self.used_images.items()
                  if uuidutils.is_uuid_like(image_id) and local + remote}
        for image_id in in_use:
            self.catalog.record(image_id)
        critical_images = self.critical_images.load(
            CONF.precache.critical_images_file)
        signals = ranking.Signals(
            context, CONF.host,
            {i: sum(self.used_images[i][:2]) for i in in_use},
            critical_images, self.catalog)
        plan = ranking.rank(self.rankers, signals)
        must_keep = in_use | set(critical_images)
        window = plan[:CONF.precache.max_images + len(must_keep)]
        if self._learn(context, [e.image_id for e in window]):
            # What Glance told (owners) may change the order.
            plan = ranking.rank(self.rankers, signals)

        present = {e.image_id for e in plan
                   if os.path.exists(self.catalog.base_file(e.image_id))}
        # Images Glance said it does not have cannot be fetched: not
        # "waiting for Glance", and not asked about again.
        plan = [e for e in plan if e.image_id in present or (
                self.catalog.metadata(e.image_id) or {}).get(
                    'status') != 'not_found']
        sizes = {e.image_id: (self.catalog.metadata(e.image_id) or {}).get(
                 'size') for e in plan if e.image_id not in present}
        sizes = {i: s for i, s in sizes.items() if isinstance(s, int)}
        cut = budget.cut(plan, must_keep, present, sizes,
                         self.get_disk_usage(), _free_bytes(self.cache_dir))
        for entry, why in cut.left_out:
            LOG.debug('Leaving out image %(image)s: %(why)s',
                      {'image': entry.image_id, 'why': why})
        if cut.over_budget:
            LOG.warning('The images that must stay cached (in use by local '
                        'instances or critical) exceed the [precache] '
                        'budget: max_images=%(images)d, max_cache_gb=%(gb)g. '
                        'They are all kept; shorten the critical list or '
                        'raise the budget.',
                        {'images': CONF.precache.max_images,
                         'gb': CONF.precache.max_cache_gb})
        return cut

    def _learn(self, context, image_ids):
        """Ask Glance for what the catalog lacks; True if anything learned."""
        learned = False
        for image_id in image_ids:
            if self.catalog.metadata(image_id):
                continue
            if not self.glance_health.available():
                break
            try:
                meta = self.image_api.get(self._glance(context), image_id)
            except exception.ImageNotFound:
                meta = {'status': 'not_found'}
                LOG.warning('Image %s is not in Glance: it will not be '
                            'fetched', image_id)
            except Exception as e:
                if glance_health.is_outage(e):
                    self.glance_health.failed(e)
                    break
                LOG.warning('Cannot learn metadata of image %(image)s from '
                            'Glance: %(error)s',
                            {'image': image_id, 'error': e})
                continue
            self.glance_health.succeeded()
            self.catalog.learn(image_id, meta)
            learned = True
        return learned

    def _glance(self, context):
        """The Nova service user's context if configured, else ``context``."""
        if self._glance_context is None:
            try:
                self._glance_context = (
                    nova_context.get_nova_service_user_context())
            except exception.InvalidConfiguration:
                LOG.debug('[service_user] is not configured: talking to '
                          'Glance with the periodic task\'s admin context')
                self._glance_context = context
        return self._glance_context

    # Carrying the plan out.

    def _carry_out(self, context):
        cut = self.cut
        fetching = {e.image_id for e in cut.fetch}
        for entry in cut.keep:
            if entry.image_id not in fetching:
                self._touch(self.catalog.base_file(entry.image_id))
        fetched, failed, deferred, fetched_bytes = 0, 0, 0, 0
        pending = cut.fetch if self.glance_health.available() else []
        deferred = len(cut.fetch) - len(pending)
        with futures.ThreadPoolExecutor(
                CONF.precache.fetch_concurrency) as pool:
            jobs = {pool.submit(self._fetch, context, entry.image_id): entry
                    for entry in pending}
            for job in futures.as_completed(jobs):
                image_id = jobs[job].image_id
                if job.cancelled():
                    deferred += 1
                    continue
                try:
                    if job.result():
                        fetched += 1
                        fetched_bytes += os.stat(
                            self.catalog.base_file(image_id)).st_blocks * 512
                    self.glance_health.succeeded()
                except Exception as e:
                    if glance_health.is_outage(e):
                        # Logged once by glance_health; what has not
                        # started waits for Glance to come back.
                        deferred += 1
                        self.glance_health.failed(e)
                        for other in jobs:
                            other.cancel()
                        continue
                    failed += 1
                    LOG.error('Pre-caching image %(image)s failed: %(error)s',
                              {'image': image_id, 'error': e})
        built = self._build_targets(cut)
        self.catalog.save()
        self._published = self._publish(
            self.catalog, [e.image_id for e in cut.keep])
        waiting = sum(why == budget.NO_METADATA for _, why in cut.left_out)
        return {'kept': len(cut.keep), 'fetched': fetched, 'failed': failed,
                'deferred': deferred + waiting, 'bytes': fetched_bytes,
                'left_out': len(cut.left_out) - waiting, 'targets': built}

    def _build_targets(self, cut):
        """Make the resize targets spawns here will want; age the rest."""
        wanted = {(base, gb) for base, sizes in self.local_disks.items()
                  for gb in sizes}
        for entry in cut.keep:
            base = imagecache.get_cache_fname(entry.image_id)
            wanted.update((base, gb)
                          for gb in CONF.precache.resize_target_sizes)
        built = 0
        for base, root_gb in sorted(wanted):
            try:
                built += targets.build(self.cache_dir, base, root_gb,
                                       self.lock_path)
            except Exception as e:
                LOG.error('Cannot build the %(gb)dG resize target of '
                          '%(base)s: %(error)s',
                          {'gb': root_gb, 'base': base, 'error': e})
        targets.prune(self.cache_dir, wanted, self.lock_path)
        return built

    def _fetch(self, context, image_id):
        meta = self.catalog.metadata(image_id)
        LOG.info('Pre-caching image %(image)s (%(size)s bytes)',
                 {'image': image_id, 'size': meta.get('size')})
        self.catalog.record(image_id)
        unconverted = (meta.get('disk_format') == 'raw' or
                       not CONF.force_raw_images)
        return fetch.fetch(self._glance(context), image_id,
                           self.catalog.base_file(image_id), self.lock_path,
                           meta, verify_on_disk=unconverted)

    def _touch(self, base_file):
        """Freshen the mtime nova ages by, under nova's lock for the file."""
        @utils.synchronized(os.path.basename(base_file), external=True,
                            lock_path=self.lock_path)
        def _locked_touch():
            if os.path.exists(base_file):
                nova.privsep.path.utime(base_file)

        _locked_touch()

    # Publishing.

    def record(self, image_id):
        """Note an image that nova itself put in the cache.

        nova's pre-cache API (``cache_image``) or a spawn. An image whose
        base file is not there (a volume-backed server) or that is
        published already changes nothing.
        """
        if not CONF.precache.enabled:
            return
        if (self._published is not None and
                image_id in stats.decode(self._published)):
            return
        cat = catalog.Catalog(self.cache_dir, self.lock_path)
        if not os.path.exists(cat.base_file(image_id)):
            return
        cat.record(image_id)
        cat.save()
        self._published = None

    def _publish(self, known, best_first):
        """Stats of the images ``known`` holds, ``best_first`` first."""
        cached = set(known.cached())
        ordered = [i for i in best_first if i in cached]
        ordered += sorted(cached - set(ordered))
        ready = targets.present(self.cache_dir)
        return stats.encode(
            {image_id: sorted(ready.get(
                imagecache.get_cache_fname(image_id), ()))
             for image_id in ordered},
            critical=self.critical_images.load(
                CONF.precache.critical_images_file))

    def published_stats(self):
        """Stats entries for the driver's get_available_resource()."""
        if not CONF.precache.enabled:
            return {}
        published = self._published
        if published is None:
            # Nothing ranked since start-up (or since nova's pre-cache API
            # added an image): what the catalog on disk knows. The resource
            # tracker may call this during a pass: no pass state is used.
            published = self._publish(
                catalog.Catalog(self.cache_dir, self.lock_path), [])
            self._published = published
        return published


def _backing_file(disk_path):
    """(backing file name or None, virtual size or None) of a disk."""
    try:
        header = qcow2.read_header(disk_path)
    except OSError:
        header = None
    if header is None:
        return libvirt_utils.get_disk_backing_file(disk_path), None
    backing_file, size = header
    return backing_file and os.path.basename(backing_file), size


def _free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
