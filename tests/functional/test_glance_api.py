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

"""nova's real image API against a real glance-api process.

Checks the GlanceAPI fixture does what the tests built on it rely on:
nova downloads and converts through it, its request count moves, and
when it is killed nova fails fast and cleanly, then works once it is back.
"""

import hashlib
import os
import time

import fixtures
from nova import exception
from nova.image import glance as nova_glance
from nova import test
from nova.virt import images

from tests.functional import glance_api
from tests import qemu_img


class GlanceAPITestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.glance = self.useFixture(glance_api.GlanceAPI())
        self.glance.configure_nova(self.flags)
        # Fail at once when Glance is down, not after a second per retry.
        self.flags(num_retries=0, group='glance')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.data = qemu_img.qcow2_image()
        self.image = self.glance.upload(self.data)
        self.ctxt = self.glance.nova_context()

    def fetch_to_raw(self, name):
        path = os.path.join(self.tmp, name)
        images.fetch_to_raw(self.ctxt, self.image['id'], path)
        return path

    def test_upload(self):
        self.assertEqual('active', self.image['status'])
        self.assertEqual(self.glance.project_id, self.image['owner'])
        self.assertEqual(len(self.data), self.image['size'])
        self.assertEqual(hashlib.md5(self.data).hexdigest(),
                         self.image['checksum'])
        self.assertEqual('sha512', self.image['os_hash_algo'])
        self.assertEqual(hashlib.sha512(self.data).hexdigest(),
                         self.image['os_hash_value'])

    def test_projects_and_roles_go_through_glance_policy(self):
        private = self.glance.upload(self.data, owner='project-a',
                                     visibility='private')
        image_api = nova_glance.API()
        member = self.glance.nova_context(project_id='project-a',
                                          roles=['member', 'reader'])
        self.assertEqual('project-a',
                         image_api.get(member, private['id'])['owner'])
        other = self.glance.nova_context(project_id='project-b',
                                         roles=['member', 'reader'])
        self.assertRaises(exception.ImageNotFound,
                          image_api.get, other, private['id'])
        # Public images are for everyone.
        self.assertEqual(self.image['id'],
                         image_api.get(other, self.image['id'])['id'])
        # No keystone expands "member" into "member,reader" here.
        member_only = self.glance.nova_context(project_id='project-a',
                                               roles=['member'])
        self.assertRaises(exception.ImageNotFound,
                          image_api.get, member_only, private['id'])

    def test_fetch_to_raw_and_glance_down(self):
        before = self.glance.request_count()
        path = self.fetch_to_raw('first')
        self.assertEqual('raw', qemu_img.info(path)['format'])
        self.assertGreater(self.glance.request_count(), before)

        self.glance.kill()
        down = self.glance.request_count()
        path = os.path.join(self.tmp, 'down')
        start = time.monotonic()
        self.assertRaises(exception.GlanceConnectionFailed,
                          images.fetch_to_raw,
                          self.ctxt, self.image['id'], path)
        self.assertLess(time.monotonic() - start, 10)
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(path + '.part'))
        self.assertEqual(down, self.glance.request_count())

        self.glance.start()
        path = self.fetch_to_raw('again')
        self.assertEqual('raw', qemu_img.info(path)['format'])
        self.assertGreater(self.glance.request_count(), down)
