"""The track server: one asyncio process owns a store; clients call the Protocol over sockets.

A connection goes: plaintext hello (wire version, security layer, AES key exchange), then the
login frame (inside the channel), then requests ``{"id", "call", "args", "kwargs"}`` answered
one at a time with ``{"id", "result"}`` or ``{"id", "error": {"kind", "message"}}``. Only the
methods in :data:`~track.server.worker.READS` and :data:`~track.server.worker.WRITES` may be
called. A write's reply is remembered per client session, so a request resent after a
reconnect is answered from memory (or joins the still-running original) instead of being
applied twice. Bad frames, timeouts and failed logins close that connection with a log line;
the server keeps serving everyone else.

Hostile clients are bounded (see docs/server.md, "Limits"): connections that have not logged in
yet are capped per address and in all, and the stalest of them is evicted when a new one
arrives, so a flood of idle connections cannot keep out a client with valid credentials, even
from the same address; they must log in within ``login_timeout``. Passwords are checked a few
at a time (scrypt costs 128 MiB each), at most ``max_logins_per_address`` at once per address,
and an address in its penalty period after a failed login is refused before scrypt runs. A
refused client is told why (``{"error", "refused": kind}``), so it stops retrying when retrying
cannot help. Large frames are read under a shared byte budget and decoded one at a time on a
thread of their own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import inspect
import ipaddress
import logging
import os
import signal
import ssl
import stat
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from track.errors import ConfigurationError
from track.persistence import get_protocol
from track.persistence.artifacts import ArtifactNotFound, CorruptArtifact
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
from track.server.transfers import (
    ARTIFACT_CALLS,
    Transfers,
    default_upload_dir,
    private_folder,
)
from track.server.worker import READS, WRITES, StoreWorker

if TYPE_CHECKING:  # cryptography is imported when the AES layer is set up, not with track
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["LAYERS", "ServerOptions", "SocketServer", "start_track_server"]

log = logging.getLogger("track.server")

LAYERS = (None, "AES", "TLS")
HANDSHAKE_MAX = 4096
SESSIONS_KEPT = 4096
DEFAULT_KEY_FILE = os.path.join("~", ".track", "server_ed25519.pem")
#: Frames up to this size are decoded on the event loop; larger ones on the decoding thread.
INLINE_FRAME = 64 * 1024
#: How long a refused connection may take to send its hello (read so the refusal is not lost).
REFUSAL_GRACE = 1.0

#: How far a connection got.
CONNECTED, GREETED, LOGGING_IN, LOGGED_IN = range(4)


class Refused(Exception):
    """A connection refused during the handshake or login (the message is logged).

    Control flow inside one connection's handler, which catches it; not a TrackError, because
    one escaping the handler would be a bug (see docs/errors.md).
    """


class Dropped(Exception):
    """A connection closed for misbehaving before it logged in (the message is logged).

    Control flow like :class:`Refused`: caught by the connection's handler, not a TrackError.
    """


@dataclass(eq=False)
class _Pending:
    """A connection that has not logged in yet, and how far it got."""

    host: str
    task: asyncio.Task[None]
    since: float
    stage: int = CONNECTED
    evicted: str | None = None


class _ByteBudget:
    """Bytes of large frames being read or decoded at once; waiters are served in order."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, size: int) -> None:
        """Wait until ``size`` bytes fit in the budget, then take them."""
        if not self._waiters and self.used + size <= self.capacity:
            self.used += size
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((size, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(size)
            raise

    def release(self, size: int) -> None:
        """Give ``size`` bytes back and wake the waiters that now fit."""
        self.used -= size
        while self._waiters:
            wanted, future = self._waiters[0]
            if future.cancelled():
                self._waiters.popleft()
                continue
            if self.used + wanted > self.capacity:
                break
            self._waiters.popleft()
            self.used += wanted
            future.set_result(None)


def _default_verifications() -> int:
    return min(4, os.cpu_count() or 1)


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
    #: logged-in clients at once (connections still logging in have slots of their own)
    max_connections: int = 512
    #: connections not logged in yet, all addresses together
    max_pending: int = 128
    #: connections not logged in yet from one address
    max_pending_per_address: int = 16
    #: passwords checked at once for one address
    max_logins_per_address: int = 2
    #: passwords checked at once in all (each scrypt check holds 128 MiB)
    max_verifications: int = field(default_factory=_default_verifications)
    #: seconds a new connection has to send its hello and its login
    login_timeout: float = 5.0
    #: the penalty after a failed login: this many seconds, doubling per failure ...
    login_penalty: float = 0.25
    #: ... up to this many
    login_penalty_cap: float = 5.0
    #: bytes of large frames read, decoded and answered at once (0: max_frame)
    frame_memory: int = 0
    drain_timeout: float = 30.0
    #: folder of artifact uploads in progress (None: a private folder in the system's temp dir)
    upload_dir: str | None = None

    def __post_init__(self) -> None:
        if self.security_layer in ("", "none", "None"):
            self.security_layer = None
        if self.security_layer not in LAYERS:
            raise ConfigurationError(
                f"security layer must be AES, TLS or none, not {self.security_layer!r}"
            )
        if self.security_layer == "TLS" and not (self.tls_cert and self.tls_key):
            raise ConfigurationError(
                "the TLS layer needs a certificate and a key (--tls-cert, --tls-key)"
            )
        for name in (
            "max_frame",
            "max_connections",
            "max_pending",
            "max_pending_per_address",
            "max_logins_per_address",
            "max_verifications",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.login_timeout <= 0:
            raise ConfigurationError(f"login_timeout must be positive, not {self.login_timeout}")
        self.frame_memory = max(self.frame_memory or self.max_frame, self.max_frame)


def error_kind(error: BaseException) -> str:
    """The family of an error, so the client can raise the matching built-in type."""
    for kind, base in (
        ("artifact_not_found", ArtifactNotFound),
        ("corrupt", CorruptArtifact),
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
        self.throttle = auth.FailureThrottle(
            self.options.login_penalty,
            max(self.options.login_penalty, self.options.login_penalty_cap),
        )
        self.identity: Ed25519PrivateKey | None = None
        self._worker: StoreWorker | None = None
        self._transfers: Transfers | None = None
        self._replies: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self._running: dict[tuple[str, str, int], asyncio.Task[dict[str, Any]]] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._sessions = 0
        self._pending: dict[str, list[_Pending]] = {}
        self._pending_count = 0
        self._login_slots: dict[str, asyncio.Semaphore] = {}
        self._verify_slots: asyncio.Semaphore | None = None
        self._frame_memory = _ByteBudget(self.options.frame_memory)
        self._decoder: ThreadPoolExecutor | None = None
        self._busy = 0
        self._stop: asyncio.Event | None = None
        self.port: int | None = None

    # ---- override point -----------------------------------------------------------------

    def authenticate(
        self, reader: asyncio.StreamReader, username: str | None, password: str | None
    ) -> bool:
        """True when ``username``/``password`` may log in (default: the users table).

        Either is None when the login carried none (a client without a user name or password).

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
        store.defer_commits()  # the worker commits once per group of writes
        return store

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.options.security_layer != "TLS":
            return None
        cert, key = self.options.tls_cert, self.options.tls_key
        assert cert is not None and key is not None  # ServerOptions refuses TLS without both
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    def _announce(self) -> None:
        opts = self.options
        if opts.security_layer == "AES":
            key_file = opts.key_file or os.environ.get("TRACK_SERVER_KEY_FILE") or DEFAULT_KEY_FILE
            key_file = os.path.expanduser(key_file)
            _check_private(key_file, "the server's key file (--key-file)")
            self.identity = crypto.load_identity(key_file)
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
        uploads = private_folder(self.options.upload_dir or default_upload_dir())
        self._verify_slots = asyncio.Semaphore(self.options.max_verifications)
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="track-decode")
        self._worker = StoreWorker(self._store())
        self._transfers = Transfers(uploads, self._worker)
        await loop.run_in_executor(None, self._transfers.sweep)
        tls = self._tls_context()
        server = await asyncio.start_server(
            self._handle,
            self.options.host,
            self.options.port,
            ssl=tls,
            ssl_handshake_timeout=self.options.login_timeout if tls else None,
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
        self._decoder.shutdown(wait=False, cancel_futures=True)
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
        host, where = peer[0], f"{peer[0]}:{peer[1]}"
        pending: _Pending | None = None
        try:
            if self._sessions >= self.options.max_connections:
                limit = self.options.max_connections
                await self._refuse_unread(
                    reader,
                    writer,
                    "busy",
                    f"too many connections: this server serves at most {limit} logged-in "
                    "clients at once; retry later",
                )
                raise Refused(f"too many connections ({limit} logged-in clients)")
            pending = self._admit(host, task)
            if pending is None:
                limit = self.options.max_pending_per_address
                await self._refuse_unread(
                    reader,
                    writer,
                    "busy",
                    f"too many logins in progress from {host} (max {limit}); retry later",
                )
                raise Refused(f"too many logins in progress from {host} (max {limit})")
            await self._converse(reader, writer, host, where, pending)
        except Refused as error:
            log.warning("%s: refused: %s", where, error)
        except Dropped as error:
            log.warning("%s: dropped: %s", where, error)
        except (asyncio.TimeoutError, TimeoutError):
            log.warning("%s: dropped: read timed out", where)
        except asyncio.IncompleteReadError:
            log.info("%s: disconnected", where)
        except (wire.FrameError, crypto.HandshakeError) as error:
            if self.users and pending is not None and pending.stage == LOGGED_IN:
                # the client must log in again (scrypt) to go on: that login waits, like after
                # a failed one, so looping "log in, send a hostile frame" is slowed down too
                wait = self.throttle.failed(host)
                log.warning(
                    "%s: dropped: %s; %s waits %g s before its next login", where, error, host, wait
                )
            else:
                log.warning("%s: dropped: %s", where, error)
        except (ConnectionError, ssl.SSLError) as error:
            log.info("%s: connection lost (%s)", where, error)
        except asyncio.CancelledError:
            if pending is not None and pending.evicted:
                log.warning("%s: dropped: %s", where, pending.evicted)
        finally:
            if pending is not None:
                self._forget(pending)
            self._connections.discard(task)
            writer.close()

    # ---- connections that have not logged in yet ----------------------------------------

    def _admit(self, host: str, task: asyncio.Task[None]) -> _Pending | None:
        """Count a new connection as pending; evict the stalest one past a cap (None: refuse).

        The stalest is, of the same address when that address is over its cap (of any address
        when all of them together are), the connection that got least far (idle before
        stopped after the handshake), the oldest of those. So a flood of idle connections
        evicts only its own, and a client that has sent its hello is safe from it; a connection
        whose login is being checked is never evicted. The newcomer is never the one evicted:
        when only connections being checked are left, it is refused instead.
        """
        entry = _Pending(host, task, asyncio.get_running_loop().time())
        mine = self._pending.setdefault(host, [])
        mine.append(entry)
        self._pending_count += 1
        opts = self.options
        if len(mine) > opts.max_pending_per_address:
            reason = (
                f"evicted: {host} holds more than {opts.max_pending_per_address} connections "
                "that have not logged in"
            )
            if not self._evict(mine, entry, reason):
                return None
        if self._pending_count > opts.max_pending:
            everyone = [p for waiting in self._pending.values() for p in waiting]
            reason = f"evicted: more than {opts.max_pending} connections have not logged in"
            if not self._evict(everyone, entry, reason):
                return None
        return entry

    def _evict(self, candidates: list[_Pending], newcomer: _Pending, reason: str) -> bool:
        """Close the stalest of ``candidates`` (see :meth:`_admit`); False: refuse the newcomer."""
        victims = [p for p in candidates if p.stage < LOGGING_IN and p is not newcomer]
        victim = min(victims, key=lambda p: (p.stage, p.since)) if victims else newcomer
        self._forget(victim)
        if victim is newcomer:
            return False
        victim.evicted = reason
        victim.task.cancel()
        return True

    def _forget(self, entry: _Pending) -> None:
        """No longer count ``entry`` as pending (it logged in, left or was evicted)."""
        mine = self._pending.get(entry.host)
        if mine is None or entry not in mine:
            return
        mine.remove(entry)
        self._pending_count -= 1
        if not mine:
            del self._pending[entry.host]
            self._login_slots.pop(entry.host, None)

    async def _refuse_unread(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str, message: str
    ) -> None:
        """Refuse a connection before reading it: take its hello first, so the reply is seen.

        (Closing a socket with unread data sends a reset, which may overtake the refusal.)
        """
        unread = (asyncio.TimeoutError, TimeoutError, asyncio.IncompleteReadError, wire.FrameError)
        with contextlib.suppress(*unread):
            await wire.read_frame(reader, HANDSHAKE_MAX, REFUSAL_GRACE, REFUSAL_GRACE)
        await _send_plain(writer, _refusal(kind, message))

    async def _read_login_frame(self, reader: asyncio.StreamReader, deadline: float) -> bytes:
        left = deadline - asyncio.get_running_loop().time()
        try:
            if left <= 0:
                raise TimeoutError
            return await wire.read_frame(reader, HANDSHAKE_MAX, left, left)
        except (asyncio.TimeoutError, TimeoutError):
            raise Dropped(f"no login within {self.options.login_timeout:g} s") from None

    async def _converse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        where: str,
        pending: _Pending,
    ) -> None:
        deadline = asyncio.get_running_loop().time() + self.options.login_timeout
        hello = wire.decode(await self._read_login_frame(reader, deadline))
        if not self.users and not self.options.allow_remote_without_users and not _loopback(host):
            await _send_plain(
                writer,
                _refusal(
                    "no_users",
                    "this server has no users configured, so it accepts only loopback clients "
                    "(its operator must add users with `track users add` and --users, or start "
                    "it with --allow-remote-without-users)",
                ),
            )
            raise Refused("non-loopback client while the server has no users")
        wait = self.throttle.penalty(host)
        if wait:
            await _send_plain(writer, _penalty_refusal(host, wait))
            raise Refused(f"{host} is in its penalty period after a failed login ({wait:.2f} s)")
        channel = await self._negotiate(hello, writer)
        pending.stage = GREETED
        login = wire.decode(channel.open(await self._read_login_frame(reader, deadline)))
        pending.stage = LOGGING_IN
        session = await self._login(reader, writer, channel, login, host)
        self._forget(pending)
        pending.stage = LOGGED_IN
        if self._sessions >= self.options.max_connections:
            limit = self.options.max_connections
            message = f"too many connections: this server serves at most {limit} logged-in clients"
            await _send_sealed(writer, channel, _refusal("busy", message + "; retry later"))
            raise Refused(f"too many connections ({limit} logged-in clients)")
        await _send_sealed(writer, channel, {"ok": True})
        log.info("%s: %s logged in", where, session[0])
        self._sessions += 1
        try:
            await self._serve_requests(reader, writer, channel, session)
        finally:
            self._sessions -= 1

    async def _serve_requests(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        channel: Any,
        session: tuple[str, str],
    ) -> None:
        """Answer requests one at a time until the client leaves or misbehaves.

        A frame above :data:`INLINE_FRAME` is read, decoded (on the decoding thread) and
        answered while it holds its size from the shared ``frame_memory`` budget, so only so
        many bytes of large frames, and what they decode into, are alive at once.
        """
        opts = self.options
        loop = asyncio.get_running_loop()
        while True:
            header = await asyncio.wait_for(reader.readexactly(wire.HEADER.size), opts.idle_timeout)
            (length,) = wire.HEADER.unpack(header)
            if length > opts.max_frame:
                raise wire.FrameError(
                    f"frame of {length} bytes exceeds the maximum of {opts.max_frame}"
                )
            large = length > INLINE_FRAME
            if large:
                await self._frame_memory.acquire(length)
            try:
                data = await asyncio.wait_for(reader.readexactly(length), opts.read_timeout)
                if large:
                    request = await loop.run_in_executor(
                        self._decoder, _open_and_decode, channel, data
                    )
                else:
                    request = wire.decode(channel.open(data))
                del data
                if not isinstance(request, dict) or not isinstance(request.get("id"), int):
                    del request  # not kept alive by the traceback
                    raise wire.FrameError("a request must be a map with an integer id")
                self._busy += 1
                try:
                    reply = await self._answer(session, request)
                except BaseException:
                    self._busy -= 1
                    raise
                del request
            finally:
                if large:
                    self._frame_memory.release(length)
            try:
                await _send_reply(writer, channel, reply)
            finally:
                self._busy -= 1

    async def _negotiate(self, hello: Any, writer: asyncio.StreamWriter) -> Any:
        layer = self.options.security_layer
        if not isinstance(hello, dict) or hello.get("track") != wire.VERSION:
            version = hello.get("track") if isinstance(hello, dict) else None
            message = f"unsupported wire version {version!r}; this server speaks {wire.VERSION}"
            await _send_plain(writer, _refusal("version", message))
            raise Refused(f"bad hello (wire version {version!r})")
        if hello.get("layer") != layer:
            message = f"this server requires security layer {layer}"
            await _send_plain(writer, _refusal("layer", message))
            raise Refused(f"client asked for layer {hello.get('layer')}, server uses {layer}")
        channel: crypto.AESChannel | crypto.PlainChannel
        if layer == "AES":
            assert self.identity is not None  # serve() loads it (_announce) for the AES layer
            try:
                reply, channel = crypto.server_accept(hello, self.identity)
            except crypto.HandshakeError as error:
                await _send_plain(writer, _refusal("malformed", f"malformed hello: {error}"))
                raise Refused(f"malformed hello: {error}") from None
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
        """Check a login frame; refuse (telling the client why) or return (user, session)."""
        if not isinstance(login, dict):
            login = {"session": None}
        username, password, session = login.get("user"), login.get("password"), login.get("session")
        problem = _malformed(username, password, session)
        if problem is not None:
            self.throttle.failed(host)
            await _send_sealed(
                writer, channel, _refusal("malformed", f"malformed login: {problem}")
            )
            raise Refused(f"malformed login ({problem})")
        slots = self._login_slots.setdefault(
            host, asyncio.Semaphore(self.options.max_logins_per_address)
        )
        assert self._verify_slots is not None
        async with slots, self._verify_slots:
            wait = self.throttle.penalty(host)
            if wait:
                await _send_sealed(writer, channel, _penalty_refusal(host, wait))
                raise Refused(
                    f"login of {username!r} not checked: {host} is in its penalty period "
                    f"after a failed login ({wait:.2f} s)"
                )
            ok = await self._authenticated(reader, username, password, writer, channel)
            if not ok:  # counted before the next waiting login of this address is let in
                wait = self.throttle.failed(host)
        if not ok:
            reply = _refusal("credentials", "authentication failed: wrong user name or password")
            await _send_sealed(writer, channel, reply)
            missing = "no password" if not password else "wrong password or unknown user"
            raise Refused(
                f"login failed for user {username!r} ({missing}); "
                f"{host} waits {wait:g} s before its next login is checked"
            )
        return str(username or "anonymous"), session

    async def _authenticated(
        self,
        reader: asyncio.StreamReader,
        username: str | None,
        password: str | None,
        writer: asyncio.StreamWriter,
        channel: Any,
    ) -> bool:
        try:
            if inspect.iscoroutinefunction(self.authenticate):
                return bool(await self.authenticate(reader, username, password))
            loop = asyncio.get_running_loop()
            return bool(
                await loop.run_in_executor(None, self.authenticate, reader, username, password)
            )
        except Exception as error:  # a custom authenticate() that raised: refuse, keep serving
            log.exception("authenticate() raised for user %r", username)
            message = "the server could not check the login (its log says why)"
            await _send_sealed(writer, channel, _refusal("error", message))
            raise Refused(f"authenticate() raised {type(error).__name__}") from None

    # ---- requests -----------------------------------------------------------------------

    async def _answer(self, session: tuple[str, str], request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("id"), int):
            raise wire.FrameError("a request must be a map with an integer id")
        rid = request["id"]
        name, args, kwargs = request.get("call"), request.get("args", []), request.get("kwargs", {})
        try:
            name = self._check(name, args, kwargs)
        except (TypeError, ValueError) as error:
            return {"id": rid, "error": {"kind": error_kind(error), "message": str(error)}}
        if name in ARTIFACT_CALLS:  # idempotent by upload id and offset: never cached
            return await self._transfer(rid, session, name, args)
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
        self,
        key: tuple[str, str, int],
        session: tuple[str, str],
        rid: int,
        task: asyncio.Task[dict[str, Any]],
    ) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._replies[session] = (rid, task.result())
        self._replies.move_to_end(session)
        if len(self._replies) > SESSIONS_KEPT:
            self._replies.popitem(last=False)

    @staticmethod
    def _check(name: Any, args: Any, kwargs: Any) -> str:
        """The name of the method a request calls, once the request is checked."""
        if not isinstance(name, str) or not (
            name in READS or name in WRITES or name in ARTIFACT_CALLS
        ):
            raise ValueError(f"{name!r} is not a callable method of the track server")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("args must be a list and kwargs a map")
        if name in ARTIFACT_CALLS and kwargs:
            raise TypeError(f"{name} takes no keyword arguments")
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
        return name

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

    async def _transfer(
        self, rid: int, session: tuple[str, str], name: str, args: list[Any]
    ) -> dict[str, Any]:
        """Answer an artifact request (see :mod:`track.server.transfers`)."""
        assert self._transfers is not None
        try:
            result = await self._transfers.answer(session[0], session[1], name, args)
        except Exception as error:  # a refused or failed transfer: tell the client, keep serving
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


async def _send_reply(writer: asyncio.StreamWriter, channel: Any, reply: dict[str, Any]) -> None:
    """Send a request's reply. One whose result the wire cannot carry is logged and replaced by
    an error the client raises at once: dropping the connection instead would look like a
    server down, which a client retries for minutes."""
    try:
        payload = wire.encode(reply)
    except Exception as error:
        log.exception("the reply to request %s cannot be sent", reply.get("id"))
        message = f"the server cannot send this result ({type(error).__name__}: {error})"
        payload = wire.encode(
            {"id": reply.get("id"), "error": {"kind": "other", "message": message}}
        )
    await _send_encoded(writer, channel, payload)


async def _send_plain(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(wire.frame(wire.encode(message)))
    await writer.drain()


async def _send_sealed(writer: asyncio.StreamWriter, channel: Any, message: dict[str, Any]) -> None:
    await _send_encoded(writer, channel, wire.encode(message))


async def _send_encoded(writer: asyncio.StreamWriter, channel: Any, payload: bytes) -> None:
    writer.write(wire.frame(channel.seal(payload)))
    await writer.drain()


def _open_and_decode(channel: Any, data: bytes) -> Any:
    """Decrypt and decode a large frame (on the decoding thread).

    The cyclic garbage collector is paused meanwhile: a frame can hold millions of containers,
    and the collections their creation would trigger double the decoding time.
    """
    plain = channel.open(data)
    paused = gc.isenabled()
    gc.disable()
    try:
        return wire.decode(plain)
    finally:
        if paused:
            gc.enable()


def _refusal(kind: str, message: str, retry_after: float | None = None) -> dict[str, Any]:
    """What a refused client reads: why, and what kind of refusal (see the client's errors).

    ``busy`` and ``penalty`` may pass if the client retries (after ``retry_after`` seconds);
    ``no_users``, ``credentials``, ``malformed``, ``version``, ``layer`` and ``error`` will not.
    """
    reply: dict[str, Any] = {"error": message, "refused": kind}
    if retry_after is not None:
        reply["retry_after"] = round(retry_after, 3)
    return reply


def _penalty_refusal(host: str, wait: float) -> dict[str, Any]:
    message = f"too many failed logins from {host}: retry in {wait:.2f} s"
    return _refusal("penalty", message, retry_after=wait)


def _malformed(username: Any, password: Any, session: Any) -> str | None:
    """What is wrong with a login's fields (None: they are well-formed)."""
    if not isinstance(session, str) or not 0 < len(session) <= 64:
        return "the session must be a string of 1 to 64 characters"
    if not isinstance(username, (str, type(None))) or not isinstance(password, (str, type(None))):
        return "the user name and password must be strings"
    if len(username or "") > 256 or len(password or "") > 1024:
        return "the user name or password is too long"
    return None


def _check_private(path: str, what: str) -> None:
    """Refuse to use a private key that others may read or change (mode must be 0600 or less)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{what} {path} is accessible to its group or to everyone "
            f"(mode {stat.S_IMODE(mode):04o}): anyone who reads it can impersonate this server. "
            f"Restrict it with: chmod 600 {path}"
        )


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
        raise ConfigurationError("give the security layer once (security_layer= or backend=)")
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
    layer = security_layer if security_layer is not None else backend
    server = SocketServer(store=protocol, host=hostname, port=port, security_layer=layer, **options)
    server.run_server()
