"""``socket://user:pass@host:port?security_layer=AES``: a store that forwards to a track server.

Every Protocol method becomes one request; writes arrive through ``log_trial_batch`` from the
write pipeline's flusher thread, reads from the user's thread, so one lock serializes a
request with its reply. When the connection fails the client reconnects with backoff and
resends the unacknowledged request under the same request id (the server answers a resend
from memory, and stores skip a batch whose (writer, seq) they applied), so nothing is lost or
doubled. After ``timeout`` seconds without a server, reads raise :class:`ServerUnreachable`
and batches are appended to a spill file that ``track replay`` applies later; from then on
this client keeps spilling, so the file holds every later write in order.

URI options: ``security_layer`` (AES, TLS or none), ``server_key`` (pinned fingerprint for
AES), ``known_servers`` (the file recording each server's AES key on first use, see
:mod:`track.server.known`), ``ca`` (CA or pinned certificate for TLS), ``timeout`` (seconds,
also ``TRACK_SERVER_TIMEOUT``, default 60), ``read_timeout`` (default 60), ``spill_dir``,
``password_file``. Without a password in the URI, the password is read from the file named by
``TRACK_PASSWORD_FILE``, else from ``TRACK_PASSWORD``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import ssl
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO, cast

from track.configuration import options
from track.errors import ConfigurationError, InvalidValue, NotFound, ServerError
from track.persistence.artifacts import (
    CHUNK_SIZE,
    ArtifactInfo,
    ArtifactNotFound,
    ArtifactSource,
    CorruptArtifact,
    checked_name,
    opened,
    verified,
)
from track.persistence.chunks import ChunkPreview, SeriesColumns
from track.persistence.protocol import (
    MetricSummary,
    Protocol,
    TrialBatch,
    TrialNotFound,
    WriteRefused,
)
from track.persistence.utils import URI, parse_uri
from track.pipeline import append_spill
from track.retry import retry
from track.server import crypto, wire
from track.server.known import KnownServers, ServerKeyChanged, known_servers_path, server_name
from track.structure import Project, Trial, TrialGroup

__all__ = [
    "AuthenticationFailed",
    "RPCCallFailure",
    "ServerBusy",
    "ServerRefused",
    "ServerUnreachable",
    "SocketClient",
]

log = logging.getLogger("track.client")

#: Metadata key holding the id of the request that created a trial (see ``new_trial``).
CREATION_KEY = "creation_request"


class ServerUnreachable(ServerError, ConnectionError):
    """The server could not be reached within the client's timeout."""


class ServerRefused(ServerError):
    """The server refused the connection (wire version, security layer or credentials)."""


class AuthenticationFailed(ServerRefused):
    """Wrong or missing user name or password."""


class ServerBusy(ServerRefused):
    """A refusal that retrying may fix (too many connections, a login penalty): retried.

    ``retry_after`` is the least wait, in seconds, the server asked for before the next try
    (0: none); the client's backoff waits at least that long.
    """

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _refused(where: str, reply: Any, login: bool) -> ServerRefused:
    """The error for a server's refusal ``{"error", "refused": kind}`` (see the server)."""
    message = reply.get("error") if isinstance(reply, dict) else reply
    kind = reply.get("refused") if isinstance(reply, dict) else None
    text = f"track server {where} refused: {message}"
    if kind in ("busy", "penalty"):
        retry_after = reply.get("retry_after")
        return ServerBusy(text, float(retry_after) if isinstance(retry_after, (int, float)) else 0)
    if kind == "credentials" or (login and kind is None):
        return AuthenticationFailed(text)
    return ServerRefused(text)


class RPCCallFailure(ServerError):
    """The server's store raised while running a call; ``trace`` is kept for the seed API.

    The subclasses land the store's error on track's hierarchy: a missing item is a
    :class:`~track.errors.NotFound`, a bad value an :class:`~track.errors.InvalidValue`.
    """

    def __init__(self, message: str, trace: str | None = None) -> None:
        super().__init__(message)
        self.trace = trace


class RemoteKeyError(RPCCallFailure, NotFound):
    """The store raised a KeyError or NotFound (e.g. an unknown trial): a NotFound here too."""


class RemoteValueError(RPCCallFailure, InvalidValue):
    """The store raised a ValueError (e.g. a bad query): an InvalidValue here."""


class RemoteTypeError(RPCCallFailure, InvalidValue, TypeError):
    """The store raised a TypeError (e.g. an unstorable value): an InvalidValue here."""


