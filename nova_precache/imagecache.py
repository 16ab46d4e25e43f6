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

"""Image cache manager that pre-caches images on top of nova's own.

nova-compute's periodic task ``_run_image_cache_manager_pass`` calls
``update()``; nova's bookkeeping (marking base files in use, aging out the
rest) always runs first, unchanged.
"""

from oslo_log import log as logging

from nova.virt.libvirt import imagecache

from nova_precache import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF


class PrecacheImageCacheManager(imagecache.ImageCacheManager):

    def update(self, context, all_instances):
        super().update(context, all_instances)
