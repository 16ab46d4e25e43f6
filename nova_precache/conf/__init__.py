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

"""``[precache]`` options, on nova's own CONF: read from nova's files."""

import glob
import math
import os

from oslo_config import cfg

import nova.conf
from nova import exception

from nova_precache.conf import cache
from nova_precache.conf import glance
from nova_precache.conf import peers
from nova_precache.conf import scheduler

precache_group = cfg.OptGroup(
    'precache',
    title='Image pre-caching options',
    help="""
Options of the nova-precache plugin for the libvirt driver: which images
each compute node keeps ready in its image cache, and how the scheduler
uses what the nodes hold.
""")

precache_opts = (cache.opts + glance.opts + scheduler.opts +
                 peers.opts)


def register_opts(conf):
    conf.register_group(precache_group)
    conf.register_opts(precache_opts, group=precache_group)


def check(conf):
    """Read every ``[precache]`` option once; raise on the first bad value.

    oslo.config checks a value when first read, for most of these deep in
    a periodic pass: called at start-up, this raises InvalidConfiguration
    naming the option and its value as written instead. Refused too: nan,
    which compares false with everything (``min_free_disk_gb = nan`` would
    be a floor that never holds), and an empty value where there is a
    default.
    """
    for opt in precache_opts:
        try:
            value, why = getattr(conf.precache, opt.dest), None
        except (cfg.Error, ValueError) as e:
            # Also a "$name" that substitutes nothing.
            value, why = 0, e
        if isinstance(value, float) and math.isnan(value):
            why = 'not a number'
        elif value is None and opt.default is not None:
            # What oslo.config makes of "max_images =".
            why = 'a value is required'
        if why is not None:
            raise exception.InvalidConfiguration(
                'Invalid value %r of [precache] %s: %s'
                % (_written(conf, opt.name), opt.name, why))


def _written(conf, name):
    """The value of ``[precache] name`` as the configuration files say."""
    paths = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        paths += sorted(glob.glob(os.path.join(directory, '*.conf')))
    written = None
    for path in paths:
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, ValueError, cfg.ParseError):
            continue
        found = sections.get(precache_group.name, {}).get(name)
        written = found[-1] if found else written
    return written


def list_opts():
    """Options for oslo-config-generator (entry point oslo.config.opts)."""
    return [(precache_group, precache_opts)]


CONF = nova.conf.CONF
register_opts(CONF)
