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

"""Glance's image lists, checked against what its image schema says.

A page that breaks the schema (a Glance bug, a proxy's error page, an
endpoint that is not Glance) must neither crash the pass nor make an image
look gone. An image without a canonical UUID, with a status Glance does
not have, or with fields of the wrong type is logged with the offending
value and skipped; a page that is not a list of images, or whose ``next``
link is not a further page of the same listing, ends the listing, which
then counts as cut off.
"""

from oslo_log import log as logging

from nova_precache import critical

LOG = logging.getLogger(__name__)

# Glance's image statuses (glance.db.sqlalchemy.api.STATUSES).
STATUSES = ('queued', 'saving', 'active', 'killed', 'deleted',
            'pending_delete', 'deactivated', 'uploading', 'importing')
VISIBILITIES = ('public', 'community', 'shared', 'private')
# Where a next page of an image list is, as Glance writes it.
LIST_PATH = '/v2/images?'
# The most of a bad value a message quotes.
_SHOWN = 80
# Fields whose type the pass relies on, and the types the schema allows.
_TYPES = {'owner': (str, type(None)), 'created_at': (str, type(None)),
          'size': (int, type(None)), 'virtual_size': (int, type(None)),
          'os_hidden': (bool,), 'name': (str, type(None))}


class BadPage(Exception):
    """A page of an image list is unusable: the listing is cut off."""


def _shown(value):
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + '...'


def _problem(image):
    """Why ``image`` breaks the schema, or None."""
    if not isinstance(image, dict):
        return 'not an object: %s' % _shown(image)
    image_id = image.get('id')
    if not isinstance(image_id, str) or not critical.is_image_id(image_id):
        return 'id %s is not an image UUID' % _shown(image_id)
    if image.get('status') not in STATUSES:
        return 'image %s has unknown status %s' % (
            image_id, _shown(image.get('status')))
    if image.get('visibility') not in VISIBILITIES:
        return 'image %s has unknown visibility %s' % (
            image_id, _shown(image.get('visibility')))
    for field, types in _TYPES.items():
        value = image.get(field, types[-1]())
        # bool is an int to Python, not to the schema.
        if not isinstance(value, types) or (
                isinstance(value, bool) and bool not in types):
            return 'image %s has %s %s' % (image_id, field, _shown(value))
    return None


def images(body, url):
    """The images of one page that match the schema.

    :raises BadPage: if the page is not a list of images.
    """
    found = body.get('images') if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise BadPage('Glance answered %s with no list of images: %s'
                      % (url, _shown(body)))
    good = []
    for image in found:
        problem = _problem(image)
        if problem:
            LOG.warning('Skipping an image of Glance\'s answer to %(url)s '
                        'that does not match its schema: %(problem)s',
                        {'url': url, 'problem': problem})
        else:
            good.append(image)
    return good


def next_page(body, seen):
    """The path of the listing's next page, or None at its end.

    :param seen: the paths asked for so far in this listing; a link back
        to one of them would never end.
    :raises BadPage: for a link elsewhere than a further page of the list.
    """
    link = body.get('next')
    if link is None:
        return None
    if (not isinstance(link, str) or not link.startswith(LIST_PATH) or
            '://' in link or '\n' in link or link in seen):
        raise BadPage('Glance\'s image list has a bad next link %s'
                      % _shown(link))
    return link
