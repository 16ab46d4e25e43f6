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

"""Download progress of ``nova-precache run``, read off the files.

nova's download path writes ``<base file>.part`` and renames it (after a
conversion through ``.converted``) when done, so the size of those files
is the progress; no hook into nova is needed. On a terminal each download
gets a tqdm bar (bytes, rate, ETA); otherwise one plain line per tenth.
"""

import os
import threading
import time

import tqdm

INTERVAL = 0.5


def _size(path):
    for suffix in ('.part', '.converted'):
        try:
            return os.stat(path + suffix).st_size, suffix
        except FileNotFoundError:
            pass
    return None, None


def _mib(n):
    return '%.1f MiB' % (n / 1048576.0)


class DownloadProgress(object):
    """Context manager reporting [(image_id, base file, size)] downloads."""

    def __init__(self, downloads, stream):
        self.downloads = downloads
        self.stream = stream
        self.tty = hasattr(stream, 'isatty') and stream.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        if self.downloads:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self):
        started = {}
        bars = {}
        tenths = {}
        done = set()
        while True:
            stopping = self._stop.is_set()
            for position, (image_id, path, total) in enumerate(
                    self.downloads):
                if image_id in done:
                    continue
                current, suffix = _size(path)
                finished = current is None and os.path.exists(path)
                if current is None and not finished:
                    continue
                first = started.setdefault(image_id, time.monotonic())
                if finished:
                    current = os.stat(path).st_size
                    done.add(image_id)
                if self.tty:
                    bar = bars.get(image_id)
                    if bar is None:
                        bar = bars[image_id] = tqdm.tqdm(
                            total=total, desc=image_id[:8], unit='B',
                            unit_scale=True, unit_divisor=1024,
                            position=position, file=self.stream,
                            leave=True)
                    if suffix == '.part':
                        bar.update(current - bar.n)
                    elif finished and total:
                        bar.update(total - bar.n)
                    if finished:
                        bar.close()
                    continue
                tenth = min(10, current * 10 // total) if total else 0
                if finished:
                    self.stream.write('image %s: downloaded\n' % image_id)
                elif suffix == '.converted' and tenths.get(image_id) != 11:
                    tenths[image_id] = 11
                    self.stream.write('image %s: converting\n' % image_id)
                elif suffix == '.part' and tenth > tenths.get(image_id, -1):
                    tenths[image_id] = tenth
                    elapsed = time.monotonic() - first
                    rate = current / elapsed if elapsed else 0
                    eta = ((total - current) / rate
                           if rate and total else None)
                    self.stream.write(
                        'image %s: %d%% (%s of %s), %s/s, ETA %s\n' % (
                            image_id, tenth * 10, _mib(current),
                            _mib(total or 0), _mib(rate),
                            '%ds' % eta if eta is not None else '?'))
                self.stream.flush()
            if stopping:
                break
            self._stop.wait(INTERVAL)
        for bar in bars.values():
            bar.close()
