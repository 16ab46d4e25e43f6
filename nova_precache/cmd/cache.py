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

"""``status``, ``plan`` and ``run``: this host's cache, seen and driven.

They read what nova-compute's pass reads (the instances' disks, the
catalog, the critical list, nova.conf) but not nova's database, which a
compute node cannot reach: an instance directory on disk counts as a local
instance, and the ``cluster_usage`` ranker, which reads the other hosts'
stats through the conductor, has no say here. ``run`` fetches and builds
but never removes a base file: aging needs nova's view of the instances
and stays with nova-compute's periodic task.
"""

import os
import time

from cliff import lister
from oslo_log import log as logging
from oslo_utils import fileutils

from nova import context as nova_context

from nova_precache import carrier
from nova_precache import cmd
from nova_precache.cmd import host_cache
from nova_precache.cmd import progress
from nova_precache import conf
from nova_precache import discovery
from nova_precache import notifications
from nova_precache import planner
from nova_precache import targets

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def _name(catalog, image_id):
    return (catalog.metadata(image_id) or {}).get('name') or ''


def _size(catalog, image_id):
    return (catalog.metadata(image_id) or {}).get('size')


def _age(seconds):
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return '%dm%02ds' % divmod(seconds, 60)
    if seconds < 86400:
        return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
    return '%dd%02dh' % (seconds // 86400, seconds % 86400 // 3600)


class Plan(cmd.Command, lister.Lister):
    """The ranking and budget cut the next pass would make, with reasons.

    Reads only files: nothing is fetched and Glance is not asked. An image
    Glance has not described yet shows as waiting for its metadata.
    """

    def take_action(self, parsed_args):
        host = host_cache.HostCache()
        plan = host.plan(nova_context.get_admin_context(), ask_glance=False)
        return (('Rank', 'Image ID', 'Name', 'Size', 'Glance status',
                 'Decision', 'Reasons'),
                [(rank, e.image_id, _name(host.catalog, e.image_id),
                  _size(host.catalog, e.image_id),
                  discovery.shown_status(host.catalog, e.image_id), decision,
                  '; '.join(e.reasons))
                 for rank, e, decision in planner.decisions(plan)])


class Status(cmd.Command, lister.Lister):
    """Every file in the cache: what it is, why it is kept, what goes next.

    ``Fate`` says what nova-compute's next pass does with the file:
    keep it (and why), remove it, or leave it until it is old enough.
    """

    def take_action(self, parsed_args):
        host = host_cache.HostCache()
        plan = host.plan(nova_context.get_admin_context(), ask_glance=False)
        kept = {e.image_id: rank for rank, e, decision in
                planner.decisions(plan) if decision in ('keep', 'fetch')}
        reasons = {e.image_id: e.reasons for e in plan.entries}
        now = time.time()
        rows = []
        names = (os.listdir(host.cache_dir)
                 if os.path.isdir(host.cache_dir) else [])
        max_age = host_cache.NovaAging(host.cache_dir).max_age if names else {}
        for name in sorted(names):
            path = os.path.join(host.cache_dir, name)
            if not os.path.isfile(path):
                continue
            image_id = host.image_of.get(name.split('_')[0])
            why = []
            if image_id in host.critical:
                why.append('critical' + (
                    ' (%s)' % host.critical[image_id]
                    if host.critical[image_id] else ''))
            users = len({d.instance for d in host.disks.get(name, ())})
            if users:
                why.append('in use by %d local instance(s)' % users)
            if image_id in kept and '_' not in name:
                why.append('plan rank %d: %s' % (
                    kept[image_id], '; '.join(reasons[image_id])))
            st = os.stat(path)
            fate = _fate(max_age.get(name), now - st.st_mtime, users,
                         image_id in kept and '_' not in name)
            rows.append((name, image_id or '', st.st_blocks * 512,
                         _age(now - st.st_mtime),
                         discovery.shown_status(host.catalog, image_id), fate,
                         '; '.join(why),
                         _source(host.catalog, image_id, name)))
        wanted = planner.wanted_targets(host.root_sizes, plan.cut)
        for (base, root_gb), path in sorted(_targets(host.cache_dir)):
            st = os.stat(path)
            fate = ('kept: resize target' if (base, root_gb) in wanted else
                    'removed by the next pass: no longer wanted')
            image_id = host.image_of.get(base, '')
            rows.append((os.path.relpath(path, host.cache_dir), image_id,
                         st.st_blocks * 512, _age(now - st.st_mtime),
                         discovery.shown_status(host.catalog, image_id), fate,
                         '%dG resize target of %s' % (root_gb, base),
                         'built here'))
        return (('File', 'Image ID', 'Bytes', 'Age', 'Glance status', 'Fate',
                 'Why', 'Source'), rows)


def _source(catalog, image_id, name):
    """Where a base file came from: Glance, a peer, or a spawn (unknown)."""
    if not image_id or '_' in name:
        return ''
    return catalog.source(image_id) or 'not recorded'


def _targets(cache_dir):
    for base, sizes in targets.present(cache_dir).items():
        for root_gb in sizes:
            yield (base, root_gb), targets.path(cache_dir, base, root_gb)


def _fate(max_age, age, users, planned):
    """What nova's next pass does with a file, by nova's rules.

    :param max_age: the age nova lets the file reach unused, None for a
        file nova does not manage.
    """
    if users:
        return 'kept: in use'
    if planned:
        return 'kept: pre-caching plan'
    if max_age is None:
        return 'not managed by nova'
    if not CONF.image_cache.remove_unused_base_images:
        return 'kept: remove_unused_base_images is off'
    if age >= max_age:
        return 'removed by the next pass'
    return 'removed in %s if still unused' % _age(max_age - age)


class Run(cmd.Command, lister.Lister):
    """Run one pre-caching pass now, e.g. to warm a new compute node.

    Fetches what the plan keeps and the cache lacks, and builds the resize
    targets; removes nothing. Run it as the user nova-compute runs as.
    Exit status 1 when a critical image could not be cached.
    """

    def take_action(self, parsed_args):
        started = time.monotonic()
        if not CONF.precache.enabled:
            raise cmd.BadConfig('[precache] enabled is false: nova-compute '
                                'would not keep what this run fetches')
        host_cache.check_instances_path()
        owner = os.stat(CONF.instances_path).st_uid
        if os.geteuid() != owner:
            raise cmd.BadConfig(
                'run this as the owner of %s (uid %d), as nova-compute '
                'runs: files made by another user would lock it out'
                % (CONF.instances_path, owner))
        host = host_cache.HostCache()
        fileutils.ensure_tree(host.cache_dir)
        context = nova_context.get_admin_context()
        plan = host.plan(context, ask_glance=True)
        downloads = [(e.image_id, host.catalog.base_file(e.image_id),
                      _size(host.catalog, e.image_id))
                     for e in plan.cut.fetch]
        with progress.DownloadProgress(downloads, self.app.stderr):
            summary = carrier.Carrier(
                host.cache_dir, host.lock_path, host.glance).carry_out(
                    context, plan, host.catalog, host.root_sizes,
                    prune_targets=False, wait_all=True,
                    critical=host.critical)
        notifications.pass_end(CONF.host, dict(
            summary, seconds=time.monotonic() - started))
        outcomes = summary['outcomes']
        missing = [i for i in host.critical
                   if not os.path.exists(host.catalog.base_file(i))]
        for image_id in missing:
            self.app.stderr.write(
                'nova-precache: critical image %s is not cached: %s\n'
                % (image_id, outcomes.get(image_id, 'not in the plan')))
        self.exit_code = cmd.EXIT_FAILED if missing else 0
        rows = [(rank, e.image_id, _name(host.catalog, e.image_id),
                 outcomes.get(e.image_id, ''))
                for rank, e, _ in planner.decisions(plan)]
        return ('Rank', 'Image ID', 'Name', 'Outcome'), rows

    def run(self, parsed_args):
        self.exit_code = 0
        return super().run(parsed_args) or self.exit_code
