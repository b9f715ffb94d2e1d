"""Virtual hosts for tests: network namespaces on one virtual switch, in 198.18.0.0/15.

Each "host" is a network namespace with one interface ``eth0``, the end of a veth pair whose
other end is a port of the bridge ``br0`` in a hub namespace of its own. Nothing is created in
the caller's namespace, so the tests neither see nor touch the machine's real network: the only
addresses are in the benchmarking range 198.18.0.0/15 (RFC 2544), on a link with no route out.
Namespace names carry the test process's pid and a counter, so parallel runs do not collide and
the leftovers of a crashed run (a pid that no longer runs) are removed by the next run.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PREFIX", "VirtualNetwork", "namespaces_unavailable", "virtual_network"]

#: every namespace these tests create starts with this, then ``<pid>-<counter>-``
PREFIX = "tracktest-"
#: the /24 of the benchmarking range the hosts live in; the server is .1, clients .11, .12, ...
NETWORK = "198.18.0"
SERVER_ADDRESS = f"{NETWORK}.1"

_counter = itertools.count()


def _ip(*args: str) -> str:
    """Run ``ip ARGS``; raise with ip's own message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _write_sysctl(namespace: str, key: str, value: str) -> None:
    """Set ``/proc/sys/<key>`` inside ``namespace`` (network settings are per namespace)."""
    command = ["ip", "netns", "exec", namespace, "sh", "-c", f'echo {value} > "/proc/sys/{key}"']
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be created here (None when they can)."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
    except RuntimeError as error:
        return f"cannot create a network namespace: {error}"
    _ip("netns", "delete", name)
    return None


def remove_stale_namespaces() -> list[str]:
    """Delete namespaces left by test runs whose process no longer exists; their names."""
    removed = []
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        found = re.fullmatch(rf"{re.escape(PREFIX)}(\d+)-.*", name)
        if found is None:
            continue
        try:
            os.kill(int(found[1]), 0)
        except ProcessLookupError:
            _ip("netns", "delete", name)
            removed.append(name)
        except PermissionError:
            pass  # a live process of another user
    return removed


class VirtualNetwork:
    """A server host (198.18.0.1) and ``clients`` client hosts (198.18.0.11, ...) on a switch."""

    def __init__(self, clients: int) -> None:
        self.tag = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.hub = f"{self.tag}-hub"
        self.server = f"{self.tag}-srv"
        self.clients = [f"{self.tag}-c{i}" for i in range(clients)]
        self.addresses = {self.server: SERVER_ADDRESS}
        for i, name in enumerate(self.clients):
            self.addresses[name] = f"{NETWORK}.{11 + i}"
        #: host namespace -> its port on the bridge (inside the hub namespace)
        self.ports = {name: f"p{i}" for i, name in enumerate([self.server, *self.clients])}
        self.created: list[str] = []

    def create(self) -> VirtualNetwork:
        """Create the hub with its bridge, then each host with its address, all links up."""
        self._add(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for host, address in self.addresses.items():
            self._add(host)
            port = self.ports[host]
            _ip("-n", host, "link", "set", "lo", "up")
            _ip("-n", host, "link", "add", "name", "eth0", "type", "veth", "peer", "name", port, "netns", self.hub)  # fmt: skip
            _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", host, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", host, "link", "set", "eth0", "up")
        return self

    def _add(self, name: str) -> None:
        _ip("netns", "add", name)
        self.created.append(name)

    def remove(self) -> None:
        """Delete every namespace created (their veth pairs and the bridge go with them)."""
        errors = []
        while self.created:
            name = self.created.pop()
            try:
                _ip("netns", "delete", name)
            except RuntimeError as error:
                errors.append(str(error))
        if errors:
            raise RuntimeError("; ".join(errors))

    def run_in(self, host: str) -> tuple[str, ...]:
        """The command prefix that runs a program inside ``host``'s namespace."""
        return ("ip", "netns", "exec", host)

    def set_link(self, host: str, up: bool) -> None:
        """Plug or unplug ``host``'s cable: its bridge port goes up or down.

        Frames to and from the host are then dropped silently, with no error for either side,
        as when a switch port or a cable fails: TCP retransmits until the link comes back.
        """
        _ip("-n", self.hub, "link", "set", self.ports[host], "up" if up else "down")

    def set_outbound(self, host: str, up: bool) -> None:
        """Let through, or silently drop, everything ``host`` sends; what it receives still arrives.

        A one-way partition: blackhole routes in ``host``'s namespace to every other host (with
        reverse-path filtering off, so that packets from them are still accepted). A server cut
        this way receives and applies requests but none of its replies reach the clients.
        """
        if not up:
            for setting in ("all", "eth0"):
                _write_sysctl(host, f"net/ipv4/conf/{setting}/rp_filter", "0")
        for other, address in self.addresses.items():
            if other != host:
                _ip(
                    "-n", host, "route", "add" if not up else "delete", "blackhole", f"{address}/32"
                )


@contextmanager
def virtual_network(clients: int) -> Iterator[VirtualNetwork]:
    """A created :class:`VirtualNetwork`, removed afterwards whatever happens."""
    remove_stale_namespaces()
    network = VirtualNetwork(clients)
    try:
        yield network.create()
    finally:
        network.remove()
