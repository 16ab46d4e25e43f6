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

import collections
from concurrent import futures
import os
import stat
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

from nova_precache import budget
from nova_precache import catalog
from nova_precache import conf
from nova_precache import critical
from nova_precache import fetch
from nova_precache import glance_health
from nova_precache import local_disks
from nova_precache import peers
from nova_precache import ranking
from nova_precache import stats
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF

# What a pass did with an image of its plan (``carry_out``'s outcomes).
PRESENT = 'present'
FETCHED = 'fetched'
WAITING = 'waiting for Glance'
DOWNLOADING = 'still downloading'
# Name of the fetch pool's threads, as a thread dump shows them.
FETCH_THREADS = 'precache-fetch'


class PrecacheImageCacheManager(imagecache.ImageCacheManager):

    def __init__(self):
        super().__init__()
        # Checked at start-up so that a bad value or a misspelt ranker
        # stops nova-compute with a clear message instead of failing every
        # periodic task.
        if CONF.precache.enabled:
            conf.check(CONF)
        self.rankers = (ranking.load(CONF.precache.rankers)
                        if CONF.precache.enabled else [])
        self.critical_images = critical.CriticalImages()
        self.image_api = glance.API()
        # For what nova's image API leaves out of image metadata.
        self.glance_client = glance.GlanceClientWrapper()
        self.glance_health = glance_health.GlanceHealth()
        self.catalog = None
        self.cut = None
        self._protected = set()
        self._published = None
        self._best_first = []
        self._glance_context = None
        self._in_pass = False
        # Fetches running, {future: image_id}; they may outlive a pass.
        self._fetches = {}
        self._pool = None
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
        self.load_catalog()
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
        summary = self.carry_out(context, self.cut)
        summary['seconds'] = time.monotonic() - started
        LOG.info('Pre-caching pass: %(kept)d images kept, %(fetched)d '
                 'fetched (%(bytes)d bytes), %(failed)d failed, %(deferred)d '
                 'waiting for Glance, %(left_out)d left out by the budget, '
                 '%(targets)d resize targets built, in %(seconds).2f s',
                 summary)

    def _age_and_verify_cached_images(self, context, all_instances,
                                      base_dir):
        if self._in_pass:
            in_use = {image_id: local + remote for image_id, (
                      local, remote, _) in self.used_images.items()
                      if uuidutils.is_uuid_like(image_id) and local + remote}
            try:
                self.cut = self.plan(context, in_use)[1]
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
            try:
                backing_file, size = local_disks.backing_file(disk_path)
            except processutils.ProcessExecutionError:
                # As nova (bug 1261442): a disk deleted under our feet.
                if not os.path.exists(disk_path):
                    continue
                raise
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
            if size and size % units.Gi == 0:
                self.local_disks.setdefault(backing_file, set()).add(
                    size // units.Gi)
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

    # The plan.

    def load_catalog(self):
        """Read this host's catalog afresh for a pass or a plan."""
        self.catalog = catalog.Catalog(self.cache_dir, self.lock_path)
        return self.catalog

    def plan(self, context, in_use, ask_glance=True):
        """Rank this host's images and cut the ranking to the budget.

        :param context: admin context.
        :param in_use: {image_id: number of local instances using it}
        :param ask_glance: whether to ask Glance for the metadata of the
            images the catalog does not know yet.
        :returns: (the ranked list of ranking.PlanEntry, its budget.Cut)
        """
        for image_id in in_use:
            self.catalog.record(image_id)
        critical_images = self.critical_images.load(
            CONF.precache.critical_images_file)
        signals = ranking.Signals(context, CONF.host, in_use,
                                  critical_images, self.catalog)
        plan = ranking.rank(self.rankers, signals)
        must_keep = set(in_use) | set(critical_images)
        window = plan[:CONF.precache.max_images + len(must_keep)]
        if ask_glance and self._learn(context,
                                      [e.image_id for e in window]):
            # What Glance told (owners) may change the order.
            plan = ranking.rank(self.rankers, signals)

        present = {e.image_id for e in plan
                   if os.path.exists(self.catalog.base_file(e.image_id))}
        # Images Glance said it does not have cannot be fetched: not
        # "waiting for Glance", and not asked about again.
        plan = [e for e in plan if e.image_id in present or (
                self.catalog.metadata(e.image_id) or {}).get(
                    'status') != 'not_found']
        sizes = {e.image_id: _space_needed(
                 self.catalog.metadata(e.image_id) or {})
                 for e in plan if e.image_id not in present}
        sizes = {i: s for i, s in sizes.items() if s is not None}
        cut = budget.cut(plan, must_keep, present, sizes,
                         _cache_bytes(self.cache_dir),
                         _free_bytes(self.cache_dir))
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
        return plan, cut

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
            if meta.get('status') != 'not_found':
                meta = dict(meta, virtual_size=self._virtual_size(
                    context, image_id))
            self.catalog.learn(image_id, meta)
            learned = True
        return learned

    def _virtual_size(self, context, image_id):
        """Glance's virtual_size of an image, or None.

        nova's image API drops it from the metadata; the budget needs it
        to know what converting the image to raw will take.
        """
        try:
            image = self.glance_client.call(self._glance(context), 2, 'get',
                                            args=(image_id,))
        except Exception as e:
            LOG.debug('No virtual size for image %(image)s: %(error)s',
                      {'image': image_id, 'error': e})
            return None
        return image.get('virtual_size')

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

    def carry_out(self, context, cut, prune_targets=True, wait_all=False):
        """Fetch and touch what ``cut`` keeps, build targets, publish.

        :param prune_targets: remove the resize targets no longer wanted.
        :param wait_all: wait for every download, not ``[glance] timeout``.
        :returns: the pass's counts, and in ``outcomes`` what became of
            each image of the plan: present, fetched, failed (and why),
            waiting for Glance, still downloading or left out (and why).
        """
        fetching = {e.image_id for e in cut.fetch}
        outcomes = {}
        for entry in cut.keep:
            if entry.image_id not in fetching:
                self._touch(self.catalog.base_file(entry.image_id))
                outcomes[entry.image_id] = PRESENT
        for entry, why in cut.left_out:
            outcomes[entry.image_id] = (
                WAITING if why == budget.NO_METADATA else 'left out: ' + why)
        fetch.remove_leftovers(self.cache_dir, self.lock_path)
        peers.remove_leftovers(self.cache_dir, self.lock_path)
        new = [e.image_id for e in cut.fetch
               if e.image_id not in self._fetches.values()]
        if self.glance_health.available():
            if self._pool is None:
                self._pool = futures.ThreadPoolExecutor(
                    CONF.precache.fetch_concurrency,
                    thread_name_prefix=FETCH_THREADS)
            self._fetches.update(
                (self._pool.submit(self._fetch, context, image_id), image_id)
                for image_id in new)
        else:
            outcomes.update((image_id, WAITING) for image_id in new)
        fetched_bytes = self._wait_for_fetches(outcomes, wait_all)
        built = self._build_targets(cut, prune_targets)
        self.catalog.save()
        self._best_first = [e.image_id for e in cut.keep]
        self._published = None
        counts = collections.Counter(o.split(':')[0] for o in
                                     outcomes.values())
        return {'kept': len(cut.keep), 'fetched': counts[FETCHED],
                'failed': counts['failed'],
                'deferred': counts[WAITING] + counts[DOWNLOADING],
                'bytes': fetched_bytes, 'left_out': counts['left out'],
                'targets': built, 'outcomes': outcomes}

    def _wait_for_fetches(self, outcomes, wait_all=False):
        """Wait at most ``[glance] timeout`` s for the fetches; their bytes.

        That bounds the pass, which holds up nova-compute's other periodic
        tasks, even when Glance trickles bytes too slowly for the timeout
        of each read to fire. A fetch still running then goes on in the
        background, under its base file's lock (a spawn needing the image
        waits for it, as for a spawn's own download); a later pass counts
        it when it ends and starts no second fetch of it meanwhile.
        """
        fetched_bytes = 0
        timeout = None if wait_all else CONF.glance.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._fetches:
            left = None if deadline is None else deadline - time.monotonic()
            done, _ = futures.wait(self._fetches, timeout=left,
                                   return_when=futures.FIRST_COMPLETED)
            if not done:
                break
            for job in done:
                fetched_bytes += self._fetched(self._fetches.pop(job), job,
                                               outcomes)
        for image_id in self._fetches.values():
            LOG.info('Image %(image)s is still downloading after %(timeout)s '
                     's ([glance] timeout): the pass goes on without it',
                     {'image': image_id, 'timeout': timeout})
            outcomes[image_id] = DOWNLOADING
        return fetched_bytes

    def fetching(self):
        """IDs of the images downloading now, for this pass or before."""
        # A copy: a pass may be adding and removing fetches meanwhile.
        return sorted({image_id for job, image_id in
                       list(self._fetches.items()) if not job.done()})

    def _fetched(self, image_id, job, outcomes):
        """Record how fetch ``job`` ended; the bytes it brought."""
        if job.cancelled():
            outcomes[image_id] = WAITING
            return 0
        try:
            fetched = job.result()
            self.glance_health.succeeded()
            if not fetched:
                outcomes[image_id] = PRESENT
                return 0
            outcomes[image_id] = FETCHED
            return os.stat(self.catalog.base_file(image_id)).st_blocks * 512
        except Exception as e:
            if glance_health.is_outage(e):
                # Logged once by glance_health; what has not started waits
                # for Glance to come back.
                outcomes[image_id] = WAITING
                self.glance_health.failed(e)
                for other in self._fetches:
                    other.cancel()
                return 0
            outcomes[image_id] = 'failed: %s' % e
            LOG.error('Pre-caching image %(image)s failed: %(error)s',
                      {'image': image_id, 'error': e})
            return 0

    def wanted_targets(self, cut):
        """{(base file name, root_gb)} of the targets spawns here want."""
        wanted = {(base, gb) for base, sizes in self.local_disks.items()
                  for gb in sizes}
        for entry in cut.keep:
            base = imagecache.get_cache_fname(entry.image_id)
            wanted.update((base, gb)
                          for gb in CONF.precache.resize_target_sizes)
        return wanted

    def _build_targets(self, cut, prune=True):
        """Make the resize targets spawns here will want; age the rest."""
        wanted = self.wanted_targets(cut)
        built = 0
        for base, root_gb in sorted(wanted):
            try:
                built += targets.build(self.cache_dir, base, root_gb,
                                       self.lock_path)
            except Exception as e:
                LOG.error('Cannot build the %(gb)dG resize target of '
                          '%(base)s: %(error)s',
                          {'gb': root_gb, 'base': base, 'error': e})
        if prune:
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
            try:
                os.utime(base_file)
            except FileNotFoundError:
                pass
            except PermissionError:
                # libvirt may have given the file to the qemu user; nova
                # touches base files through privsep for that reason.
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


def _cache_bytes(cache_dir):
    """Disk space the base files use.

    Not nova's get_disk_usage(): that counts what the cache takes from the
    instances' disk, and is 0 when the cache is on a file system of its own.
    """
    used = 0
    try:
        names = os.listdir(cache_dir)
    except FileNotFoundError:
        return 0
    for name in names:
        try:
            st = os.stat(os.path.join(cache_dir, name))
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            used += st.st_blocks * 512
    return used


def _space_needed(meta):
    """Disk space a fetch of the image takes at most, or None if unknown.

    The download; and when nova converts it to raw, the raw file too
    (Glance's virtual_size), written while the download is still there. A
    compressed qcow2 of a few KiB may be GiBs of raw.
    """
    size = meta.get('size')
    if not isinstance(size, int):
        return None
    virtual_size = meta.get('virtual_size')
    if (CONF.force_raw_images and meta.get('disk_format') != 'raw' and
            isinstance(virtual_size, int)):
        return size + virtual_size
    return size


def _free_bytes(path):
    """Free space for the cache, before ``path`` exists too."""
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