class RemoteNotImplementedError(RPCCallFailure, NotImplementedError):
    """The store does not implement the method."""


class RemoteWriteRefused(RPCCallFailure, WriteRefused):
    """The store refused the write for good (retrying it cannot succeed)."""


class RemoteTrialNotFound(RPCCallFailure, TrialNotFound):
    """The write names a trial, project or group the server's store does not hold."""


class RemoteArtifactNotFound(RPCCallFailure, ArtifactNotFound):
    """The trial has no artifact of that name on the server."""


class RemoteCorruptArtifact(RPCCallFailure, CorruptArtifact):
    """The server refused an upload whose bytes miss its digest, or holds corrupt bytes."""


ERRORS: dict[str, type[RPCCallFailure]] = {
    "artifact_not_found": RemoteArtifactNotFound,
    "corrupt": RemoteCorruptArtifact,
    "not_found": RemoteTrialNotFound,
    "refused": RemoteWriteRefused,
    "key": RemoteKeyError,
    "value": RemoteValueError,
    "type": RemoteTypeError,
    "not_implemented": RemoteNotImplementedError,
}


def _layer(value: str | None) -> str | None:
    if value in (None, "", "none", "None"):
        return None
    if value not in ("AES", "TLS"):
        raise ConfigurationError(f"security_layer must be AES, TLS or none, not {value!r}")
    return value


