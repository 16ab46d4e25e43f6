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

"""Glance requests and time of the plan with discovery, refreshing or not.

A real glance-api on 127.0.0.1 holds 1000 images, 200 of them the
operator's (active, public), written straight into its database:
uploading 1000 images would take minutes and measure nothing of ours. The
host's catalog knows 300 of them, 100 of the operator's and 200 of the
tenants', and one Glance has since deleted; local instances use 19 of the
tenants' and the deleted one. A pass's plan is made as nova-compute's
pass makes it (``discovery.refresh``, then ``planner.make`` with the
re-read and Glance's metadata lookups), once at a refresh and once
between two; fetching is not measured (``benchmarks.fetch`` is).
Requests are counted where glance-api receives them.

``python -m benchmarks.discovery`` (needs ``GLANCE_VENV``); the last line
reads ``discovery: refresh_requests=R steady_requests=S refresh_s=T``.
"""

import contextlib
import datetime
import os
import sqlite3
import tempfile
import time
import uuid

from nova import context as nova_context

from benchmarks import common
from nova_precache import catalog
from nova_precache import discovery
from nova_precache import glance
from nova_precache import planner
from nova_precache import ranking
from tests.functional import glance_api

IMAGES = 1000
OPERATOR_IMAGES = 200
KNOWN_OPERATOR = 100
KNOWN_TENANT = 200
IN_USE = 20
RANKERS = ['critical', 'operator_owned', 'local_usage']


def _fill(glance_fixture, operator):
    """Write the images into Glance's database; [(id, owner)]."""
    images = []
    start = datetime.datetime(2026, 1, 1)
    with contextlib.closing(sqlite3.connect(glance_fixture.db)) as db, db:
        for n in range(IMAGES):
            owner = operator if n < OPERATOR_IMAGES else 'tenant-%d' % (
                n % 50)
            image_id = str(uuid.uuid4())
            created = (start + datetime.timedelta(hours=n)).isoformat(' ')
            db.execute(
                'INSERT INTO images (id, name, size, status, created_at, '
                'updated_at, deleted, disk_format, container_format, owner, '
                'min_disk, min_ram, protected, virtual_size, visibility, '
                'os_hidden) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, 0, 0, '
                '?, ?, 0)',
                (image_id, 'image-%d' % n, 1 << 30, 'active', created,
                 created, 'qcow2', 'bare', owner, 4 << 30,
                 'public' if n % 3 else 'private'))
            images.append((image_id, owner))
    return images


def _catalog(cache_dir, images):
    """The host's catalog: what earlier passes learned; the in-use IDs."""
    known = catalog.Catalog(cache_dir, cache_dir)
    chosen = images[:KNOWN_OPERATOR] + images[
        OPERATOR_IMAGES:OPERATOR_IMAGES + KNOWN_TENANT]
    for image_id, owner in chosen:
        known.learn(image_id, {'owner': owner, 'status': 'active',
                               'size': 1 << 30, 'virtual_size': 4 << 30,
                               'visibility': 'public'})
    tenants = [image_id for image_id, _ in chosen[KNOWN_OPERATOR:]]
    # One of them Glance no longer has: read again among the hidden.
    known.learn(str(uuid.uuid4()), {'owner': 'tenant-0', 'status': 'active',
                                    'size': 1})
    in_use = dict.fromkeys(tenants[:IN_USE - 1], 1)
    in_use[list(known.images)[-1]] = 1
    return known, in_use


def run(glance_fixture):
    """Print the figures; return (refresh requests, steady, seconds)."""
    with tempfile.TemporaryDirectory() as root, \
            common.NovaProcess() as nova:
        operator = glance_fixture.project_id
        images = _fill(glance_fixture, operator)
        glance_fixture.configure_nova(nova.flags)
        nova.flags(group='glance', num_retries=0)
        nova.flags(group='precache', enabled=True, max_images=30,
                   min_free_disk_gb=0, operator_projects=[operator])
        context = glance_fixture.nova_context()
        known, in_use = _catalog(os.path.join(root, '_base'), images)
        catalog_size = len(known.images)
        glance_api_ = glance.Glance()
        found = discovery.Discovery(glance_api_)
        inputs = planner.Inputs(
            nova_context.get_admin_context(), 'compute1',
            ranking.load(RANKERS), known, in_use, {}, root)

        def plan():
            before = glance_fixture.request_count()
            started = time.perf_counter()
            found.refresh(context, known)
            made = planner.make(inputs, learn=lambda ids: glance_api_.learn(
                context, known, ids), reread=lambda ids: found.reread(
                    context, known, ids))
            return (glance_fixture.request_count() - before,
                    time.perf_counter() - started, made)

        refresh_requests, refresh_s, made = plan()
        steady_requests, steady_s, _ = plan()
        print('\nDiscovery: Glance holds %d images, %d the operator\'s; the '
              'catalog knows %d, %d in use' % (
                  IMAGES, OPERATOR_IMAGES, catalog_size, IN_USE))
        print('  refreshing pass: %d Glance requests (%d listing, %d '
              're-read), %.3f s' % (
                  refresh_requests, glance_fixture.request_count(
                      'GET /v2/images?limit=1000&owner='),
                  glance_fixture.request_count('GET /v2/images?id='),
                  refresh_s))
        print('  pass between refreshes: %d Glance requests, %.3f s '
              '(%.1fx faster)' % (steady_requests, steady_s,
                                  refresh_s / steady_s))
        print('  the plan keeps %d images; first: %s' % (
            len(made.cut.keep), '; '.join(made.entries[0].reasons)))
        print('discovery: refresh_requests=%d steady_requests=%d '
              'refresh_s=%.3f' % (refresh_requests, steady_requests,
                                  refresh_s))
        return refresh_requests, steady_requests, refresh_s


def main():
    if not os.environ.get('GLANCE_VENV'):
        print('GLANCE_VENV not set: discovery needs a real glance-api')
        return
    with glance_api.GlanceAPI() as glance_fixture:
        run(glance_fixture)


if __name__ == '__main__':
    main()
