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

"""Options of the ``[precache]`` group in nova.conf.

They are registered on nova's own CONF object, so nova-compute and
nova-scheduler read them from the files they already load.
"""

from oslo_config import cfg

import nova.conf

precache_group = cfg.OptGroup(
    'precache',
    title='Image pre-caching options',
    help="""
Options of the nova-precache plugin for the libvirt driver: which images
each compute node keeps ready in its image cache, and how the scheduler
uses what the nodes hold.
""")

precache_opts = [
    cfg.BoolOpt('enabled',
        default=False,
        help="""
Run the pre-caching pass after nova's own image cache bookkeeping.

When False, ``PrecacheImageCacheManager`` behaves exactly like nova's
``ImageCacheManager``: it fetches nothing and protects nothing beyond what
nova itself protects.
"""),
]


def register_opts(conf):
    conf.register_group(precache_group)
    conf.register_opts(precache_opts, group=precache_group)


def list_opts():
    """Options for oslo-config-generator (entry point oslo.config.opts)."""
    return [(precache_group, precache_opts)]


CONF = nova.conf.CONF
register_opts(CONF)
