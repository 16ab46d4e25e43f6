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

"""Several compute hosts on one machine, each with a real sshd.

Real computes all have one instances_path, and name a file on another
host by the path it has on their own. Here each test host has a directory
of its own, and an sshd on a loopback address of its own (127.0.0.N, on a
free port) living in a mount namespace of its own, in which that host's
directory is bind-mounted over every other host's: a host that asks peer
H for its own path gets H's file, as it would between real computes, and
the test process still sees every host's directory as it is.

nova calls plain ``scp``, ``ssh`` and ``rsync``. The client's key and
options reach them as an operator's ``~/.ssh/config`` would: an ssh
configuration file of the rig, named by ``RSYNC_RSH`` for rsync and by
small ``ssh``/``scp`` wrappers put first on ``PATH`` (ssh reads
``~/.ssh/config`` from the password database, not ``$HOME``, and the
machine's own must not change).

Needs root (mount namespaces, and sshd's privilege separation), sshd
(``tools/install-deps.sh`` installs openssh-server) and rsync; a test
using the rig is skipped with the reason when one is missing.
"""

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import unittest

import fixtures

SSHD = '/usr/sbin/sshd'
_READY_TIMEOUT = 10


def _die_with_parent():
    """Have the kernel kill the sshd if the test process dies first."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _free_port(address):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def missing():
    """Why the rig cannot run here, or None."""
    if os.geteuid() != 0:
        return ('needs root: each host\'s sshd runs in a mount namespace '
                'of its own')
    if not os.path.exists(SSHD):
        return ('%s is missing: install openssh-server (tools/'
                'install-deps.sh does)' % SSHD)
    for tool in ('ssh', 'scp', 'rsync', 'unshare', 'ssh-keygen'):
        if not shutil.which(tool):
            return '%s is missing (tools/install-deps.sh installs it)' % tool
    result = subprocess.run(['unshare', '-m', '--propagation', 'private',
                             'true'], capture_output=True, text=True)
    if result.returncode:
        return ('mount namespaces are not permitted here (unshare -m: %s)'
                % result.stderr.strip())
    return None


class Host(object):
    """One host's sshd, in its mount namespace."""

    def __init__(self, name, address, directory, others, rig_dir,
                 authorized_keys):
        self.name = name
        self.address = address
        self.directory = directory
        self.others = others
        self.dir = os.path.join(rig_dir, name)
        self.port = _free_port(address)
        self.log = os.path.join(self.dir, 'sshd.log')
        self.process = None
        self.namespace = None
        os.makedirs(self.dir)
        host_key = os.path.join(self.dir, 'host_key')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '',
                        '-f', host_key], check=True)
        self.config = os.path.join(self.dir, 'sshd_config')
        with open(self.config, 'w') as f:
            f.write('\n'.join([
                'ListenAddress %s:%d' % (address, self.port),
                'HostKey ' + host_key,
                'PidFile ' + os.path.join(self.dir, 'sshd.pid'),
                'AuthorizedKeysFile ' + authorized_keys,
                'PermitRootLogin prohibit-password',
                'PubkeyAuthentication yes',
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'UsePAM no',
                'StrictModes no',
                # scp speaks SFTP since OpenSSH 9.0.
                'Subsystem sftp internal-sftp',
                'LogLevel VERBOSE',
                'MaxStartups 100',
            ]) + '\n')

    def start(self):
        mounts = ''.join('mount --bind %s %s && ' % (
            shlex.quote(self.directory), shlex.quote(other))
            for other in self.others)
        script = '%sexec %s -D -E %s -f %s' % (
            mounts, SSHD, shlex.quote(self.log), shlex.quote(self.config))
        with open(os.path.join(self.dir, 'start.log'), 'ab') as out:
            self.process = subprocess.Popen(
                ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                 script], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('sshd of %s exited with %d: %s' % (
                    self.name, self.process.returncode, self._output()))
            try:
                with socket.create_connection((self.address, self.port),
                                              timeout=1):
                    break
            except OSError:
                time.sleep(0.02)
        else:
            self.kill()
            raise RuntimeError('sshd of %s did not listen on %s:%d within '
                               '%d s: %s' % (self.name, self.address,
                                             self.port, _READY_TIMEOUT,
                                             self._output()))
        self.namespace = os.stat('/proc/%d/ns/mnt' % self.process.pid).st_ino

    def _output(self):
        text = ''
        for path in (os.path.join(self.dir, 'start.log'), self.log):
            try:
                with open(path, errors='replace') as f:
                    text += f.read()[-2000:]
            except FileNotFoundError:
                pass
        return text

    def _processes(self):
        """Pids of every process in this host's mount namespace."""
        pids = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                if os.stat('/proc/%s/ns/mnt' % entry).st_ino == \
                        self.namespace:
                    pids.append(int(entry))
            except OSError:
                continue
        return pids

    def kill(self):
        """The host goes away: its sshd and every session it serves die.

        Only processes of this host's own mount namespace are signalled,
        the sshd itself (a child of ours, not yet reaped) first.
        """
        if self.process is None or self.process.poll() is not None:
            return
        # Listed while the sshd, not yet signalled, keeps the namespace
        # (and so its number) from going to someone else.
        pids = self._processes() if self.namespace is not None else []
        self.process.kill()
        for pid in pids:
            if pid == self.process.pid:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()

    def connections(self):
        """Sessions the sshd has accepted so far."""
        try:
            with open(self.log, errors='replace') as f:
                return sum(1 for line in f if 'Accepted publickey' in line)
        except FileNotFoundError:
            return 0


