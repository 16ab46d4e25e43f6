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

"""What knowing the fleet costs one pass: ours against reading every node.

``python -m benchmarks.fleet_read``. nova's DB (sqlite) holds 100, 1000
and 5000 compute node rows as a libvirt compute writes them
(``tests.compute_nodes``: cpu_info, a two-cell NUMA topology, 64
published images). Every object call goes through nova's conductor
manager, and its answer is serialised as oslo.messaging would put it on
the bus (nova's object serialiser, then JSON): the bytes are that JSON,
the conductor seconds the CPU time from the call to the serialised answer
(CPU, not wall time: on a shared machine the wall clock counts the other
processes too). The DB is sqlite in memory, so the figures leave out the
DB server's own time, alike for both.

Ours is one pass of ``nova_precache.fleet`` in its steady state (the
highest node ID found by an earlier pass): the sample, the seeders of one
image the plan wants, and this host's parent for it. The baseline is
``ComputeNodeList.get_all``, what cluster_usage read at every pass
before. Both in the same run.
"""

import statistics
import time

from nova.conductor import manager as conductor_manager
from nova import context as nova_context
from nova.db.main import api as main_db_api
from nova.db import migration
from nova import objects
from nova.objects import base as objects_base
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import test_fixtures as db_fixtures
import oslo_messaging as messaging
from oslo_serialization import jsonutils

from benchmarks import common
from nova_precache import fleet
from tests import compute_nodes

SIZES = (100, 1000, 5000)
IMAGE = '7c0e3b52-2f4e-4d53-a7a4-54cf3f5cf0d1'


class Bus(object):
    """The conductor at the other end of the bus, counted."""

    def __init__(self):
        # Its object methods, without the task manager and its clients.
        self.conductor = conductor_manager.ConductorManager.__new__(
            conductor_manager.ConductorManager)
        self.serializer = objects_base.NovaObjectSerializer()
        self.bytes = 0
        self.seconds = 0.0

    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        started = time.process_time()
        # The conductor's side reads the DB itself.
        objects_base.NovaObject.indirection_api = None
        try:
            answer = self.conductor.object_class_action_versions(
                context, objname, objmethod, object_versions, args, kwargs)
        except messaging.ExpectedException as e:
            # What the caller gets back from oslo.messaging.
            self.seconds += time.process_time() - started
            raise e.exc_info[1]
        finally:
            objects_base.NovaObject.indirection_api = self
        wire = jsonutils.dumps(self.serializer.serialize_entity(context,
                                                                answer))
        self.seconds += time.process_time() - started
        self.bytes += len(wire)
        return self.serializer.deserialize_entity(context,
                                                  jsonutils.loads(wire))

    def measure(self, func, repeat):
        """Median (bytes, seconds) of ``repeat`` calls of ``func``."""
        costs = []
        for _ in range(repeat):
            self.bytes, self.seconds = 0, 0.0
            func()
            costs.append((self.bytes, self.seconds))
        return (statistics.median(c[0] for c in costs),
                statistics.median(c[1] for c in costs))


def in_memory_db(nova):
    """nova's main DB in sqlite's memory, its schema applied.

    Not the file-backed sqlite of nova's test fixture in threading mode,
    whose commit and close per transaction (tens of ms here) would swamp
    what a DB server answers in.
    """
    nova.flags(connection='sqlite://', group='database')
    nova.useFixture(db_fixtures.ReplaceEngineFacadeFixture(
        main_db_api.context_manager, enginefacade.transaction_context()))
    main_db_api.configure(common.CONF)
    migration.db_sync(database='main')


def _pass(reads, ctxt):
    """What a pass reads wanting one image it lacks."""
    view = reads.view(ctxt, 'compute00000')
    view.holders(IMAGE)
    view.parent(IMAGE)


def run(repeat=5):
    with common.NovaProcess() as nova:
        in_memory_db(nova)
        ctxt = nova_context.get_admin_context()
        images = compute_nodes.image_ids(64)
        bus = Bus()
        print('\nKnowing the fleet, per pass of one compute (bytes on the '
              'bus, conductor seconds)')
        made = 0
        for size in SIZES:
            for n in range(made, size):
                compute_nodes.create(ctxt, 'compute%05d' % n,
                                     '10.%d.%d.%d' % (n >> 16, n >> 8 & 255,
                                                      n & 255), images)
            made = size
            objects_base.NovaObject.indirection_api = bus
            try:
                full = bus.measure(lambda: objects.ComputeNodeList.get_all(
                    ctxt), repeat)
                # A process's first pass finds the highest node ID.
                reads = fleet.Fleet()
                bus.bytes, bus.seconds = 0, 0.0
                reads.view(ctxt, 'compute00000')
                first = bus.bytes, bus.seconds
                ours = bus.measure(lambda: _pass(reads, ctxt), repeat)
            finally:
                objects_base.NovaObject.indirection_api = None
            print('  %5d hosts  get_all %8.1f KB %7.3f s | sample+seeders '
                  '%6.1f KB %6.3f s | %6.0fx fewer bytes, %5.0fx less '
                  'conductor time (first pass %6.1f KB %6.3f s)' % (
                      size, full[0] / 1024, full[1], ours[0] / 1024, ours[1],
                      full[0] / ours[0], full[1] / ours[1],
                      first[0] / 1024, first[1]))


if __name__ == '__main__':
    run()
