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

"""Carry a plan out: fetch what it lacks, touch what it keeps, build targets.

Fetches run ``[precache] fetch_concurrency`` at a time in a pool that
outlives a pass: the pass waits for them at most ``[glance] timeout``, so
that a Glance trickling bytes cannot hold up nova-compute's other periodic
tasks, and a fetch still running then is counted by a later pass and
never started twice. Each image comes from where ``nova_precache.sources``
says: peers, Glance, or neither yet; while Glance is unavailable, the
critical images it has not described are copied from peers too.
"""

import collections
from concurrent import futures
import os
import time

from oslo_log import log as logging

from nova_precache import budget
from nova_precache import conf
from nova_precache import fetch
from nova_precache import files
from nova_precache import fleet
from nova_precache import glance
from nova_precache import notifications
from nova_precache import peers
from nova_precache import planner
from nova_precache import sources
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF

# What became of an image of the plan (the summary's ``outcomes``).
PRESENT = 'present'
FETCHED = 'fetched from Glance'
COPIED = 'copied from peer %s'
WAITING = 'waiting for Glance'
WAITING_PEER = 'waiting for a peer'
DOWNLOADING = 'still downloading'
# Name of the fetch pool's threads, as a thread dump shows them.
FETCH_THREADS = 'precache-fetch'