def _reconnectable(error: Exception) -> bool:
    """True for a failure that a new connection may not meet (not a rejected certificate)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    return isinstance(error, (OSError, wire.FrameError, EOFError, ServerBusy))


def _retry_after(error: Exception) -> float:
    """How long the server asked the client to wait before trying again (0: no hint)."""
    return error.retry_after if isinstance(error, ServerBusy) else 0.0


class SocketClient(Protocol):
    """Forwards every Protocol call to a track server (see the module docstring)."""

    def __init__(self, uri: str | URI, **kwargs: Any) -> None:
        self.uri = parse_uri(uri)
        address, port = self.uri.address, self.uri.port
        if not address or port is None:
            raise ConfigurationError(f"{self.uri.redacted()!r} needs a host and a port")
        self._address, self._port = address, port
        query = self.uri.query
        self.layer = _layer(query.get("security_layer"))
        self.pinned = query.get("server_key")
        self.known = KnownServers(known_servers_path(query.get("known_servers")))
        self.ca = query.get("ca")
        self.timeout = float(query.get("timeout", options("server.timeout", 60.0)))
        self.read_timeout = float(query.get("read_timeout", 60.0))
        self.spill_dir = query.get("spill_dir") or options("spill_dir", None) or os.getcwd()
        self.max_frame = int(query.get("max_frame", wire.DEFAULT_MAX_FRAME))
        self.session = uuid.uuid4().hex
        self.spill_file: str | None = None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._channel: Any = None
        self._last_id = 0
        self._trusted: str | None = None
        self.username, self.password = self.authenticate(self.uri)
        with self._lock:
            self._retrying(lambda: None)

    def authenticate(self, uri: URI) -> tuple[str | None, str | None]:
        """The user name and password to log in with; override for another source.

        The URI's password (or its ``password_file``), else the content of the file named by
        ``TRACK_PASSWORD_FILE``, else ``TRACK_PASSWORD``: a password outside the URI does not
        show in ``ps`` or in the trial's recorded command line.
        """
        if uri.password is not None:
            return uri.username, uri.password
        path = os.environ.get("TRACK_PASSWORD_FILE")
        if path:
            try:
                with open(os.path.expanduser(path), encoding="utf-8") as file:
                    return uri.username, file.read().rstrip("\r\n")
            except OSError as error:
                raise ConfigurationError(
                    f"TRACK_PASSWORD_FILE={path}: cannot read it ({error.strerror or error})"
                ) from None
        return uri.username, os.environ.get("TRACK_PASSWORD")

    # ---- connection ---------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self._address}:{self._port}"

    def _open_socket(self) -> socket.socket:
        sock = socket.create_connection((self._address, self._port), timeout=self.read_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.layer == "TLS":
            context = ssl.create_default_context(cafile=self.ca)
            sock = context.wrap_socket(sock, server_hostname=self._address)
        return sock

    def _connect(self) -> None:
        sock = self._open_socket()
        try:
            hello: dict[str, Any] = {"track": wire.VERSION, "layer": self.layer}
            private = None
            if self.layer == "AES":
                private, extra = crypto.client_start()
                hello.update(extra)
            sock.sendall(wire.frame(wire.encode(hello)))
            reply = wire.decode(wire.recv_frame(sock, self.max_frame))
            if not isinstance(reply, dict) or "error" in reply:
                raise _refused(self._where(), reply, login=False)
            channel: Any = crypto.PlainChannel()
            if private is not None:
                channel, seen = crypto.client_finish(private, reply, self.pinned or self._trusted)
                if self._trusted is None and self.pinned is None:
                    self._check_known(seen)
                self._trusted = seen
            login = {"user": self.username, "password": self.password, "session": self.session}
            sock.sendall(wire.frame(channel.seal(wire.encode(login))))
            answer = wire.decode(channel.open(wire.recv_frame(sock, self.max_frame)))
            if not isinstance(answer, dict) or not answer.get("ok"):
                raise _refused(self._where(), answer, login=True)
        except BaseException:
            sock.close()
            raise
        self._sock, self._channel = sock, channel

    def _check_known(self, seen: str) -> None:
        """Trust on first use, remembered across processes in the known-servers file.

        Raises :class:`~track.server.known.ServerKeyChanged` (before the login is sent) when
        the file records another key for this server.
        """
        name = server_name(self._address, self._port)
        try:
            held = self.known.lookup(name)
        except OSError as error:
            raise crypto.HandshakeError(
                f"cannot read the known-servers file {self.known.path} ({error}): refusing to "
                "connect without checking the server's key"
            ) from None
        if held is None:
            try:
                held = self.known.record(name, seen)
            except OSError as error:
                held = seen
                print(
                    f"track: WARNING: could not record server {name} in {self.known.path} "
                    f"({error}); trusting its key fingerprint {seen} for this process only "
                    f"(pin it with ?server_key={seen})",
                    file=sys.stderr,
                )
            else:
                if held == seen:
                    print(
                        f"track: first connection to server {name}: trusting its key fingerprint "
                        f"{seen}, recorded in {self.known.path} (or pin it with ?server_key={seen})",
                        file=sys.stderr,
                    )
        if held != seen:
            raise ServerKeyChanged(self.known.changed_message(name, seen, held))

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._channel = None

    def _retrying(self, attempt: Any) -> Any:
        """Run ``attempt`` until it succeeds, reconnecting with backoff for ``timeout`` seconds."""

        def connected() -> Any:
            try:
                if self._sock is None:
                    self._connect()
                return attempt()
            except (OSError, wire.FrameError, EOFError, ServerBusy):
                self._drop()
                raise

        def reconnecting(error: Exception, failures: int) -> None:
            if failures == 1:
                log.warning("track server %s: %s; reconnecting", self._where(), error)

        try:
            return retry(
                connected,
                transient=_reconnectable,
                initial=0.05,
                maximum=2.0,
                timeout=self.timeout,
                min_wait=_retry_after,
                on_failure=reconnecting,
            )
        except Exception as error:
            if not _reconnectable(error):
                raise
            raise ServerUnreachable(
                f"track server {self._where()} unreachable for {self.timeout:g}s "
                f"(last error: {error})"
            ) from None

    def _call(self, method: str, *args: Any, kwargs: dict[str, Any] | None = None) -> Any:
        """What the server's store ``method`` returned, decoded by :mod:`wire` into the same types.

        The read methods below cast it to their store method's return type: the server calls
        that method of its own store and its answer keeps the structures' types on the wire.
        """
        request = {"id": 0, "call": method, "args": list(args), "kwargs": kwargs or {}}
        with self._lock:
            self._last_id += 1
            rid = request["id"] = self._last_id
            payload = wire.encode(request)
            if len(payload) > self.max_frame:
                raise InvalidValue(f"{method}: request of {len(payload)} bytes exceeds max_frame")
            tries = [0]

            def exchange() -> Any:
                assert self._sock is not None
                tries[0] += 1
                sent = payload if tries[0] == 1 else wire.encode({**request, "resent": True})
                self._sock.sendall(wire.frame(self._channel.seal(sent)))
                reply = wire.decode(
                    self._channel.open(wire.recv_frame(self._sock, self.max_frame)), reply=True
                )
                if not isinstance(reply, dict) or reply.get("id") != rid:
                    raise wire.FrameError("reply does not match the request")
                return reply

            reply = self._retrying(exchange)
        if "error" in reply:
            error = reply["error"]
            raise ERRORS.get(error.get("kind"), RPCCallFailure)(f"{error.get('message')}")
        return reply.get("result")

    # ---- writes -------------------------------------------------------------------------

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Send a batch; acknowledged once the server's store applied and committed it.

        Returns the store's answer (False: applied before). A batch spilled because the
        server is unreachable returns True: it is in the spill file, said so on stderr.
        """
        if self.spill_file is None:
            ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
            try:
                return self._call("log_trial_batch", ref, batch) is not False
            except ServerUnreachable as error:
                self.spill_file = os.path.join(self.spill_dir, f"track-spill-{self.session}.jsonl")
                message = (
                    f"track: {error}; this batch and every later write of this client are saved "
                    f"to {self.spill_file} (replay with: track replay {self.spill_file} "
                    f"--store URI)"
                )
                log.error(message)
                print(message, file=sys.stderr)
        append_spill(self.spill_file, [(trial, batch)])
        return True

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters into the stored trial."""
        ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
        self._call("log_trial_arguments", ref, kwargs=kwargs)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set metadata keys of a stored group."""
        self._call("set_group_metadata", group, kwargs=kwargs)

    def new_project(self, project: Project) -> Project | None:
        """Insert a project; None if it exists."""
        return project if self._call("new_project", project) is not None else None

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group; None if it exists."""
        return group if self._call("new_trial_group", group) is not None else None

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach a trial to a project."""
        self._call("add_project_trial", project, trial)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add a trial to a group."""
        self._call("add_group_trial", group, trial)

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert a trial; its revision is updated in place when the server bumped it.

        The trial's ``metadata.creation_request`` gets a random id, so that a request resent
        after a server crash finds the trial it already created instead of adding a revision.
        """
        trial.metadata.setdefault(CREATION_KEY, uuid.uuid4().hex)
        stored = self._call("new_trial", trial, auto_increment)
        if stored is None:
            return None
        trial.revision = stored.revision
        return trial

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the named trials in the server's store; returns how many it deleted."""
        return int(self._call("delete_trials", list(uids)))

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete a group in the server's store (refused while it holds trials, unless ``trials``)."""
        return int(self._call("delete_group", uid, trials))

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete a project in the server's store (refused while it holds trials, unless ``trials``)."""
        return int(self._call("delete_project", uid, trials))

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set a trial's display name and note in the server's store."""
        self._call("set_trial_display", uid, name, note)

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the named tags of a trial in the server's store."""
        self._call("remove_trial_tags", uid, list(names))

    def commit(self, **kwargs: Any) -> None:
        """Ask the server to commit its store (it also commits before every acknowledgement)."""
        self._call("commit")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._drop()

    # ---- artifacts (see track.server.transfers) ------------------------------------------

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
        upload_id: str | None = None,
    ) -> ArtifactInfo:
        """Upload a file in chunks of CHUNK_SIZE (one request each); never held whole.

        The server keeps the chunks under ``upload_id`` (default: a fresh one) and stores the
        file once the last chunk, carrying the sha256, arrives. Each reply says how many bytes
        the server holds: after a reconnect, or when a new process passes the ``upload_id`` of
        an interrupted upload, only the rest is sent.
        """
        checked_name(name)
        upload = upload_id or uuid.uuid4().hex
        ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
        with opened(source) as file:
            start = file.tell() if file.seekable() else 0
            held = self.upload_held(upload)
            digest, position = self._rewind(file, start, held, hashlib.sha256(), 0)
            chunk = file.read(CHUNK_SIZE)
            while True:
                following = file.read(CHUNK_SIZE) if chunk else b""
                sent = digest.copy()
                sent.update(chunk)
                final = None
                if not following:
                    final = {
                        "trial": ref,
                        "name": name,
                        "sha256": sent.hexdigest(),
                        "size": position + len(chunk),
                        "media_type": media_type,
                    }
                reply = self._call("artifact_upload_chunk", upload, position, chunk, final)
                digest, position = sent, position + len(chunk)
                if "info" in reply:
                    return ArtifactInfo.from_doc(trial.uid, reply["info"])
                if reply["held"] != position:
                    digest, position = self._rewind(file, start, reply["held"], digest, position)
                    following = file.read(CHUNK_SIZE)
                chunk = following

    def collect_artifacts(self) -> tuple[int, int]:
        """Collect unreferenced contents in the server's store (one request)."""
        count, freed = self._call("collect_artifacts")
        return int(count), int(freed)

    def upload_held(self, upload_id: str) -> int:
        """How many bytes of the upload ``upload_id`` the server holds (0: none, or finished)."""
        return int(self._call("artifact_upload_status", upload_id))

    def _rewind(
        self, file: BinaryIO, start: int, held: int, digest: Any, position: int
    ) -> tuple[Any, int]:
        """Hash the file up to the ``held`` bytes the server has; returns ``(digest, held)``."""
        if held < position:  # the server lost bytes (e.g. a restart): start over from held
            if not file.seekable():
                raise ServerError(
                    f"the server holds {held} bytes of this upload, not {position}, and the "
                    "source cannot seek back"
                )
            file.seek(start)
            digest, position = hashlib.sha256(), 0
        elif position and held > position:
            raise ServerError(f"the server holds {held} bytes of this upload, more than sent")
        while position < held:
            chunk = file.read(min(CHUNK_SIZE, held - position))
            if not chunk:
                raise InvalidValue(
                    f"the server holds {held} bytes of upload {file!r}: more than the file"
                )
            digest.update(chunk)
            position += len(chunk)
        return digest, position

    def list_artifacts(self, trial: Trial) -> list[ArtifactInfo]:
        """The trial's artifact index on the server (one request)."""
        ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
        docs = cast("list[dict[str, Any]]", self._call("list_artifacts", ref))
        return [ArtifactInfo.from_doc(trial.uid, doc) for doc in docs]

    def open_artifact(self, trial: Trial, name: str) -> Iterator[bytes]:
        """The artifact's bytes, one request per chunk (by offset), digest checked here too.

        The first chunk is asked for at once, so an unknown name raises ArtifactNotFound here.
        """
        ref = wire.TrialRef(_hash=trial.hash, revision=trial.revision)
        first = self._call("artifact_read", ref, name, 0)

        def chunks() -> Iterator[bytes]:
            reply, offset = first, 0
            while reply["data"]:
                yield reply["data"]
                offset += len(reply["data"])
                reply = self._call("artifact_read", ref, name, offset)

        return verified(chunks(), first["sha256"], f"artifact {name!r} of trial {trial.uid}")

    # ---- reads --------------------------------------------------------------------------

    def get_project(self, project: Project) -> Project | None:
        """The stored project with this uid, or None."""
        return cast("Project | None", self._call("get_project", project))

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The stored group with this uid, or None."""
        return cast("TrialGroup | None", self._call("get_trial_group", group))

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Stored trials matching ``trial``."""
        return cast("list[Trial]", self._call("get_trial", trial))

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """The full series of a trial's metrics."""
        return cast("dict[str, list[list[Any]]]", self._call("get_trial_metrics", trial, names))

    def get_trial_series(
        self, trial: Trial, names: list[str] | None = None, low: Any = None, high: Any = None
    ) -> dict[str, SeriesColumns]:
        """A trial's series as columns; they travel as packed chunks, not as point lists."""
        return cast(
            "dict[str, SeriesColumns]", self._call("get_trial_series", trial, names, low, high)
        )

    def get_series_previews(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[ChunkPreview]]:
        """Each series' chunk summaries, as the server's store keeps them."""
        previews = cast(
            "dict[str, list[list[Any]]]", self._call("get_series_previews", trial, names)
        )
        return {name: [tuple(chunk) for chunk in chunks] for name, chunks in previews.items()}

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Trials matching a query."""
        return cast("list[Trial]", self._call("fetch_trials", query, with_metrics))

    def fetch_summaries(
        self, query: dict[str, Any] | None
    ) -> list[tuple[Trial, dict[str, MetricSummary]]]:
        """Matching trials (last points only) and their metrics' ``{name: [count, min, max]}``."""
        found = cast("list[list[Any]]", self._call("fetch_summaries", query))
        return [(trial, summaries) for trial, summaries in found]

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Groups matching a query."""
        return cast("list[TrialGroup]", self._call("fetch_groups", query))

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Projects matching a query."""
        return cast("list[Project]", self._call("fetch_projects", query))

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Atomically pick one trial and apply the update method ``attr`` on the server.

        Sent as :meth:`fetch_and_update_once` with a fresh request id, so a request resent
        after a reconnect (even to a restarted server) reserves at most one trial.
        """
        request = uuid.uuid4().hex
        found = self.fetch_and_update_once(request, "trial", query, attr, args, kwargs)
        return cast("Trial | None", found)

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Atomically pick one group and apply the update method ``attr`` on the server."""
        request = uuid.uuid4().hex
        found = self.fetch_and_update_once(request, "group", query, attr, args, kwargs)
        return cast("TrialGroup | None", found)

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """The server's store applies the update at most once per ``request`` id."""
        found = self._call(
            "fetch_and_update_once", request, kind, query, attr, list(args), kwargs or {}
        )
        return cast("Trial | TrialGroup | None", found)
