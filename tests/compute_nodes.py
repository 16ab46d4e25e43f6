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

"""Compute node rows as a libvirt compute writes them, in nova's DB.

What the resource tracker stores for a two-socket host: libvirt's
cpu_info, a NUMA topology of two cells with their CPU siblings and
memory pages, and the stats a compute publishing ``images`` writes.
"""

import json

from nova import objects
from oslo_utils import uuidutils

from nova_precache import stats

_FEATURES = ['pge', 'avx', 'avx2', 'clflushopt', 'sse4.1', 'sse4.2', 'xsave',
             'invpcid', 'bmi1', 'bmi2', 'erms', 'fma', 'f16c', 'rdrand',
             'rdseed', 'adx', 'smap', 'smep', 'pku', 'ospke', 'avx512f',
             'avx512dq', 'avx512cd', 'avx512bw', 'avx512vl', 'vmx', 'ssbd',
             'md-clear', 'spec-ctrl', 'stibp', 'arch-capabilities', 'pdpe1gb',
             'mpx', 'tsc_adjust', 'xsaveopt', 'xsavec', 'xgetbv1', 'xsaves',
             'pcid', 'x2apic', 'movbe', 'popcnt', 'aes', 'tsc-deadline',
             'lahf_lm', 'abm', '3dnowprefetch', 'cmov', 'pat', 'pse36']
CPU_INFO = json.dumps({
    'arch': 'x86_64', 'model': 'Cascadelake-Server-noTSX', 'vendor': 'Intel',
    'topology': {'cells': 2, 'sockets': 1, 'cores': 24, 'threads': 2},
    'features': _FEATURES, 'maxphysaddr': {'mode': 'emulate', 'bits': 46}})


def numa_topology():
    cells = []
    for cell in range(2):
        cpus = set(range(cell * 48, cell * 48 + 48))
        cells.append(objects.NUMACell(
            id=cell, cpuset=cpus, pcpuset=set(), memory=386000,
            cpu_usage=12, memory_usage=65536, pinned_cpus=set(),
            siblings=[{c, c + 24} for c in sorted(cpus)[:24]],
            mempages=[objects.NUMAPagesTopology(size_kb=4, total=98816000,
                                                used=0, reserved=0),
                      objects.NUMAPagesTopology(size_kb=2048, total=0,
                                                used=0, reserved=0),
                      objects.NUMAPagesTopology(size_kb=1048576, total=0,
                                                used=0, reserved=0)],
            network_metadata=objects.NetworkMetadata(physnets=set(),
                                                     tunneled=False),
            socket=cell))
    return objects.NUMATopology(cells=cells)._to_json()


def published(images, critical=()):
    """The stats of a compute publishing ``images``, with nova's own."""
    return dict(stats.encode({i: [20, 40] for i in images}, critical),
                num_instances='6', num_vm_active='6', num_task_None='6',
                io_workload='0', num_os_type_linux='6', num_proj_a='6',
                failed_builds='0')


def create(context, host, address=None, images=(), critical=()):
    """A compute node row of ``host``, publishing ``images``."""
    node = objects.ComputeNode(
        context, uuid=uuidutils.generate_uuid(), host=host,
        hypervisor_hostname=host, host_ip=address or '192.0.2.1',
        vcpus=96, memory_mb=772000, local_gb=3500, vcpus_used=12,
        memory_mb_used=131072, local_gb_used=400, free_ram_mb=640928,
        free_disk_gb=3100, current_workload=0, running_vms=6,
        hypervisor_type='QEMU', hypervisor_version=8002000,
        cpu_info=CPU_INFO, disk_available_least=3000,
        supported_instances=[['x86_64', 'kvm', 'hvm'],
                             ['i686', 'kvm', 'hvm']],
        metrics='[]', pci_device_pools=objects.PciDevicePoolList(objects=[]),
        extra_resources=None,
        stats=published(images, critical),
        numa_topology=numa_topology(), cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.0, disk_allocation_ratio=1.0, mapped=1)
    node.create()
    return node


def image_ids(count, prefix='0'):
    return ['%s0000000-0000-4000-8000-%012d' % (prefix, i)
            for i in range(count)]
