"""The track server: one asyncio process owns a store; clients call the Protocol over sockets.

A connection goes: plaintext hello (wire version, security layer, AES key exchange), then the
login frame (inside the channel), then requests ``{"id", "call", "args", "kwargs"}`` answered
one at a time with ``{"id", "result"}`` or ``{"id", "error": {"kind", "message"}}``. Only the
methods in :data:`~track.server.worker.READS` and :data:`~track.server.worker.WRITES` may be
called. A write's reply is remembered per client session, so a request resent after a
reconnect is answered from memory (or joins the still-running original) instead of being
applied twice. Bad frames, timeouts and failed logins close that connection with a log line;
the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import os
import signal
import ssl
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

from track.persistence import get_protocol
from track.persistence.protocol import (
    GROUP_UPDATE_METHODS,
    TRIAL_UPDATE_METHODS,
    TrialNotFound,
    WriteRefused,
    check_update_method,
)
from track.persistence.utils import URI, parse_uri
from track.server import auth, crypto, wire
from track.server.client import CREATION_KEY
from track.server.worker import READS, WRITES, StoreWorker

__all__ = ["LAYERS", "ServerOptions", "SocketServer", "start_track_server"]

log = logging.getLogger("track.server")

LAYERS = (None, "AES", "TLS")
HANDSHAKE_MAX = 4096
SESSIONS_KEPT = 4096
DEFAULT_KEY_FILE = os.path.join("~", ".track", "server_ed25519.pem")


class Refused(Exception):
    """A connection refused during the handshake or login (the message is logged)."""


@dataclass
class ServerOptions:
    """How a server listens, whom it lets in and how long it waits."""

    store: str = "file://server.json"
    host: str = "127.0.0.1"
    port: int = 8123
    security_layer: str | None = None
    users_file: str | None = None
    key_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    allow_remote_without_users: bool = False
    max_frame: int = wire.DEFAULT_MAX_FRAME
    read_timeout: float = 10.0
    idle_timeout: float = 600.0
    max_connections: int = 512
    drain_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security_layer in ("", "none", "None"):
            self.security_layer = None
        if self.security_layer not in LAYERS:
            raise ValueError(
                f"security layer must be AES, TLS or none, not {self.security_layer!r}"
            )
        if self.security_layer == "TLS" and not (self.tls_cert and self.tls_key):
            raise ValueError("the TLS layer needs a certificate and a key (--tls-cert, --tls-key)")


def error_kind(error: BaseException) -> str:
    """The family of an error, so the client can raise the matching built-in type."""
    for kind, base in (
        ("not_found", TrialNotFound),
        ("refused", WriteRefused),
        ("key", KeyError),
        ("value", ValueError),
        ("type", TypeError),
        ("not_implemented", NotImplementedError),
    ):
        if isinstance(error, base):
            return kind
    return "other"


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return f"{error}"


class SocketServer:
    """A track server; subclass it and override :meth:`authenticate` for custom logins.

    ``uri`` is ``socket://host:port?security_layer=AES&backend=<store uri>``; keyword options
    (the fields of :class:`ServerOptions`) override it.
    """

    def __init__(self, uri: str | URI | None = None, **options: Any) -> None:
        if uri is not None:
            parsed = parse_uri(uri)
            options.setdefault("host", parsed.address or "127.0.0.1")
            if parsed.port is not None:
                options.setdefault("port", parsed.port)
            for key in ("backend", "store"):
                if key in parsed.query:
                    options.setdefault("store", parsed.query[key])
            if "security_layer" in parsed.query:
                options.setdefault("security_layer", parsed.query["security_layer"])
        known = {f.name for f in fields(ServerOptions)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown server options: {', '.join(sorted(unknown))}")
        self.options = ServerOptions(**options)
        self.users = auth.load_users(self.options.users_file)
        self.throttle = auth.FailureThrottle()
        self.identity: Any = None
        self._worker: StoreWorker | None = None
        self._replies: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self._running: dict[tuple[str, str, int], asyncio.Task] = {}
        self._connections: set[asyncio.Task] = set()
        self._busy = 0
        self._stop: asyncio.Event | None = None
        self.port: int | None = None

    # ---- override point -----------------------------------------------------------------

    def authenticate(self, reader: asyncio.StreamReader, username: str, password: str) -> bool:
        """True when ``username``/``password`` may log in (default: the users table).

        Runs on a worker thread (scrypt is slow on purpose); may also be a coroutine
        function. With no users configured every login is accepted, and only loopback
        clients get this far unless ``allow_remote_without_users``.
        """
        if not self.users:
            return True
        return auth.check_credentials(self.users, username, password)

    # ---- life cycle ---------------------------------------------------------------------

    def run_server(self) -> None:
        """Serve until SIGTERM/SIGINT, then drain, commit the store and return."""
        asyncio.run(self.serve())

    def close(self) -> None:
        """Ask a running server to stop (thread-safe only from its own loop)."""
        if self._stop is not None:
            self._stop.set()

    def _store(self) -> Any:
        store = get_protocol(self.options.store)
        if hasattr(store, "eager"):
            # A file store would rewrite itself at every write; the worker commits per group.
            store.eager = False
        return store

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.options.security_layer != "TLS":
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.options.tls_cert, self.options.tls_key)
        return context

    def _announce(self) -> None:
        opts = self.options
        if opts.security_layer == "AES":
            key_file = opts.key_file or os.environ.get("TRACK_SERVER_KEY_FILE") or DEFAULT_KEY_FILE
            self.identity = crypto.load_identity(os.path.expanduser(key_file))
            log.info("server key fingerprint: %s", crypto.identity_fingerprint(self.identity))
        if not self.users:
            scope = (
                "ANY address (allow_remote_without_users)"
                if opts.allow_remote_without_users
                else "loopback clients only"
            )
            log.warning("NO USERS CONFIGURED: authentication is OFF; accepting %s", scope)
        elif opts.security_layer is None:
            log.warning("no security layer: passwords and data cross the network in clear text")

    async def serve(self) -> None:
        """Listen, serve until stopped, then drain in-flight requests and commit the store."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        self._announce()
        self._worker = StoreWorker(self._store())
        server = await asyncio.start_server(
            self._handle, self.options.host, self.options.port, ssl=self._tls_context()
        )
        self.port = server.sockets[0].getsockname()[1]
        log.info(
            "track server listening on %s:%d (layer %s, store %s)",
            self.options.host,
            self.port,
            self.options.security_layer or "none",
            parse_uri(self.options.store).redacted(),
        )
        await self._stop.wait()
        log.info("stopping: draining in-flight requests")
        server.close()
        await self._drain()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await loop.run_in_executor(None, self._worker.close)
        log.info("store committed; server stopped")

    async def _drain(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.options.drain_timeout
        while (self._busy or self._running) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    # ---- one connection -----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        where = f"{peer[0]}:{peer[1]}"
        try:
            await self._converse(reader, writer, peer[0], where)
        except Refused as error:
            log.warning("%s: refused: %s", where, error)
        except (asyncio.TimeoutError, TimeoutError):
            log.warning("%s: dropped: read timed out", where)
        except asyncio.IncompleteReadError:
            log.info("%s: disconnected", where)
        except (wire.FrameError, crypto.HandshakeError) as error:
            log.warning("%s: dropped: %s", where, error)
        except (ConnectionError, ssl.SSLError) as error:
            log.info("%s: connection lost (%s)", where, error)
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, where: str
    ) -> None:
        if len(self._connections) > self.options.max_connections:
            raise Refused(f"too many connections (max {self.options.max_connections})")
        if not self.users and not self.options.allow_remote_without_users and not _loopback(host):
            raise Refused("non-loopback client while the server has no users")
        timeout = self.options.read_timeout
        hello = wire.decode(await wire.read_frame(reader, HANDSHAKE_MAX, timeout, timeout))
        channel = await self._negotiate(hello, writer)
        login = wire.decode(
            channel.open(await wire.read_frame(reader, HANDSHAKE_MAX, timeout, timeout))
        )
        session = await self._login(reader, writer, channel, login, host)
        log.info("%s: %s logged in", where, session[0])
        while True:
            data = await wire.read_frame(
                reader, self.options.max_frame, self.options.idle_timeout, timeout
            )
            request = wire.decode(channel.open(data))
            self._busy += 1
            try:
                reply = await self._answer(session, request)
                writer.write(wire.frame(channel.seal(wire.encode(reply))))
                await writer.drain()
            finally:
                self._busy -= 1

    async def _negotiate(self, hello: Any, writer: asyncio.StreamWriter) -> Any:
        layer = self.options.security_layer
        if not isinstance(hello, dict) or hello.get("track") != wire.VERSION:
            version = hello.get("track") if isinstance(hello, dict) else None
            await _send_plain(
                writer,
                {
                    "error": f"unsupported wire version {version!r}; "
                    f"this server speaks {wire.VERSION}"
                },
            )
            raise Refused(f"bad hello (wire version {version!r})")
        if hello.get("layer") != layer:
            await _send_plain(writer, {"error": f"this server requires security layer {layer}"})
            raise Refused(f"client asked for layer {hello.get('layer')}, server uses {layer}")
        if layer == "AES":
            reply, channel = crypto.server_accept(hello, self.identity)
        else:
            reply, channel = {}, crypto.PlainChannel()
        await _send_plain(writer, {"track": wire.VERSION, "layer": layer, **reply})
        return channel

    async def _login(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        channel: Any,
        login: Any,
        host: str,
    ) -> tuple[str, str]:
        if not isinstance(login, dict):
            raise Refused("malformed login")
        username, password, session = login.get("user"), login.get("password"), login.get("session")
        if not isinstance(session, str) or len(session) > 64:
            raise Refused("malformed login (session)")
        if inspect.iscoroutinefunction(self.authenticate):
            ok = await self.authenticate(reader, username, password)
        else:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(None, self.authenticate, reader, username, password)
        if not ok:
            await asyncio.sleep(self.throttle.delay(host))
            self.throttle.failed(host)
            reply = {"error": "authentication failed: wrong user name or password"}
            writer.write(wire.frame(channel.seal(wire.encode(reply))))
            await writer.drain()
            missing = "no password" if not password else "wrong password or unknown user"
            raise Refused(f"login failed for user {username!r} ({missing})")
        self.throttle.succeeded(host)
        writer.write(wire.frame(channel.seal(wire.encode({"ok": True}))))
        await writer.drain()
        return str(username or "anonymous"), session

    # ---- requests -----------------------------------------------------------------------

    async def _answer(self, session: tuple[str, str], request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("id"), int):
            raise wire.FrameError("a request must be a map with an integer id")
        rid = request["id"]
        name, args, kwargs = request.get("call"), request.get("args", []), request.get("kwargs", {})
        try:
            self._check(name, args, kwargs)
        except (TypeError, ValueError) as error:
            return {"id": rid, "error": {"kind": error_kind(error), "message": str(error)}}
        if name in READS:
            return await self._execute(rid, name, args, kwargs)
        remembered = self._replies.get(session)
        if remembered is not None and remembered[0] == rid:
            return remembered[1]
        key = (*session, rid)
        task = self._running.get(key)
        if task is None:
            resent = request.get("resent") is True
            task = asyncio.ensure_future(self._execute(rid, name, args, kwargs, resent))
            self._running[key] = task
            task.add_done_callback(lambda done: self._remember(key, session, rid, done))
        return await asyncio.shield(task)

    def _remember(
        self, key: tuple[str, str, int], session: tuple[str, str], rid: int, task: asyncio.Task
    ) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._replies[session] = (rid, task.result())
        self._replies.move_to_end(session)
        if len(self._replies) > SESSIONS_KEPT:
            self._replies.popitem(last=False)

    @staticmethod
    def _check(name: Any, args: Any, kwargs: Any) -> None:
        if name not in READS and name not in WRITES:
            raise ValueError(f"{name!r} is not a callable method of the track server")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("args must be a list and kwargs a map")
        if name == "commit" and (args or kwargs):
            raise TypeError("commit takes no arguments over the network")
        if name in ("fetch_and_update_trial", "fetch_and_update_group"):
            attr = args[1] if len(args) > 1 else kwargs.get("attr")
            allowed = TRIAL_UPDATE_METHODS if name.endswith("trial") else GROUP_UPDATE_METHODS
            check_update_method(attr if isinstance(attr, str) else repr(attr), allowed)
        if name == "fetch_and_update_once":
            if kwargs or len(args) != 6 or not isinstance(args[0], str):
                raise TypeError(
                    "fetch_and_update_once takes (request, kind, query, attr, args, kwargs)"
                )
            kind, attr, call_args, call_kwargs = args[1], args[3], args[4], args[5]
            if kind not in ("trial", "group"):
                raise ValueError(f"kind must be 'trial' or 'group', not {kind!r}")
            if not isinstance(call_args, list) or not isinstance(call_kwargs, dict):
                raise TypeError("the update's args must be a list and its kwargs a map")
            allowed = TRIAL_UPDATE_METHODS if kind == "trial" else GROUP_UPDATE_METHODS
            check_update_method(attr if isinstance(attr, str) else repr(attr), allowed)

    async def _execute(
        self, rid: int, name: str, args: list[Any], kwargs: dict[str, Any], resent: bool = False
    ) -> dict[str, Any]:
        assert self._worker is not None
        try:
            result = None
            if resent and name == "new_trial":
                result = await self._created_before(args)
            if result is None:
                result = await self._worker.submit(name, args, kwargs)
        except Exception as error:  # the store refused: tell the client, keep serving
            return {"id": rid, "error": {"kind": error_kind(error), "message": _message(error)}}
        return {"id": rid, "result": result}

    async def _created_before(self, args: list[Any]) -> Any:
        """The trial a resent ``new_trial`` already created (before a crash lost the reply)."""
        assert self._worker is not None
        creation = getattr(args[0], "metadata", {}).get(CREATION_KEY) if args else None
        if not isinstance(creation, str):
            return None
        query = {f"metadata.{CREATION_KEY}": creation}
        found = await self._worker.submit("fetch_trials", [query], {"with_metrics": False})
        return found[0] if found else None


async def _send_plain(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(wire.frame(wire.encode(message)))
    await writer.drain()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def start_track_server(
    protocol: str,
    hostname: str = "127.0.0.1",
    port: int = 8123,
    security_layer: str | None = None,
    backend: str | None = None,
    **options: Any,
) -> None:
    """Serve the store ``protocol`` on ``hostname:port`` until SIGTERM/SIGINT (seed API).

    ``backend`` is the seeds' other name for ``security_layer``. Other keyword options are
    the fields of :class:`ServerOptions` (``users_file``, ``key_file``, ``tls_cert``, ...).
    """
    if backend is not None and security_layer is not None and backend != security_layer:
        raise ValueError("give the security layer once (security_layer= or backend=)")
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
    layer = security_layer if security_layer is not None else backend
    server = SocketServer(store=protocol, host=hostname, port=port, security_layer=layer, **options)
    server.run_server()
