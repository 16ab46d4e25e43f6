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

"""Resize targets: root disks made in advance, cloned by spawns.

A qcow2 spawn makes the instance's root disk with ``qemu-img create -f
qcow2 -o backing_file=<base>,backing_fmt=raw disk <root_gb>G``, after
several ``qemu-img info`` calls through nova's prlimit wrapper (about
40 ms each). A resize target is that very file, made ahead of time by the
pass with nova's own ``create_image`` (same safety checks, backing format
and cluster size), so a spawn only copies a ~200 KB file: the instance disk
is byte for byte what nova would have made, with the same backing file,
size and format, and everything nova does later (snapshot, resize,
migration) sees a stock disk.

Targets live in ``_base/precache/targets/<base file>-<root_gb>G``: inside
a subdirectory, where nova's image cache manager never looks, so it can
neither mistake one for a legacy ``<base>_<size>`` raw copy nor remove one.
This module's ``prune`` ages them instead. Building, cloning
(``nova_precache.imagebackend``) and pruning a target all hold nova's lock
for its base file.
"""

import os
import re
import tempfile
import time

from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import units

from nova import utils
from nova.virt.disk import api as disk
from nova.virt.libvirt import utils as libvirt_utils

from nova_precache import catalog
from nova_precache import conf
from nova_precache import files

LOG = logging.getLogger(__name__)
CONF = conf.CONF

DIRNAME = 'targets'
_NAME = re.compile(r'^([0-9a-f]{40})-([1-9][0-9]*)G$')
# What build() writes before its rename: left behind only by a crash.
_LEFTOVER = re.compile(r'^\.([0-9a-f]{40})')


def directory(cache_dir):
    return os.path.join(cache_dir, catalog.DIRNAME, DIRNAME)


def path(cache_dir, base_name, root_gb):
    return os.path.join(directory(cache_dir), '%s-%dG' % (base_name, root_gb))


def present(cache_dir):
    """{base file name: set of root_gb} of the targets on disk."""
    found = {}
    try:
        names = os.listdir(directory(cache_dir))
    except FileNotFoundError:
        return found
    for name in names:
        match = _NAME.match(name)
        if match:
            found.setdefault(match.group(1), set()).add(int(match.group(2)))
    return found


def build(cache_dir, base_name, root_gb, lock_path):
    """Make the target of ``root_gb`` for base file ``base_name``.

    Returns False when there is nothing to do or the base image is larger
    than the root disk (nova would refuse that spawn anyway).
    """
    base = os.path.join(cache_dir, base_name)
    target = path(cache_dir, base_name, root_gb)

    @utils.synchronized(base_name, external=True, lock_path=lock_path)
    def _locked_build():
        if os.path.exists(target) or not os.path.exists(base):
            return False
        if disk.get_disk_size(base) > root_gb * units.Gi:
            LOG.debug('No %(gb)dG target for %(base)s: the image is larger',
                      {'gb': root_gb, 'base': base})
            return False
        fileutils.ensure_tree(directory(cache_dir))
        fd, tmp = tempfile.mkstemp(prefix='.' + base_name,
                                   dir=directory(cache_dir))
        os.close(fd)
        with fileutils.remove_path_on_error(tmp):
            os.unlink(tmp)
            libvirt_utils.create_image(tmp, 'qcow2', root_gb * units.Gi,
                                       backing_file=base)
            os.rename(tmp, target)
        return True

    return _locked_build()


def prune(cache_dir, wanted, lock_path):
    """Remove targets not in ``wanted`` ({(base name, root_gb)}).

    A target whose base file is gone goes at once, wanted or not: it points
    at nothing. Others go once unwanted for as long as nova keeps unused
    resized images (``remove_unused_resized_minimum_age_seconds``, by the
    target's mtime, which each pass that wants it refreshes). Temporary
    files of builds a crash interrupted go too.
    """
    max_age = CONF.image_cache.remove_unused_resized_minimum_age_seconds
    removed = 0
    for base_name, sizes in present(cache_dir).items():
        base = os.path.join(cache_dir, base_name)
        for root_gb in sizes:
            target = path(cache_dir, base_name, root_gb)
            if (base_name, root_gb) in wanted and os.path.exists(base):
                files.touch(target, lock_path, lock_name=base_name)
                continue

            @utils.synchronized(base_name, external=True,
                                lock_path=lock_path)
            def _locked_prune():
                try:
                    age = time.time() - os.stat(target).st_mtime
                except FileNotFoundError:
                    return 0
                if age >= max_age or not os.path.exists(base):
                    LOG.info('Removing resize target %s', target)
                    os.unlink(target)
                    return 1
                return 0

            removed += _locked_prune()
    # Under the base file's lock no build of it is under way.
    files.remove_leftovers(directory(cache_dir), _LEFTOVER, lock_path,
                           'an interrupted target build')
    return removed
