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

from nova import test

from nova_precache import glance_answers

GOOD = '5a1c0e2e-8d4b-4f7e-9a43-6c2d1b0e9f11'
URL = '/v2/images?owner=ops'


def image(**fields):
    return dict({'id': GOOD, 'status': 'active', 'visibility': 'public',
                 'owner': 'ops', 'os_hidden': False, 'size': 1,
                 'virtual_size': None,
                 'created_at': '2026-12-01T00:00:00Z'}, **fields)


class ImagesTestCase(test.NoDBTestCase):

    def _skipped(self, bad, named):
        self.assertEqual([image()], glance_answers.images(
            {'images': [bad, image()]}, URL))
        self.assertIn('does not match its schema', self.stdlog.logger.output)
        self.assertIn(named, self.stdlog.logger.output)

    def test_missing_id(self):
        self._skipped({'status': 'active'}, 'id None is not an image UUID')

    def test_non_uuid_id(self):
        self._skipped(image(id='../../etc'), "id '../../etc' is not")

    def test_id_of_another_type(self):
        self._skipped(image(id=12), 'id 12 is not an image UUID')

    def test_unknown_status(self):
        self._skipped(image(status='exploded'),
                      "image %s has unknown status 'exploded'" % GOOD)

    def test_unknown_visibility(self):
        self._skipped(image(visibility='everyone'),
                      "unknown visibility 'everyone'")

    def test_size_not_a_number(self):
        self._skipped(image(size='12'), "image %s has size '12'" % GOOD)

    def test_hidden_not_a_boolean(self):
        self._skipped(image(os_hidden='no'), "os_hidden 'no'")

    def test_size_true_is_not_a_number(self):
        self._skipped(image(size=True), 'size True')

    def test_not_an_object(self):
        self._skipped(['x'], "not an object: ['x']")

    def test_long_bad_value_is_shortened(self):
        self._skipped(image(id='x' * 1000), "'xxxx")
        self.assertNotIn('x' * 200, self.stdlog.logger.output)

    def test_page_without_images_is_bad(self):
        for body in (None, 'error page', {'images': 'x'}, {}):
            self.assertRaises(glance_answers.BadPage,
                              glance_answers.images, body, URL)


class NextPageTestCase(test.NoDBTestCase):

    def test_end_of_listing(self):
        self.assertIsNone(glance_answers.next_page({'images': []}, [URL]))

    def test_further_page(self):
        link = '/v2/images?owner=ops&limit=1000&marker=%s' % GOOD
        self.assertEqual(link, glance_answers.next_page(
            {'next': link}, [URL]))

    def test_bad_links(self):
        for link in ('http://elsewhere.example/v2/images?x=1',
                     '/v2/images?x=http://elsewhere.example',
                     '/v2/schemas/image', '/v2/images?a=1\nHost: x', 7,
                     URL):
            e = self.assertRaises(glance_answers.BadPage,
                                  glance_answers.next_page,
                                  {'next': link}, [URL])
            self.assertIn('bad next link %r' % (link,), str(e))
