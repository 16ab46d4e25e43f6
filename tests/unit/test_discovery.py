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

"""Refresh timing, re-reads and bad answers, through nova's real Glance
client against an image list served on 127.0.0.1.

The server is a stand-in for glance-api that answers what the test says,
including what a real Glance never sends (bad pages, bad links); the
functional tests run the same code against glance-api itself.
"""

from http import server
import json
import os
import threading
from urllib import parse
import uuid

import fixtures
from nova import test

from nova_precache import catalog
from nova_precache import discovery
from nova_precache import glance
from nova_precache import planner
from nova_precache import ranking
from tests.functional import glance_api


def image(owner='ops', status='active', visibility='public', hidden=False,
          created='2026-12-01T00:00:00Z', image_id=None):
    return {'id': image_id or str(uuid.uuid4()), 'status': status,
            'visibility': visibility, 'owner': owner, 'os_hidden': hidden,
            'size': 1024, 'virtual_size': 4096, 'created_at': created,
            'name': 'image', 'disk_format': 'qcow2'}


class _Handler(server.BaseHTTPRequestHandler):

    def do_GET(self):
        stub = self.server.stub
        stub.requests.append(self.path)
        status, body = stub.answer(self.path)
        # Errors as glance-api sends them, in plain text.
        data = (json.dumps(body) if status == 200 else body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json' if status == 200
                         else 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class ImageListStub(fixtures.Fixture):
    """Serves ``images`` as Glance's list does, or ``pages`` verbatim."""

    def _setUp(self):
        self.images = {}
        self.pages = {}
        self.requests = []
        self.status = 200
        httpd = server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        httpd.stub = self
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        self.url = 'http://127.0.0.1:%d' % httpd.server_port

    def answer(self, path):
        if self.status != 200:
            return self.status, '%d refused' % self.status
        if path in self.pages:
            return 200, self.pages[path]
        query = dict(parse.parse_qsl(parse.urlsplit(path).query))
        hidden = query.get('os_hidden', 'false') == 'true'
        found = [i for i in self.images.values() if i['os_hidden'] == hidden]
        if 'id' in query:
            ids = query['id'][len('in:'):].split(',')
            found = [i for i in found if i['id'] in ids]
        for field in ('owner', 'status'):
            if field in query:
                found = [i for i in found if i[field] == query[field]]
        return 200, {'images': found}

    def add(self, **kwargs):
        new = image(**kwargs)
        self.images[new['id']] = new
        return new['id']


class DiscoveryTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.stub = self.useFixture(ImageListStub())
        self.flags(endpoint_override=self.stub.url, num_retries=0,
                   group='glance')
        self.flags(operator_projects=['ops'], group='precache')
        tmp = self.useFixture(fixtures.TempDir()).path
        self.catalog = catalog.Catalog(tmp, tmp)
        self.now = 0.0
        self.glance = glance.Glance(glance.GlanceHealth(
            clock=lambda: self.now))
        self.discovery = discovery.Discovery(self.glance,
                                             clock=lambda: self.now)
        self.ctxt = glance_api.identity_context(
            glance_api.GlanceAPI().identity_headers('ops'))

    def refresh(self):
        before = len(self.stub.requests)
        self.discovery.refresh(self.ctxt, self.catalog)
        return len(self.stub.requests) - before

    def test_lists_once_per_interval(self):
        new = self.stub.add()
        self.assertEqual(1, self.refresh())
        self.assertEqual('active', discovery.status(self.catalog, new))
        self.assertEqual(4096, self.catalog.metadata(new)['virtual_size'])
        self.now += 3599
        self.assertEqual(0, self.refresh())
        self.now += 1
        self.assertEqual(1, self.refresh())

        self.flags(discovery_interval=0, group='precache')
        self.assertEqual(1, self.refresh())
        self.assertEqual(1, self.refresh())

    def test_last_refresh_outlives_a_restart(self):
        state = self.useFixture(fixtures.TempDir()).path
        self.discovery = discovery.Discovery(self.glance, state, state,
                                             clock=lambda: self.now)
        self.stub.add()
        self.now = 1000.0
        self.assertEqual(1, self.refresh())
        self.discovery = discovery.Discovery(self.glance, state, state,
                                             clock=lambda: self.now)
        self.now += 3599
        self.assertEqual(0, self.refresh())
        # A clock set back does not put the next refresh off.
        self.now = 10.0
        self.assertEqual(1, self.refresh())
        self.assertEqual(['discovery.json'], [
            n for n in os.listdir(state) if 'discovery.' in n])

    def test_save_removes_what_a_crash_left_of_an_earlier_one(self):
        state = self.useFixture(fixtures.TempDir()).path
        for name in ('.discovery.k3x9q1', '.catalog.k3x9q1'):
            open(os.path.join(state, name), 'w').close()
        self.discovery = discovery.Discovery(self.glance, state, state,
                                             clock=lambda: self.now)
        self.stub.add()
        self.assertEqual(1, self.refresh())
        # Its own leftover goes; another file's is that file's to sweep.
        self.assertEqual(['.catalog.k3x9q1', 'discovery.json'], sorted(
            n for n in os.listdir(state) if not n.endswith('.lock') and
            not n.startswith('nova-')))

    def test_one_request_per_project_page(self):
        self.flags(operator_projects=['ops', 'ops2'], group='precache')
        self.stub.add()
        self.stub.add(owner='ops2')
        self.assertEqual(2, self.refresh())
        query = dict(parse.parse_qsl(parse.urlsplit(
            self.stub.requests[0]).query))
        self.assertEqual({'owner': 'ops', 'status': 'active',
                          'visibility': 'all', 'limit': '1000',
                          'sort_key': 'created_at', 'sort_dir': 'desc'},
                         query)

    def test_answer_checked_not_only_the_query(self):
        # A Glance that ignores the filters: only the operator's active,
        # shared, visible images are taken.
        good = [self.stub.add(), self.stub.add(visibility='community')]
        path = discovery._path(owner='ops', status='active',
                               visibility='all', sort_key='created_at',
                               sort_dir='desc')
        self.stub.pages[path] = {'images': [
            self.stub.images[i] for i in good] + [
            image(owner='tenant'), image(visibility='private'),
            image(status='deactivated'), image(hidden=True)]}
        self.refresh()
        self.assertEqual(sorted(good), sorted(self.catalog.images))

    def test_cut_off_listing_keeps_what_it_found_and_removes_nothing(self):
        known = self.stub.add()
        self.catalog.learn(known, self.stub.images[known])
        first = image()
        path = discovery._path(owner='ops', status='active',
                               visibility='all', sort_key='created_at',
                               sort_dir='desc')
        self.stub.pages[path] = {
            'images': [first], 'next': 'http://elsewhere.example/v2/images'}
        self.refresh()
        self.assertEqual(1, len(self.stub.requests))
        self.assertIn("bad next link 'http://elsewhere.example/v2/images'",
                      self.stdlog.logger.output)
        self.assertIn('(cut off)', self.stdlog.logger.output)
        self.assertEqual('active', discovery.status(self.catalog, first['id']))
        self.assertEqual('active', discovery.status(self.catalog, known))

    def test_looping_next_link_ends_the_listing(self):
        path = discovery._path(owner='ops', status='active',
                               visibility='all', sort_key='created_at',
                               sort_dir='desc')
        self.stub.pages[path] = {'images': [image()], 'next': path}
        self.refresh()
        self.assertEqual(1, len(self.stub.requests))
        self.assertIn('bad next link', self.stdlog.logger.output)

    def test_pages_followed(self):
        path = discovery._path(owner='ops', status='active',
                               visibility='all', sort_key='created_at',
                               sort_dir='desc')
        second = path + '&marker=x'
        self.stub.pages[path] = {'images': [image()], 'next': second}
        self.stub.pages[second] = {'images': [image()]}
        self.assertEqual(2, self.refresh())
        self.assertEqual(2, len(self.catalog.images))

    def _known(self, n, **kwargs):
        ids = [self.stub.add(owner='tenant', **kwargs) for _ in range(n)]
        for image_id in ids:
            self.catalog.learn(image_id, self.stub.images[image_id])
        return ids

    def reread(self, ids):
        before = len(self.stub.requests)
        changed = self.discovery.reread(self.ctxt, self.catalog, ids)
        return changed, len(self.stub.requests) - before

    def test_reread_only_after_a_refresh_in_batches_of_100(self):
        ids = self._known(150)
        self.assertEqual((False, 0), self.reread(ids))
        self.refresh()
        changed, requests = self.reread(ids)
        self.assertEqual(2, requests)
        self.assertTrue(changed)
        # Once per refresh.
        self.assertEqual((False, 0), self.reread(ids))

    def test_reread_follows_glance_lifecycle(self):
        deactivated, deleted, hidden, same = self._known(4)
        self.stub.images[deactivated]['status'] = 'deactivated'
        del self.stub.images[deleted]
        self.stub.images[hidden]['os_hidden'] = True
        self.refresh()
        changed, requests = self.reread([deactivated, deleted, hidden, same])
        # The visible ones, then the missing ones among the hidden.
        self.assertEqual(2, requests)
        self.assertEqual('deactivated',
                         discovery.status(self.catalog, deactivated))
        self.assertEqual(discovery.NOT_FOUND,
                         discovery.status(self.catalog, deleted))
        self.assertTrue(self.catalog.metadata(hidden)['os_hidden'])
        self.assertEqual('active', discovery.status(self.catalog, same))
        self.assertIn('Image %s is no longer in Glance' % deleted,
                      self.stdlog.logger.output)

    def test_glance_down_during_reread_removes_nothing(self):
        ids = self._known(2)
        del self.stub.images[ids[0]]
        self.refresh()
        self.stub.status = 503
        self.reread(ids)
        self.assertEqual(['active', 'active'],
                         [discovery.status(self.catalog, i) for i in ids])
        self.assertEqual(1, self.glance.health.failures)
        # Tried again when the back-off ends, not an interval later.
        self.stub.status = 200
        self.now += glance.FIRST_RETRY_SECONDS
        self.refresh()
        self.reread(ids)
        self.assertEqual(discovery.NOT_FOUND,
                         discovery.status(self.catalog, ids[0]))

    def test_glance_down_at_refresh_backs_off(self):
        self.stub.status = 503
        self.assertEqual(1, self.refresh())
        self.assertEqual(1, self.glance.health.failures)
        # Within the back-off: no call; after it, a refresh is due again.
        self.assertEqual(0, self.refresh())
        self.stub.status = 200
        self.now += glance.FIRST_RETRY_SECONDS
        self.assertEqual(1, self.refresh())
        self.assertIn('Glance is available again', self.stdlog.logger.output)

    def test_refused_refresh_waits_for_the_interval(self):
        self.stub.status = 403
        self.assertEqual(1, self.refresh())
        self.assertEqual(0, self.glance.health.failures)
        self.assertIn('Cannot list the operator\'s images in Glance',
                      self.stdlog.logger.output)
        self.now += 60
        self.assertEqual(0, self.refresh())


class DropGoneTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.catalog = catalog.Catalog(tmp, tmp)

    def entries(self, **statuses):
        entries = []
        for name, status in statuses.items():
            image_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
            self.catalog.learn(image_id, {'status': status})
            entries.append(ranking.PlanEntry(image_id, (1,), []))
        return entries

    def test_gone_leave_the_plan(self):
        entries = self.entries(a='active', b='deactivated', c='not_found',
                               d='deleted', e='queued')
        kept = discovery.drop_gone(entries, self.catalog, {}, set())
        self.assertEqual([entries[0], entries[4]], kept)
        self.assertEqual([entries[0], entries[4]],
                         discovery.live(entries, self.catalog))

    def test_critical_cached_is_kept_and_warned_about(self):
        cached, missing = self.entries(a='deactivated', b='not_found')
        critical = {cached.image_id: '', missing.image_id: ''}
        kept = discovery.drop_gone([cached, missing], self.catalog,
                                   critical, {cached.image_id})
        self.assertEqual([cached], kept)
        self.assertIn('Critical image %s is deactivated in Glance: its '
                      'cached copy is kept' % cached.image_id,
                      self.stdlog.logger.output)
        self.assertIn('Critical image %s is not_found in Glance: it cannot '
                      'be fetched' % missing.image_id,
                      self.stdlog.logger.output)


class PlanTestCase(test.NoDBTestCase):
    """What the planner hands the re-read, and what it leaves out."""

    def setUp(self):
        super().setUp()
        self.flags(max_images=1, operator_projects=['ops'], group='precache')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.catalog = catalog.Catalog(self.tmp, self.tmp)

    def learn(self, **meta):
        new = image(**meta)
        self.catalog.learn(new['id'], new)
        return new['id']

    def test_reread_covers_what_the_plan_keeps_whatever_its_rank(self):
        newest = self.learn(created='2026-12-01T00:00:00Z')
        older = self.learn(created='2026-11-01T00:00:00Z')
        in_use = self.learn(owner='tenant')
        gone = self.learn(status='deactivated')
        pinned = str(uuid.uuid4())
        inputs = planner.Inputs(
            None, 'compute1', ranking.load(['critical', 'operator_owned',
                                            'local_usage']),
            self.catalog, {in_use: 1}, {pinned: ''}, self.tmp)
        asked = []
        plan = planner.make(inputs, reread=lambda ids: asked.extend(ids))

        # The best ranked live ones (max_images plus the two kept anyway),
        # those two, and the one said to be gone.
        self.assertEqual({newest, older, pinned, in_use, gone}, set(asked))
        self.assertNotIn(gone, [e.image_id for e in plan.entries])
