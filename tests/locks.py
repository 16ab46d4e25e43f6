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

"""Hold nova's lock of a base file from another thread, as a spawn would."""

import contextlib
import threading

from nova import utils


@contextlib.contextmanager
def held_elsewhere(name, lock_path):
    """Hold nova's external lock ``name`` in another thread meanwhile.

    What a download or copy under way looks like to the code under test:
    the lock file is taken by someone else until the block ends.
    """
    holding, release = threading.Event(), threading.Event()

    @utils.synchronized(name, external=True, lock_path=lock_path)
    def hold():
        holding.set()
        release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()
