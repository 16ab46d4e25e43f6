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

# Patched as nova-compute is, before anything else is imported.
import os

# Measure nova as nova-compute 34 runs it: on native threads
# (nova/cmd/compute.py), not under eventlet, where the test harness runs
# and where threads take turns. The variable also rules the patch() of
# tests/ (imported for glance-api), which would otherwise try eventlet
# after this one has barred it. OS_NOVA_DISABLE_EVENTLET_PATCHING=0
# measures the deprecated eventlet mode.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch ; monkey_patch.patch(backend='threading')  # noqa
