"""Clients on other hosts: a server and client "hosts" in network namespaces (198.18.0.0/15).

Every other server test talks over 127.0.0.1, where the loopback rules apply; here the server
listens on 198.18.0.1 in a namespace of its own and each client runs in another namespace
(198.18.0.11, ...), reaching it through a virtual switch (see ``netns.py``). Needs root and
iproute2; skipped with the reason otherwise, and failed instead under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from netns import SERVER_ADDRESS, VirtualNetwork, namespaces_unavailable, virtual_network
from trackserver import PASSWORD, USER, ServerProcess, make_tls, running_server, wait_for

from optional import unavailable
from track.persistence import get_protocol

WORKER = Path(__file__).with_name("remote_worker.py")
#: the partition test: clients, steps per client, and how long the server's link stays down
CLIENTS, STEPS, PARTITION = 4, 100_000, 4.0


@pytest.fixture(scope="module", autouse=True)
def _namespaces() -> None:
    """Skip the module where namespaces cannot be created; fail instead under CI=true."""
    reason = namespaces_unavailable()
    if reason is None:
        return
    unavailable(f"no network namespaces: {reason}")


def client_env(tmp_path: Path) -> dict[str, str]:
    """The clients' environment: no TRACK_* settings of the caller, a home of their own.

    A trusted server key or a known-servers file therefore lands in ``tmp_path``, never in the
    user's real configuration.
    """
    home = tmp_path / "client-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        TRACK_KNOWN_SERVERS=str(home / "known_servers"),
    )
    return env


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


class Lab:
    """A test's hosts, server and clients; torn down in reverse order whatever happens."""

    def __init__(self, stack: ExitStack, tmp_path: Path) -> None:
        self.stack, self.tmp_path = stack, tmp_path

    def network(self, clients: int) -> VirtualNetwork:
        """A server host and ``clients`` client hosts, removed at the end of the test."""
        return self.stack.enter_context(virtual_network(clients))

    def serve(self, net: VirtualNetwork, **kwargs) -> ServerProcess:
        """A server on 198.18.0.1 in the server's namespace, over a sqlite store."""
        folder = self.tmp_path / "server"
        folder.mkdir()
        store = f"sqlite:///{folder}/store.db"
        context = running_server(
            folder, store, host=SERVER_ADDRESS, prefix=net.run_in(net.server), **kwargs
        )
        return self.stack.enter_context(context)

    def client(
        self,
        net: VirtualNetwork,
        host: str,
        uri: str,
        name: str,
        steps: int,
        pause: int = 0,
        barrier: bool = False,
    ) -> subprocess.Popen:
        """Run ``remote_worker.py`` on the client host ``host`` (in its namespace)."""
        command = [*net.run_in(host), sys.executable, str(WORKER), uri, name, str(steps), str(pause)]  # fmt: skip
        process = subprocess.Popen(
            [*command, "--barrier"] if barrier else command,
            stdin=subprocess.PIPE if barrier else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=client_env(self.tmp_path),
            cwd=self.tmp_path,
        )
        self.stack.callback(_kill, process)
        return process


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A :class:`Lab` for the test."""
    with ExitStack() as stack:
        yield Lab(stack, tmp_path)


def outcome(client: subprocess.Popen) -> tuple[dict, str]:
    """Wait for a client; its JSON report and its stderr."""
    stdout, stderr = client.communicate(timeout=180)
    lines = stdout.strip().splitlines()
    assert lines, f"the client printed nothing (exit {client.returncode}):\n{stderr}"
    return json.loads(lines[-1]), stderr


def quick_login_users(folder: Path) -> Path:
    """A users file for USER/PASSWORD hashed at scrypt N=2^14 (verified in ~20 ms, not ~0.5 s).

    The partition test's clients use ``read_timeout=2``; four logins at once at the default cost
    take longer than that on a loaded 2-core machine, so they would time out and retry forever.
    """
    salt = os.urandom(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    path = folder / "quick-users.toml"
    path.write_text(f'[users]\n{USER} = "scrypt$16384$8$1${salt.hex()}${digest.hex()}"\n')
    return path


def pinned(server: ServerProcess) -> str:
    """The AES key fingerprint the server logged, for ``server_key=`` (no trust on first use)."""
    found = re.search(r"server key fingerprint: ([0-9a-f]+)", server.log())
    assert found, server.log()
    return found[1]


def stored_steps(server: ServerProcess) -> dict[str, Counter]:
    """Trial name -> how many times each step of ``loss`` is stored (read back from the store)."""
    reader = get_protocol(server.store)
    try:
        trials = reader.fetch_trials(None)
    finally:
        reader.close()
    return {t.name: Counter(point[0] for point in t.metrics.get("loss", [])) for t in trials}


def progress(server: ServerProcess) -> dict[str, int]:
    """Trial name -> steps stored so far (each trial's last step + 1; steps arrive in order)."""
    reader = get_protocol(server.store)
    try:
        trials = reader.fetch_trials(None, with_metrics=False)
    finally:
        reader.close()
    return {t.name: t.metrics["loss"][-1][0] + 1 for t in trials if t.metrics.get("loss")}


def test_remote_client_is_refused_by_a_server_without_users(lab: Lab) -> None:
    """A server without users refuses a remote client, which is told why and stops retrying."""
    net = lab.network(clients=1)
    server = lab.serve(net, users={})
    uri = server.uri(user=None, server_key=pinned(server), timeout=3)
    report, stderr = outcome(lab.client(net, net.clients[0], uri, "refused", 10))
    assert server.stop() == 0
    assert report.get("error") == "ServerRefused", (report, stderr)
    assert "no users" in report["message"], report
    assert "reconnecting" not in stderr, "the client retried a refusal that retrying cannot fix"
    address = re.escape(net.addresses[net.clients[0]])
    refusal = rf"{address}:\d+: refused: non-loopback client while the server has no users"
    assert re.search(refusal, server.log()), server.log()
    assert "logged in" not in server.log()
    assert "refused" not in stored_steps(server)


def test_remote_client_is_served_without_users_when_allowed(lab: Lab) -> None:
    """With --allow-remote-without-users the same remote client is served: the address decides."""
    net = lab.network(clients=1)
    server = lab.serve(net, users={}, extra=("--allow-remote-without-users",))
    uri = server.uri(user=None, server_key=pinned(server), timeout=3)
    report, stderr = outcome(lab.client(net, net.clients[0], uri, "allowed", 10))
    assert report == {"ok": True}, (report, stderr)
    assert server.stop() == 0
    assert stored_steps(server) == {"allowed": Counter(range(10))}


@pytest.mark.parametrize("layer", ["AES", "TLS"])
def test_remote_clients_are_served_with_users(lab: Lab, tmp_path: Path, layer: str) -> None:
    """Two clients on two other hosts log in over AES or TLS and every point they log is stored."""
    net = lab.network(clients=2)
    if layer == "TLS":
        cert, key = make_tls(tmp_path, address=SERVER_ADDRESS)
        server = lab.serve(net, layer="TLS", extra=("--tls-cert", str(cert), "--tls-key", str(key)))
        uri = server.uri(ca=str(cert))
    else:
        server = lab.serve(net, layer="AES")
        uri = server.uri(server_key=pinned(server))
    clients = [lab.client(net, host, uri, f"r{i}", 1000) for i, host in enumerate(net.clients)]
    for client in clients:
        report, stderr = outcome(client)
        assert report == {"ok": True}, (report, stderr)
    assert server.stop() == 0
    for host in net.clients:
        address = re.escape(net.addresses[host])
        assert re.search(rf"{address}:\d+: user logged in", server.log()), server.log()
    assert stored_steps(server) == {"r0": Counter(range(1000)), "r1": Counter(range(1000))}


def test_remote_client_refuses_a_certificate_for_another_address(lab: Lab, tmp_path: Path) -> None:
    """A remote client checks that the certificate names 198.18.0.1: one for 127.0.0.1 fails."""
    net = lab.network(clients=1)
    cert, key = make_tls(tmp_path)
    server = lab.serve(net, layer="TLS", extra=("--tls-cert", str(cert), "--tls-key", str(key)))
    uri = server.uri(ca=str(cert), timeout=3)
    report, stderr = outcome(lab.client(net, net.clients[0], uri, "mismatch", 10))
    assert report.get("error") == "SSLCertVerificationError", (report, stderr)
    assert SERVER_ADDRESS in report["message"]
    assert server.stop() == 0
    assert "logged in" not in server.log()


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["link", "replies"])
def test_partition_mid_run_stores_every_point_exactly_once(
    lab: Lab, tmp_path: Path, cut: str
) -> None:
    """4 remote clients x 100,000 points; the server is cut off 4 s mid-run: every point once.

    ``link``: the server's switch port goes down (nothing passes either way). ``replies``: only
    what the server sends is lost, so it applies batches whose acknowledgements never arrive.
    ``read_timeout=2`` makes every client give up on its in-flight batch during the cut,
    reconnect once it is over and resend the batch under the same request id: the resend path
    (and, with ``replies``, a resend of a batch the store already applied) rather than only
    TCP's own retransmissions.
    """
    net = lab.network(clients=CLIENTS)
    users = ("--users", str(quick_login_users(tmp_path)))
    server = lab.serve(net, layer="AES", users={}, extra=users)
    uri = server.uri(server_key=pinned(server), read_timeout=2)
    names = [f"p{i}" for i in range(CLIENTS)]
    clients = [
        lab.client(net, host, uri, name, STEPS, pause=10, barrier=True)
        for name, host in zip(names, net.clients, strict=True)
    ]
    for client in clients:  # wait until every trial exists, then start logging together
        line = client.stdout.readline().strip()
        assert line == "ready", (line, client.communicate(timeout=60)[1])
    for client in clients:
        client.stdin.write("go\n")
        client.stdin.flush()

    def under_way() -> dict[str, int] | None:
        stored = progress(server)
        started = len(stored) == CLIENTS and all(n > 0 for n in stored.values())
        return stored if started else None

    switch = net.set_link if cut == "link" else net.set_outbound
    try:
        at_cut = wait_for(under_way, 60, "every client to have points stored")
    except TimeoutError:
        pytest.fail(f"no points stored from every client in 60 s; server log:\n{server.log()}")
    switch(net.server, up=False)
    time.sleep(PARTITION)
    switch(net.server, up=True)
    reports = [outcome(client) for client in clients]
    assert server.stop() == 0
    assert all(n < STEPS // 2 for n in at_cut.values()), f"the cut came too late: {at_cut}"
    for report, stderr in reports:
        assert report == {"ok": True}, (report, stderr)
        assert "reconnecting" in stderr, "a client never noticed the cut"
    stored = stored_steps(server)
    assert sorted(stored) == names
    for name in names:
        doubled = sorted(step for step, n in stored[name].items() if n != 1)
        missing = sorted(set(range(STEPS)) - set(stored[name]))
        assert (len(missing), len(doubled)) == (0, 0), (
            f"{name}: lost {missing[:5]}…, twice {doubled[:5]}…"
        )
