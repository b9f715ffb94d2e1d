"""The seeds' CockroachDB node launcher (``track.distributed.cockroachdb``).

:class:`CockroachDB` starts a local ``cockroach`` node (``start-single-node``, or ``start
--join`` to join others) in insecure mode, storing its data in ``location``, and reads the
startup report the node prints (``build``, ``webui``, ``sql``, ``client_flags``, ``status``,
``node_id``). ``uri`` is the ``cockroach://`` store URI of the node, for ``TrackClient``.

It needs the ``cockroach`` binary on ``PATH``; without it :meth:`CockroachDB.start` raises
:class:`CockroachNotFound`, saying so in one sentence. track does not ship CockroachDB.
"""

from __future__ import annotations

import atexit
import collections
import os
import shutil
import subprocess
import threading
from typing import IO

from track.errors import NotFound

__all__ = ["CockRoachDB", "CockroachDB", "CockroachNotFound"]

#: report labels (lowercased) -> property names
_LABELS = {
    "build": "build",
    "webui": "webui",
    "sql": "sql",
    "client flags": "client_flags",
    "rpc client flags": "client_flags",
    "status": "status",
    "nodeid": "node_id",
    "clusterid": "cluster_id",
    "logs": "logs",
}


class CockroachNotFound(NotFound, FileNotFoundError):
    """The ``cockroach`` binary is not on ``PATH`` (a NotFound, still a FileNotFoundError)."""


class CockroachDB:
    """A local CockroachDB node storing its data in ``location``, listening on ``addrs``.

    ``addrs`` is the ``host:port`` of its SQL and RPC listener, ``join`` the address (or
    list of addresses) of nodes to join (None: a single-node cluster), ``http_addrs`` that of
    its web UI (None: cockroach's default). With ``clean_on_exit``, :meth:`stop` deletes
    ``location`` if :meth:`start` created it (an existing folder is the user's and is kept);
    a node still running at interpreter exit is stopped.
    """

    def __init__(
        self,
        location: str,
        addrs: str,
        join: str | list[str] | None = None,
        clean_on_exit: bool = True,
        *,
        http_addrs: str | None = None,
        binary: str = "cockroach",
    ) -> None:
        self.location = os.path.abspath(location)
        self.addrs = addrs
        self.join = join
        self.clean_on_exit = clean_on_exit
        self.http_addrs = http_addrs
        self.binary = binary
        self.properties: dict[str, str] = {}
        self.output: collections.deque[str] = collections.deque(maxlen=50)
        self.process: subprocess.Popen[str] | None = None
        self._created = False
        self._changed = threading.Condition()
        self._ended = False

    # ---- the startup report ---------------------------------------------------------------

    def parse(self, properties: dict[str, str], line: str) -> None:
        """Record a ``label: value`` line of the node's startup report in ``properties``."""
        label, colon, value = line.partition(":")
        if not colon or line.startswith("*"):
            return
        name = _LABELS.get(label.strip().lower())
        if name is not None:
            properties[name] = value.strip()

    @property
    def build(self) -> str | None:
        """The node's build (version) line."""
        return self.properties.get("build")

    @property
    def webui(self) -> str | None:
        """The URL of the node's web UI."""
        return self.properties.get("webui")

    @property
    def sql(self) -> str | None:
        """The node's PostgreSQL connection URL."""
        return self.properties.get("sql")

    @property
    def client_flags(self) -> str | None:
        """The flags a ``cockroach`` client command needs to reach the node."""
        return self.properties.get("client_flags")

    @property
    def status(self) -> str | None:
        """What the node did at start (``initialized new cluster``, ``restarted pre-existing node``)."""
        return self.properties.get("status")

    @property
    def node_id(self) -> str | None:
        """The node's id in its cluster."""
        return self.properties.get("node_id")

    @property
    def uri(self) -> str | None:
        """The ``cockroach://`` track store URI of the node (None before it reported ``sql``)."""
        sql = self.sql
        if sql is None:
            return None
        return "cockroach://" + sql.split("://", 1)[1]

    # ---- life cycle -----------------------------------------------------------------------

    def command(self, binary: str) -> list[str]:
        """The command line that starts the node."""
        command = [
            binary,
            "start-single-node" if self.join is None else "start",
            "--insecure",
            f"--store={self.location}",
            f"--listen-addr={self.addrs}",
        ]
        if self.http_addrs is not None:
            command.append(f"--http-addr={self.http_addrs}")
        if self.join is not None:
            joined = self.join if isinstance(self.join, str) else ",".join(self.join)
            command.append(f"--join={joined}")
        return command

    def start(self, wait: bool = True) -> None:
        """Start the node; with ``wait``, return once it reported its node id (see :meth:`wait`)."""
        if self.process is not None:
            raise RuntimeError(f"the node of {self.location} is already started")
        binary = shutil.which(self.binary)
        if binary is None:
            raise CockroachNotFound(
                f"track.distributed.cockroachdb starts a CockroachDB node with the "
                f"`{self.binary}` binary, which is not on PATH: install CockroachDB, or use a "
                "postgresql:// or sqlite:// store instead"
            )
        self._created = not os.path.exists(self.location)
        os.makedirs(self.location, exist_ok=True)
        self.properties.clear()
        self._ended = False
        self.process = subprocess.Popen(
            self.command(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        reader = threading.Thread(
            target=self._read, args=(self.process.stdout,), name="cockroach-output", daemon=True
        )
        reader.start()
        atexit.register(self.stop)
        if wait:
            self.wait()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            with self._changed:
                self.output.append(line)
                self.parse(self.properties, line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait(self, timeout: float = 120.0) -> None:
        """Wait until the node reported its node id; if it exits first or ``timeout`` passes,
        stop it and raise with the end of its output."""
        if self.process is None:
            raise RuntimeError("the node is not started (call start())")
        with self._changed:
            self._changed.wait_for(lambda: "node_id" in self.properties or self._ended, timeout)
            if "node_id" in self.properties:
                return
            ended = self._ended
            tail = "\n".join(self.output)
        code = self.process.wait() if ended else None
        self.stop()
        if code is not None:
            raise RuntimeError(f"cockroach exited with status {code} before it started:\n{tail}")
        raise TimeoutError(f"cockroach did not report its node id within {timeout} s:\n{tail}")

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL after 30 s) and clean its folder if asked."""
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.clean_on_exit and self._created:
            shutil.rmtree(self.location)
            self._created = False


#: the spelling of the seeds' HTML reference
CockRoachDB = CockroachDB
