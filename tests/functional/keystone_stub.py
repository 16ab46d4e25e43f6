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

"""Keystone's token endpoint, just enough for nova's ``[service_user]``.

There is no keystone here. A process of its own (``nova-precache``) reaches
Glance as the Nova service user: keystoneauth's v3password plugin posts the
user's password and gets a token, which this stub issues for any password;
the glance fixture (``anonymous=True``) does not check tokens.
"""

from http import server
import json
import threading
import uuid

import fixtures
from keystoneauth1 import loading as ks_loading
import nova.conf as nova_conf

USER_ID = 'nova-service-user'
PROJECT_ID = 'service-project'


class _Handler(server.BaseHTTPRequestHandler):

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(length)
        if self.path.rstrip('/') != '/v3/auth/tokens':
            self.send_error(404)
            return
        domain = {'id': 'default', 'name': 'Default'}
        body = json.dumps({'token': {
            'methods': ['password'],
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'issued_at': '2026-01-01T00:00:00.000000Z',
            'user': {'id': USER_ID, 'name': 'nova', 'domain': domain},
            'project': {'id': PROJECT_ID, 'name': 'service',
                        'domain': domain},
            'roles': [{'id': 'admin', 'name': 'admin'},
                      {'id': 'service', 'name': 'service'}],
            'catalog': [],
        }}).encode()
        self.send_response(201)
        self.send_header('X-Subject-Token', uuid.uuid4().hex)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class KeystoneStub(fixtures.Fixture):
    """Serves tokens on 127.0.0.1 from a thread of the test process."""

    def _setUp(self):
        self.server = server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        thread = threading.Thread(target=self.server.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = 'http://127.0.0.1:%d/v3' % self.server.server_port

    def configure_nova(self, test):
        """Make nova's [service_user] log in here, in the test process."""
        conf_group = 'service_user'
        test.flags(auth_type='v3password', group=conf_group)
        # keystoneauth registers a plugin's options when it first loads it.
        nova_conf.CONF.register_opts(
            ks_loading.get_auth_plugin_conf_options('v3password'),
            group=conf_group)
        options = self.service_user_options()
        del options['auth_type']
        test.flags(group=conf_group, **options)

    def service_user_options(self):
        """nova.conf ``[service_user]`` options that log in here."""
        return {'auth_type': 'v3password', 'auth_url': self.url,
                'username': 'nova', 'password': 'secret',
                'user_domain_name': 'Default', 'project_name': 'service',
                'project_domain_name': 'Default'}
