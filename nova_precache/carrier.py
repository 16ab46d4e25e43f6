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
never started twice.
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
from nova_precache import glance
from nova_precache import notifications
from nova_precache import peers
from nova_precache import planner
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF

# What became of an image of the plan (the summary's ``outcomes``).
PRESENT = 'present'
FETCHED = 'fetched'
WAITING = 'waiting for Glance'
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
        self._pool = None

    def carry_out(self, context, plan, catalog, root_sizes,
                  prune_targets=True, wait_all=False):
        """Fetch and touch what ``plan`` keeps, build the targets.

        :param root_sizes: {base file name: set of root_gb} of the local
            instances' root disks, for the targets they want.
        :param prune_targets: remove the resize targets no longer wanted.
        :param wait_all: wait for every download, not ``[glance] timeout``.
        :returns: the counts, and in ``outcomes`` what became of each
            image of the plan: present, fetched, failed (and why), waiting
            for Glance, still downloading or left out (and why).
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
        new = [e.image_id for e in cut.fetch
               if e.image_id not in self._fetches.values()]
        if self.glance.health.available():
            if self._pool is None:
                self._pool = futures.ThreadPoolExecutor(
                    CONF.precache.fetch_concurrency,
                    thread_name_prefix=FETCH_THREADS)
            self._fetches.update(
                (self._pool.submit(self._fetch, context, catalog, image_id),
                 image_id) for image_id in new)
        else:
            outcomes.update((image_id, WAITING) for image_id in new)
        fetched_bytes = self._wait(catalog, outcomes, wait_all)
        built = self._build_targets(
            planner.wanted_targets(root_sizes, cut), prune_targets)
        catalog.save()
        counts = collections.Counter(o.split(':')[0] for o in
                                     outcomes.values())
        return {'kept': len(cut.keep), 'fetched': counts[FETCHED],
                'failed': counts['failed'],
                'deferred': counts[WAITING] + counts[DOWNLOADING],
                'bytes': fetched_bytes, 'left_out': counts['left out'],
                'targets': built, 'outcomes': outcomes}

    def fetching(self):
        """IDs of the images downloading now, for this pass or before."""
        # A copy: a pass may be adding and removing fetches meanwhile.
        return sorted({image_id for job, image_id in
                       list(self._fetches.items()) if not job.done()})

    def _fetch(self, context, catalog, image_id):
        meta = catalog.metadata(image_id)
        LOG.info('Pre-caching image %(image)s (%(size)s bytes)',
                 {'image': image_id, 'size': meta.get('size')})
        catalog.record(image_id)
        return fetch.fetch(self.glance.context(context), image_id,
                           catalog.base_file(image_id), self.lock_path,
                           meta, verify_on_disk=fetch.unconverted(meta))

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
        if job.cancelled():
            outcomes[image_id] = WAITING
            return 0
        try:
            fetched = job.result()
            self.glance.health.succeeded()
            if not fetched:
                outcomes[image_id] = PRESENT
                return 0
            outcomes[image_id] = FETCHED
            return os.stat(catalog.base_file(image_id)).st_blocks * 512
        except Exception as e:
            if glance.is_outage(e):
                # Logged once by the health; what has not started waits for
                # Glance to come back.
                outcomes[image_id] = WAITING
                self.glance.health.failed(e)
                for other in self._fetches:
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