class Hosts(fixtures.Fixture):
    """Test hosts, each with an sshd: ``{name: its instances dir}``.

    The hosts' addresses are 127.0.0.2, 127.0.0.3... in the order given;
    ``hosts[name]`` is that host's ``Host``.
    """

    def __init__(self, directories):
        super().__init__()
        self.directories = dict(directories)

    def _setUp(self):
        why = missing()
        if why:
            raise unittest.SkipTest('No sshd per test host: %s' % why)
        # sshd's privilege separation directory, as the package makes it.
        os.makedirs('/run/sshd', exist_ok=True)
        self.dir = self.useFixture(fixtures.TempDir()).path
        key = os.path.join(self.dir, 'client_key')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '',
                        '-f', key], check=True)
        authorized_keys = os.path.join(self.dir, 'authorized_keys')
        shutil.copy(key + '.pub', authorized_keys)
        self.hosts = {}
        for n, (name, directory) in enumerate(self.directories.items()):
            others = [d for other, d in self.directories.items()
                      if other != name]
            self.hosts[name] = Host(name, '127.0.0.%d' % (n + 2), directory,
                                    others, self.dir, authorized_keys)
        self.ssh_config = os.path.join(self.dir, 'ssh_config')
        with open(self.ssh_config, 'w') as f:
            for host in self.hosts.values():
                f.write('Host %s\n  Port %d\n' % (host.address, host.port))
            f.write('Host *\n' + ''.join('  %s\n' % option for option in (
                'IdentityFile ' + key, 'IdentitiesOnly yes',
                'StrictHostKeyChecking no', 'UserKnownHostsFile /dev/null',
                'BatchMode yes', 'ConnectTimeout 10', 'LogLevel ERROR')))
        self._client_environment()
        for host in self.hosts.values():
            self.addCleanup(host.kill)
            host.start()

    def _client_environment(self):
        """Plain ``ssh``, ``scp`` and ``rsync`` use the rig's client config."""
        bin_dir = os.path.join(self.dir, 'bin')
        os.makedirs(bin_dir)
        config = shlex.quote(self.ssh_config)
        for tool in ('ssh', 'scp'):
            wrapper = os.path.join(bin_dir, tool)
            with open(wrapper, 'w') as f:
                f.write('#!/bin/sh\nexec %s -F %s "$@"\n' % (
                    shutil.which(tool), config))
            os.chmod(wrapper, 0o755)
        self.useFixture(fixtures.EnvironmentVariable(
            'RSYNC_RSH', '%s -F %s' % (shutil.which('ssh'), config)))
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', bin_dir + os.pathsep + os.environ.get('PATH', '')))

    def __getitem__(self, name):
        return self.hosts[name]

    def connections(self):
        """Sessions accepted so far by all the hosts' sshds together."""
        return sum(host.connections() for host in self.hosts.values())