class Carrier(object):
    """Carries plans out for the cache at ``cache_dir``."""

    def __init__(self, cache_dir, lock_path, glance_api):
        self.cache_dir = cache_dir
        self.lock_path = lock_path
        self.glance = glance_api
        # Fetches running, {future: image_id}; they may outlive a pass.
        self._fetches = {}
        # {image_id: its sources.Source} of the fetches running.
        self._sources = {}
        self._pool = None
        self.sources = sources.Sources()
        # {image_id: (context, catalog, when to look again)} of the images
        # waiting for a peer.
        self._awaiting = {}

    def carry_out(self, context, plan, catalog, root_sizes,
                  prune_targets=True, wait_all=False, critical=()):
        """Fetch and touch what ``plan`` keeps, build the targets.

        :param root_sizes: {base file name: set of root_gb} of the local
            instances' root disks, for the targets they want.
        :param prune_targets: remove the resize targets no longer wanted.
        :param wait_all: wait for every download, not ``[glance] timeout``.
        :param critical: the critical image IDs: fetched first.
        :returns: the counts, and in ``outcomes`` what became of each
            image of the plan: present, fetched from Glance, copied from a
            peer, failed (and why), waiting for Glance or a peer, still
            downloading or left out (and why).
        """
        cut = plan.cut
        fetching = {e.image_id for e in cut.fetch}
        outcomes = {}
        for entry in cut.keep:
            if entry.image_id not in fetching:
                files.touch(catalog.base_file(entry.image_id),
                            self.lock_path)
                outcomes[entry.image_id] = PRESENT
        for entry, why in cut.left_out:
            outcomes[entry.image_id] = (
                WAITING if why == budget.NO_METADATA else 'left out: ' + why)
        fetch.remove_leftovers(self.cache_dir, self.lock_path)
        peers.remove_leftovers(self.cache_dir, self.lock_path)
        glance_up = self.glance.health.available()
        wanted = [e.image_id for e in cut.fetch]
        if not glance_up:
            # Not described by Glance yet, so out of the budget's cut: the
            # critical ones are still worth a peer's copy.
            wanted += [e.image_id for e, why in cut.left_out
                       if why == budget.NO_METADATA and
                       e.image_id in critical]
        wanted.sort(key=lambda image_id: image_id not in critical)
        new = [i for i in wanted if i not in self._fetches.values()]
        self._awaiting.clear()
        for image_id, source in self._choose(context, new, glance_up):
            if source.kind == sources.WAIT or (
                    source.kind == sources.GLANCE and not glance_up):
                outcomes[image_id] = (WAITING_PEER if glance_up
                                      else WAITING)
                if glance_up:
                    self._awaiting[image_id] = (
                        context, catalog,
                        self.sources.clock() + sources.retry_seconds())
                LOG.debug('Image %(image)s: %(outcome)s, %(why)s',
                          {'image': image_id, 'why': source.why,
                           'outcome': outcomes[image_id]})
                continue
            self._submit(context, catalog, image_id, source)
        fetched_bytes = self._wait(catalog, outcomes, wait_all)
        built = self._build_targets(
            planner.wanted_targets(root_sizes, cut), prune_targets)
        catalog.save()
        counts = collections.Counter(o.split(':')[0] for o in
                                     outcomes.values())
        copied = sum(1 for o in outcomes.values()
                     if o.startswith(COPIED % ''))
        return {'kept': len(cut.keep), 'fetched': counts[FETCHED] + copied,
                'from_glance': counts[FETCHED], 'from_peers': copied,
                'failed': counts['failed'],
                'deferred': (counts[WAITING] + counts[DOWNLOADING] +
                             counts[WAITING_PEER]),
                'waiting_glance': counts[WAITING] + counts[DOWNLOADING],
                'waiting_peer': counts[WAITING_PEER],
                'bytes': fetched_bytes, 'left_out': counts['left out'],
                'targets': built, 'outcomes': outcomes}

    def _choose(self, context, image_ids, glance_up):
        """[(image_id, sources.Source)]: Glance alone if peers fail us."""
        view = self.sources.view(context) if image_ids else None
        chosen = []
        for image_id in image_ids:
            try:
                source = self.sources.choose(view, image_id, glance_up)
            except Exception as e:
                LOG.warning('Cannot read the holders of image %(image)s '
                            '(%(error)s): it comes from Glance',
                            {'image': image_id, 'error': e})
                source = sources.Source(sources.GLANCE, [], True, str(e))
            chosen.append((image_id, source))
        return chosen

    def retry_waiting(self):
        """Copy the images waiting for a peer whose parent now holds them.

        Called between passes (the driver's resource update): each image
        due for a look costs one read, its parent's compute node.
        """
        now = self.sources.clock()
        for image_id, (context, catalog, due) in list(
                self._awaiting.items()):
            if due > now:
                continue
            parent = fleet.View(fleet.FLEET, context, CONF.host,
                                {}).parent(image_id)
            if parent is None or image_id not in parent.images or (
                    not parent.address):
                self._awaiting[image_id] = (context, catalog,
                                            now + sources.retry_seconds())
                continue
            del self._awaiting[image_id]
            LOG.info('Image %(image)s: its parent %(peer)s holds it now',
                     {'image': image_id, 'peer': parent.host})
            self._submit(context, catalog, image_id, sources.Source(
                sources.PEERS, [peers.Peer(parent.host, parent.address)],
                True, 'its parent holds it now'))

    def _submit(self, context, catalog, image_id, source):
        if self._pool is None:
            self._pool = futures.ThreadPoolExecutor(
                CONF.precache.fetch_concurrency,
                thread_name_prefix=FETCH_THREADS)
        self._sources[image_id] = source
        self._fetches[self._pool.submit(
            self._fetch, context, catalog, image_id, source)] = image_id

    def fetching(self):
        """IDs of the images downloading now, for this pass or before."""
        # A copy: a pass may be adding and removing fetches meanwhile.
        return sorted({image_id for job, image_id in
                       list(self._fetches.items()) if not job.done()})

    def _fetch(self, context, catalog, image_id, source):
        """Bring ``image_id`` here: (outcome, source), or None if present.

        ``source`` is what the catalog records: Glance, or the peer.
        """
        meta = catalog.metadata(image_id) or {}
        LOG.info('Pre-caching image %(image)s (%(size)s bytes) from %(from)s',
                 {'image': image_id, 'size': meta.get('size'),
                  'from': ', '.join(p.host for p in source.peers) or
                  'Glance'})
        catalog.record(image_id)
        if source.peers:
            try:
                host = peers.copy_from_peers(
                    context, image_id, source.peers, meta, self.cache_dir,
                    self.lock_path)
                return host and (COPIED % host, 'peer %s' % host)
            except peers.PeerCopyFailed as e:
                if not source.glance_after:
                    raise
                LOG.warning('%s: downloading it from Glance', e)
        fetched = fetch.fetch(self.glance.context(context), image_id,
                              catalog.base_file(image_id), self.lock_path,
                              meta, verify_on_disk=fetch.unconverted(meta))
        return fetched and (FETCHED, 'Glance')

    def _wait(self, catalog, outcomes, wait_all=False):
        """Wait at most ``[glance] timeout`` s for the fetches; their bytes.

        A fetch still running then goes on in the background, under its
        base file's lock (a spawn needing the image waits for it, as for a
        spawn's own download).
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
                fetched_bytes += self._fetched(
                    catalog, self._fetches.pop(job), job, outcomes)
        for image_id in self._fetches.values():
            LOG.info('Image %(image)s is still downloading after %(timeout)s '
                     's ([glance] timeout): the pass goes on without it',
                     {'image': image_id, 'timeout': timeout})
            outcomes[image_id] = DOWNLOADING
        return fetched_bytes

    def _fetched(self, catalog, image_id, job, outcomes):
        """Record how fetch ``job`` ended; the bytes it brought."""
        self._sources.pop(image_id, None)
        if job.cancelled():
            outcomes[image_id] = WAITING
            return 0
        try:
            fetched = job.result()
            self.sources.done(image_id)
            if not fetched:
                outcomes[image_id] = PRESENT
                return 0
            outcomes[image_id], came_from = fetched
            if came_from == 'Glance':
                self.glance.health.succeeded()
            catalog.note_source(image_id, came_from)
            return os.stat(catalog.base_file(image_id)).st_blocks * 512
        except Exception as e:
            if glance.is_outage(e):
                # Logged once by the health; what has not started waits for
                # Glance to come back.
                outcomes[image_id] = WAITING
                self.glance.health.failed(e)
                for other, other_id in self._fetches.items():
                    if not getattr(self._sources.get(other_id), 'peers',
                                   None):
                        other.cancel()
                return 0
            outcomes[image_id] = 'failed: %s' % e
            LOG.error('Pre-caching image %(image)s failed: %(error)s',
                      {'image': image_id, 'error': e})
            notifications.fetch_error(CONF.host, image_id, e)
            return 0

    def _build_targets(self, wanted, prune=True):
        """Make the resize targets spawns here will want; age the rest."""
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
