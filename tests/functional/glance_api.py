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

"""A real glance-api process on 127.0.0.1, for tests that need the wire.

nova's GlanceFixture answers in-process; it cannot be killed mid-download,
refuse connections or count what nova really asks for. This one runs
glance 33.0.0 under uWSGI from a virtualenv of its own (glance must not
change the nova under test), made by ``tools/glance_venv.py`` and named by
the ``GLANCE_VENV`` environment variable.

There is no keystone: the paste pipeline trusts the headers keystonemiddleware
would set after checking a token (X-Identity-Status, X-Project-Id, X-User-Id,
X-Roles), so projects and roles still go through Glance's real policy.

To point nova's image API here, in a nova test case::

    glance = self.useFixture(glance_api.GlanceAPI())
    glance.configure_nova(self.flags)
    ctxt = glance.nova_context(project_id=...)

or, in nova's functional harness, ``glance.replace_harness_glance(self)``.
"""

import configparser
import contextlib
import ctypes
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import fixtures
from keystoneauth1 import plugin
from nova.api import auth
from nova import context as nova_context
from nova.image import glance
import requests

# Logged by uWSGI at the start of a line for each request, before Glance
# sees it: the count is complete as soon as the client has its answer.
# (uWSGI's own request log is written after it closes the connection.)
_REQUEST_MARK = 'glance-api request:'

# The bytes of a freshly synced database, per glance virtualenv, kept for
# the test process: writing them is much faster than another db_sync.
# (Not a file: nova's tests give each test a temporary directory of its own,
# removed at its end.)
_SYNCED_DB = {}


# Captured at import, before nova's GlanceFixture stubs it out.
_REAL_DEFAULT_IMAGE_SERVICE = glance.get_default_image_service


def _write_ini(path, sections):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_dict(sections)
    with open(path, 'w') as f:
        parser.write(f)


