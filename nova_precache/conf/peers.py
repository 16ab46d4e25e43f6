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

"""Options of copies between computes."""

from oslo_config import cfg

opts = [
    cfg.BoolOpt('peer_fetch',
        default=False,
        help="""
Copy missing images from other computes before asking Glance.

An image the plan wants and this host lacks is copied from a compute that
publishes it, over nova's own channel between computes (``[libvirt]
remote_filesystem_transport``, as the nova user, to the peer's
``my_ip``), and checked as a download is. Only ``glance_seeders`` hosts
download an image no compute holds yet; the others wait for them. While
Glance is unavailable, the pass copies what it lacks from peers, and a
spawn whose image is not cached here copies its base file from a peer.

Possible values:

* True: the nova user on every compute can ssh to the others, as for cold
  migration (see the README's set-up).
* False: every image comes from Glance, and no ssh is started.

Related options:

* ``glance_seeders``, ``peer_wait``
* ``[libvirt] remote_filesystem_transport``
"""),
    cfg.IntOpt('glance_seeders',
        default=3,
        min=1,
        help="""
Number of computes that download an image from Glance when no compute
holds it yet; the others copy it from them, and from each other, once
they hold it. Every compute picks the same seeders from the image ID and
the compute nodes nova knows, without asking the others. Used only with
``peer_fetch``.

Possible values:

* A positive integer: more seeders put more load on Glance and survive
  more seeder failures.

Related options:

* ``peer_fetch``, ``peer_wait``
"""),
    cfg.IntOpt('peer_wait',
        min=0,
        help="""
Seconds a compute that is not a seeder waits for a peer to hold an image
before it downloads the image from Glance itself. It does not wait when
every seeder is down. Used only with ``peer_fetch``.

Possible values:

* 0: download from Glance as soon as no peer holds the image.
* A positive integer.
* Unset: twice ``[image_cache] manager_interval``.

Related options:

* ``peer_fetch``, ``glance_seeders``
* ``[image_cache] manager_interval``
"""),
]