def _die_with_parent():
    """Have the kernel kill glance-api if the test process dies first.

    A test process killed before its cleanups (a timeout, ^C twice) must
    not leave a glance-api behind.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _IdentityHeaders(plugin.BaseAuthPlugin):
    """Sends what keystonemiddleware would pass on after a token check.

    nova's image API takes its auth from the request context; with this
    plugin python-glanceclient sends the headers the pipeline trusts.
    """

    def __init__(self, headers):
        super().__init__()
        self._headers = headers

    def get_headers(self, session, **kwargs):
        return dict(self._headers)


def identity_context(headers):
    """A nova RequestContext that sends ``headers`` to Glance.

    Like the context nova-api makes for a user, it carries a token (never
    sent): without one nova runs its own no-auth visibility check, which
    fails on private v2 images.
    """
    return nova_context.RequestContext(
        user_id=headers['X-User-Id'],
        project_id=headers['X-Project-Id'],
        roles=headers['X-Roles'].split(','),
        auth_token=uuid.uuid4().hex,
        user_auth_plugin=_IdentityHeaders(headers))


class GlanceAPI(fixtures.Fixture):
    """glance-api under uWSGI, with a sqlite database and a file store.

    ``stop()``, ``kill()`` and ``start()`` make Glance go away and come back
    on the same port with the same images; the process (its own process
    group) is always gone after cleanup.
    """

    ready_timeout = 60

    def __init__(self, venv=None, anonymous=False):
        """``anonymous``: serve public images to requests without a token.

        Stands in, for a separate process such as ``nova-precache``, for
        the Nova service user that keystone would authenticate.
        """
        super().__init__()
        self.venv = venv or os.environ.get('GLANCE_VENV')
        self.anonymous = anonymous
        self.project_id = uuid.uuid4().hex
        self.user_id = uuid.uuid4().hex
        self.process = None

    def _setUp(self):
        if not (self.venv and os.path.exists(
                os.path.join(self.venv, 'bin', 'uwsgi'))):
            raise RuntimeError(
                'GLANCE_VENV must name a virtualenv with glance-api in it '
                '(got %r); create one with: python tools/glance_venv.py DIR '
                'and export GLANCE_VENV=DIR' % self.venv)
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.port = _free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        # uWSGI's output, with the request marks, and Glance's own log.
        self.uwsgi_log = self._path('uwsgi.log')
        self.glance_log = self._path('glance-api.log')
        self._write_config()
        self._prepare_db()
        self.addCleanup(self.kill)
        self.start()

    def _write_config(self):
        for name in ('images', 'staging', 'tasks', 'locks'):
            os.mkdir(self._path(name))
        self.conf = self._path('glance-api.conf')
        self.db = self._path('glance.sqlite')
        paste = self._path('glance-api-paste.ini')
        config = {
            'DEFAULT': {
                'enabled_backends': 'fs:file',
                # Without the brackets every image POST is a 500.
                'enabled_import_methods': '[glance-direct]',
                'hashing_algorithm': 'sha512',
                'log_file': self.glance_log,
            },
            'database': {'connection': 'sqlite:///' + self.db},
            'glance_store': {'default_backend': 'fs'},
            'fs': {'filesystem_store_datadir': self._path('images')},
            'os_glance_staging_store': {
                'filesystem_store_datadir': self._path('staging')},
            'os_glance_tasks_store': {
                'filesystem_store_datadir': self._path('tasks')},
            'oslo_concurrency': {'lock_path': self._path('locks')},
            'paste_deploy': {'config_file': paste, 'flavor': 'headers'},
        }
        if self.anonymous:
            config['DEFAULT']['allow_anonymous_access'] = 'True'
            # Glance's new policy defaults want a reader role for any read.
            config['oslo_policy'] = {'enforce_new_defaults': 'False',
                                     'enforce_scope': 'False'}
        _write_ini(self.conf, config)
        _write_ini(paste, {
            'pipeline:glance-api-headers': {
                'pipeline': 'versionnegotiation context rootapp'},
            'filter:versionnegotiation': {
                'paste.filter_factory':
                    'glance.api.middleware.version_negotiation:'
                    'VersionNegotiationFilter.factory'},
            'filter:context': {
                'paste.filter_factory':
                    'glance.api.middleware.context:ContextMiddleware.factory'},
            'composite:rootapp': {
                'paste.composite_factory': 'glance.api:root_app_factory',
                '/': 'apiversions', '/v2': 'apiv2app'},
            'app:apiversions': {
                'paste.app_factory': 'glance.api.versions:create_resource'},
            'app:apiv2app': {
                'paste.app_factory': 'glance.api.v2.router:API.factory'},
        })
        self.uwsgi_ini = self._path('uwsgi.ini')
        _write_ini(self.uwsgi_ini, {'uwsgi': {
            'http-socket': '127.0.0.1:%d' % self.port,
            'module': 'glance.wsgi.api:application',
            'need-app': 'true',
            # One process, no master: the process group is just our child,
            # which exits on SIGTERM.
            'processes': '1',
            # With one thread a download blocks every other request.
            'threads': '4',
            'http-auto-chunked': 'true',
            'http-chunked-input': 'true',
            'http-raw-body': 'true',
            # The default 1 MiB fails chunked uploads.
            'chunked-input-limit': str(64 * 1024 * 1024),
            # Else POSTs see connection resets.
            'add-header': 'Connection: close',
            'route-run': 'log:%s ${REQUEST_METHOD} ${REQUEST_URI}'
                         % _REQUEST_MARK,
        }})

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}
        # glance-api reads its configuration from here, not the command line.
        env['OS_GLANCE_CONFIG_DIR'] = self.dir
        return env

    def _prepare_db(self):
        synced = _SYNCED_DB.get(self.venv)
        if synced:
            with open(self.db, 'wb') as f:
                f.write(synced)
            return
        result = subprocess.run(
            [os.path.join(self.venv, 'bin', 'glance-manage'),
             '--config-file', self.conf, 'db_sync'],
            env=self._env(), cwd=self.dir, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError('glance-manage db_sync failed:\n%s%s'
                               % (result.stdout, result.stderr))
        with open(self.db, 'rb') as f:
            _SYNCED_DB[self.venv] = f.read()

    def start(self):
        """Start glance-api (again) and wait until it answers."""
        if self.process and self.process.poll() is None:
            raise RuntimeError('glance-api is already running')
        with open(self.uwsgi_log, 'ab') as log:
            self.process = subprocess.Popen(
                [os.path.join(self.venv, 'bin', 'uwsgi'),
                 '--ini', self.uwsgi_ini],
                env=self._env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail('glance-api exited with %d'
                           % self.process.returncode)
            try:
                if requests.get(self.url + '/versions', timeout=5).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                # Refused before uWSGI listens, queued while the app loads.
                pass
            time.sleep(0.05)
        self.kill()
        self._fail('glance-api did not answer on %s within %d s'
                   % (self.url, self.ready_timeout))

    def _fail(self, reason):
        for log in (self.glance_log, self.uwsgi_log):
            try:
                with open(log, errors='replace') as f:
                    reason += '\nThe end of %s:\n%s' % (
                        log, ''.join(f.readlines()[-20:]))
            except FileNotFoundError:
                pass
        raise RuntimeError(reason)

    def _signal(self, sig, timeout):
        # Never signal a reaped process: its number may be someone else's.
        # Not yet reaped, it holds its group; and it is the group's only one.
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self, timeout=10):
        """SIGTERM: Glance shuts down as a service manager would stop it."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self):
        """SIGKILL the process group: Glance vanishes mid-request."""
        self._signal(signal.SIGKILL, None)

    def request_count(self, request=''):
        """HTTP requests served so far, over every start of this fixture.

        Counts the fixture's own (readiness checks, uploads) too: compare
        two readings around what is under test. ``request`` counts only
        requests whose "METHOD URI" starts with it, e.g. the downloads of
        one image: ``'GET /v2/images/%s/file' % image_id``.
        """
        mark = '%s %s' % (_REQUEST_MARK, request)
        with open(self.uwsgi_log) as f:
            return sum(1 for line in f if line.startswith(mark))

    def identity_headers(self, project_id=None, roles=('admin',),
                         user_id=None):
        """Headers that make a request come from ``project_id``.

        There is no keystone to expand implied roles: a project member who
        reads images needs ``('member', 'reader')``. The roles must reach
        Glance through these headers or an auth plugin: given as request
        headers, python-glanceclient percent-encodes the comma.
        """
        return {'X-Identity-Status': 'Confirmed',
                'X-Project-Id': project_id or self.project_id,
                'X-User-Id': user_id or self.user_id,
                'X-Roles': ','.join(roles)}

    def _request(self, method, path, headers, **kwargs):
        response = requests.request(method, self.url + path,
                                    headers=headers, timeout=60, **kwargs)
        if not response.ok:
            raise RuntimeError('%s %s: %d %s' % (
                method, path, response.status_code, response.text))
        return response

    def upload(self, data, disk_format='qcow2', container_format='bare',
               owner=None, visibility='public', name='precache-test',
               image_id=None):
        """Create an image with ``data`` as an admin of project ``owner``.

        Returns the image as Glance shows it: id, size, checksum,
        os_hash_algo, os_hash_value, owner...
        """
        headers = self.identity_headers(owner)
        body = {'name': name, 'disk_format': disk_format,
                'container_format': container_format,
                'visibility': visibility}
        if image_id:
            body['id'] = image_id
        image = self._request('POST', '/v2/images', headers,
                              json=body).json()
        path = '/v2/images/%s' % image['id']
        self._request('PUT', path + '/file',
                      dict(headers, **{'Content-Type':
                                       'application/octet-stream'}),
                      data=data)
        return self._request('GET', path, headers).json()

    def deactivate(self, image_id, owner=None):
        """What an operator does to a compromised build."""
        self._request('POST', '/v2/images/%s/actions/deactivate' % image_id,
                      self.identity_headers(owner))

    def delete(self, image_id, owner=None):
        self._request('DELETE', '/v2/images/%s' % image_id,
                      self.identity_headers(owner))

    def hide(self, image_id, owner=None):
        """Set os_hidden: the image leaves image lists, still bootable."""
        self._request(
            'PATCH', '/v2/images/%s' % image_id,
            dict(self.identity_headers(owner), **{
                'Content-Type':
                    'application/openstack-images-v2.1-json-patch'}),
            json=[{'op': 'replace', 'path': '/os_hidden', 'value': True}])

    def forget_hashes(self, image_id):
        """Make an image one that a Glance of before hashing uploaded."""
        with contextlib.closing(sqlite3.connect(self.db)) as db, db:
            db.execute('UPDATE images SET checksum = NULL, os_hash_algo = '
                       'NULL, os_hash_value = NULL WHERE id = ?',
                       (image_id,))

    def nova_context(self, project_id=None, roles=('admin',), user_id=None):
        """A nova RequestContext whose image API calls reach this Glance.

        Needs ``configure_nova()``: nova finds Glance by its [glance]
        options, then authenticates with the context's auth plugin.
        """
        return identity_context(
            self.identity_headers(project_id, roles, user_id))

    def nova_flags(self):
        """{group: {option: value}} nova needs to use this Glance."""
        return {'glance': {'endpoint_override': self.url}}

    def configure_nova(self, flags):
        """Apply nova_flags() with a test case's ``flags`` method."""
        for group, options in self.nova_flags().items():
            flags(group=group, **options)

    def serve_nova_service_user(self, test):
        """Make nova's calls as its service user reach this Glance.

        What a compute's periodic pass uses: [glance] pointed here, no
        retries (a test of a Glance outage need not wait for them), and
        the service user's context one this Glance accepts.
        """
        self.configure_nova(test.flags)
        test.flags(num_retries=0, group='glance')
        test.useFixture(fixtures.MockPatch(
            'nova.context.get_nova_service_user_context',
            return_value=self.nova_context()))

    def replace_harness_glance(self, test):
        """Make nova's functional harness use this Glance.

        The harness's GlanceFixture answers every image call of nova in
        memory; this puts nova's real image service back, pointed here.
        The harness's stand-in for keystonemiddleware makes API contexts
        without the token the real one passes on, which nova needs to call
        Glance for the user: they get one (this Glance does not check it).
        """
        test.stub_out('nova.image.glance.get_default_image_service',
                      _REAL_DEFAULT_IMAGE_SERVICE)
        create_context = auth.NovaKeystoneContext._create_context

        def _with_token(env, **kwargs):
            kwargs.setdefault('auth_token', uuid.uuid4().hex)
            return create_context(env, **kwargs)

        test.stub_out('nova.api.auth.NovaKeystoneContext._create_context',
                      _with_token)
        test.flags(api_servers=None, group='glance')
        self.configure_nova(test.flags)
