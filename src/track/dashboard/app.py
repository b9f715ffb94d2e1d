"""The dashboard's Starlette app: a JSON API under ``/api/`` and a one-page front end.

Every endpoint reads through the :class:`~track.persistence.protocol.Protocol` only, so the
dashboard works on any store. Charts are drawn in the browser by plotly.js, served from the
installed ``plotly`` package (no CDN). Endpoints run one at a time on the event loop, so a
store never sees two requests at once.

Every request first passes the ``Host`` allow-list (against DNS rebinding). When users are
given, every ``/api/`` endpoint but ``/api/login`` and ``/api/logout`` needs a session cookie
(see :mod:`track.dashboard.auth`); the page and its scripts hold no store data and are public.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import plotly
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from track.dashboard.auth import DEFAULT_SESSION_LIFETIME, LoginThrottle, Sessions, allowed_hosts
from track.dashboard.downsample import downsample_indices, finite_points
from track.dashboard.table import FIXED_COLUMNS, json_safe, trials_page
from track.errors import InvalidValue, NotFound
from track.persistence.artifacts import ArtifactsUnsupported
from track.persistence.chunks import ChunkPreview, SeriesColumns
from track.persistence.protocol import MetricSummary, Protocol
from track.persistence.utils import redact
from track.query import QueryError
from track.reading import StoreError, duration, find_trial, open_store, parse_where, status_name
from track.server.auth import check_credentials
from track.structure import Trial

__all__ = ["PLOTLY_JS", "create_app", "metric_series"]

STATIC = os.path.join(os.path.dirname(__file__), "static")
PLOTLY_JS = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
#: points per curve sent to the browser by default, and the most a request may ask for
DEFAULT_POINTS, MAX_POINTS = 2000, 20000
#: a series with more points than this to send is drawn from the chunk summaries its store
#: keeps (``Protocol.get_series_previews``), so the first chart never reads it whole
PREVIEW_FROM = 1_000_000
MAX_PAGE = 100_000
#: the session cookie's name
COOKIE = "track_session"
#: the largest login request body read, in bytes
MAX_LOGIN_BODY = 4096
#: the largest edit request body read, in bytes
MAX_EDIT_BODY = 65536
#: scrypt checks running at once (each may take 128 MiB at N=2**17)
SCRYPT_SLOTS = 2
#: the banner every page shows when the dashboard was told ``--no-auth``
NO_AUTH_BANNER = (
    '<div id="no-auth-banner" class="banner" role="alert">No login: anyone who can reach this '
    "address can read the whole store (track ui --no-auth).</div>"
)
_USER = "track.user"  # scope key of the logged-in user
log = logging.getLogger("track.dashboard")


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), default=str).encode()


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be between {low} and {high}")
    return value


class _LoginRequired:
    """ASGI middleware: ``/api/*`` (but login and logout) answers 401 without a live session."""

    OPEN = ("/api/login", "/api/logout")

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path in self.OPEN:
            await self.app(scope, receive, send)
            return
        user, expired = self.sessions.user(HTTPConnection(scope).cookies.get(COOKIE))
        if user is None:
            error = "your session expired: log in again" if expired else "log in to see this store"
            await _Json({"error": error, "login": True}, status_code=401)(scope, receive, send)
            return
        scope[_USER] = user
        await self.app(scope, receive, send)


class _SecurityHeaders:
    """ASGI middleware: every response forbids framing by other pages and MIME sniffing.

    A page of another site that frames the dashboard could trick a logged-in user into clicks
    (clickjacking); ``frame-ancestors 'none'`` and ``X-Frame-Options`` make browsers refuse.
    """

    HEADERS = [
        (b"content-security-policy", b"frame-ancestors 'none'"),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same_origin(request: Request) -> None:
    """Refuse a state-changing request another site's page sent (its ``Origin`` differs)."""
    origin = request.headers.get("origin")
    if (
        origin is not None
        and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()
    ):
        raise HTTPException(403, f"cross-site request from {origin!r} refused")


async def _small_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _edit_fields(request: Request, allowed: bool) -> dict[str, Any]:
    """The JSON object of a write request, once the request is known to come from this page.

    Writes are refused unless the dashboard allows editing (bound to loopback, or
    ``--allow-edit``). Against cross-site request forgery a write must be same-origin (an
    ``Origin`` naming another host, or ``Sec-Fetch-Site`` other than ``same-origin``, is
    refused) and sent as ``application/json``: an HTML form of another site cannot send that
    type, and another site's script can only after a CORS preflight, which this app never
    grants. With users, the session cookie is ``SameSite=Strict`` as well.
    """
    if not allowed:
        raise HTTPException(
            403, "editing is off: start track ui on a loopback address or with --allow-edit"
        )
    _same_origin(request)
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPException(403, f"cross-site request ({site}) refused")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "edits must be sent as application/json")
    try:
        fields = json.loads(await _small_body(request, MAX_EDIT_BODY))
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise HTTPException(400, "an edit must be a JSON object")
    return fields


def _optional_text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is not None and not isinstance(value, str):
        raise HTTPException(400, f"{key} must be a string")
    return value


def _credentials(body: bytes) -> tuple[str, str]:
    """``(username, password)`` from a JSON login body, else a 400."""
    try:
        fields = json.loads(body)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise HTTPException(400, 'the login must be JSON {"username": ..., "password": ...}')
    username, password = fields.get("username"), fields.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise HTTPException(400, "username and password must be strings")
    return username, password


def metric_series(
    series: SeriesColumns, limit: int = DEFAULT_POINTS, start: int = 0
) -> dict[str, Any]:
    """A series ready to draw: finite points only, downsampled to about ``limit``.

    Only the points from position ``start`` on are sent (what a live page lacks); ``total``
    counts the whole series, so ``total`` is the ``since`` count of the next request.
    ``step`` falls back to the point's position when a series was logged without steps.
    """
    values = series.values[start:]
    finite = finite_points(values)
    ys = values if len(finite) == len(values) else [values[i] for i in finite]
    chosen = [start + finite[i] for i in downsample_indices(ys, limit)]
    steps = [series.steps[i] for i in chosen]
    if not all(isinstance(s, (int, float)) for s in steps):
        steps = chosen
    return {
        "step": steps,
        "time": [series.times[i] for i in chosen],
        "value": [series.values[i] for i in chosen],
        "from": start,
        "total": len(series),
        "dropped": len(values) - len(finite),
    }


def preview_series(previews: list[ChunkPreview], limit: int = DEFAULT_POINTS) -> dict[str, Any]:
    """A long series drawn from its stored chunk summaries, without reading its points.

    Each chunk gives its min, its max and its last value, placed where they are in the chunk
    (step and time interpolated between the chunk's bounds: exact for evenly spaced steps), and
    those are downsampled to about ``limit`` like a full series. ``preview`` marks the result.
    """
    steps: list[Any] = []
    times: list[float] = []
    values: list[Any] = []
    total = 0
    for first_seq, count, low, high, first_time, last_time, least, most, *rest in previews:
        least_at, most_at, last = rest
        marks = {count - 1: last}
        if least is not None:
            marks.update({least_at: least, most_at: most})
        for at in sorted(marks):
            value = marks[at]
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                continue
            fraction = at / (count - 1) if count > 1 else 0.0
            steps.append(first_seq + at if low is None else low + (high - low) * fraction)
            times.append(first_time + (last_time - first_time) * fraction)
            values.append(value)
        total = first_seq + count
    chosen = downsample_indices(values, limit)
    return {
        "step": [steps[i] for i in chosen],
        "time": [times[i] for i in chosen],
        "value": [values[i] for i in chosen],
        "from": 0,
        "total": total,
        "dropped": 0,
        "preview": True,
    }


def _since(text: str | None) -> dict[str, int]:
    """The ``since`` parameter: a JSON object of point counts per metric, already on the page."""
    if not text:
        return {}
    try:
        since = json.loads(text)
    except ValueError:
        since = None
    if not isinstance(since, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in since.values()
    ):
        raise HTTPException(400, 'since must be a JSON object of point counts: {"loss": 120}')
    return since


def _metrics_etag(summaries: list[tuple[Trial, dict[str, MetricSummary]]], query: str) -> str:
    """A tag that changes when a point is added to the trial (or the request changes).

    It is made of each series' count and last point, which stores keep without reading the
    series (:meth:`~track.persistence.protocol.Protocol.fetch_summaries`).
    """
    state = []
    for last, summary in summaries:
        for name, (count, *_) in sorted(summary.items()):
            points = last.metrics.get(name)
            state.append((name, count, points[-1] if points else None))
    text = json.dumps([query, state], default=str, separators=(",", ":"))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _trial_detail(trial: Trial) -> dict[str, Any]:
    metadata = dict(trial.metadata)
    output = metadata.pop("output", None)
    files = metadata.pop("files", None)
    detail: dict[str, Any] = json_safe(
        {
            "uid": trial.uid,
            "name": trial.name,
            "description": trial.description,
            "version": trial.version,
            "project": trial.project_id,
            "group": trial.group_id,
            "groups": sorted(trial.groups),
            "status": status_name(trial),
            "start_time": metadata.get("start_time"),
            "duration": duration(trial),
            "parameters": trial.parameters,
            "metadata": metadata,
            "tags": trial.tags,
            "chronos": trial.chronos,
            "errors": trial.errors,
            "output": output,
            "files": files,
            "metrics": {k: v[-1][1] if v else None for k, v in trial.metrics.items()},
        }
    )
    heartbeat = metadata.get("heartbeat")
    if isinstance(heartbeat, (int, float)) and not isinstance(heartbeat, bool):
        detail["heartbeat_age"] = max(0.0, time.time() - heartbeat)  # the server's clock
    return detail


def create_app(
    store: Protocol | str,
    title: str | None = None,
    *,
    hosts: Sequence[str] | None = None,
    users: dict[str, str] | None = None,
    session_lifetime: float = DEFAULT_SESSION_LIFETIME,
    no_auth: bool = False,
    throttle: LoginThrottle | None = None,
    edit: bool = False,
) -> Starlette:
    """The dashboard for a store (a URI, or an open Protocol the caller closes).

    ``title`` (usually the store URI) is shown redacted. ``hosts`` are the
    ``Host`` names answered (default: the loopback names). With ``users`` (name -> scrypt
    hash, as :func:`track.server.auth.load_users` reads them) the API needs a login, lasting
    ``session_lifetime`` seconds; ``no_auth`` puts a warning banner on every page. ``edit``
    opens the write endpoints (rename, note, tags, delete); ``track ui`` passes it when bound to
    loopback or given ``--allow-edit``.
    """
    protocol = store if isinstance(store, Protocol) else open_store(store)
    sessions = Sessions(session_lifetime)
    throttle = throttle or LoginThrottle()
    with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as file:
        page = file.read().replace("<!--banner-->", NO_AUTH_BANNER if no_auth else "")
    scrypt_slots: list[anyio.CapacityLimiter] = []  # made on first use, inside the event loop

    async def info(request: Request) -> Response:
        return _Json(
            {
                "title": redact(title) if title else "track",
                "columns": list(FIXED_COLUMNS),
                "user": request.scope.get(_USER),
                "login": bool(users),
                "no_auth": no_auth,
                "edit": edit,
            }
        )

    async def login(request: Request) -> Response:
        if not users:
            raise HTTPException(404, "this dashboard has no users: there is no login")
        _same_origin(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "the login must be sent as application/json")
        address = request.client.host if request.client else "unknown"
        wait = throttle.wait(address)
        if wait:
            seconds = math.ceil(wait)
            return _Json(
                {"error": f"too many failed logins: try again in {seconds} s", "retry_after": wait},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        throttle.begin(address)
        ok, username = False, None
        try:
            username, password = _credentials(await _small_body(request, MAX_LOGIN_BODY))
            if not scrypt_slots:
                scrypt_slots.append(anyio.CapacityLimiter(SCRYPT_SLOTS))
            ok = await anyio.to_thread.run_sync(
                check_credentials, users, username, password, limiter=scrypt_slots[0]
            )
        finally:
            throttle.end(address, ok)
        if not ok:
            log.warning("track ui: failed login for %r from %s", username, address)
            return _Json({"error": "wrong user name or password"}, status_code=401)
        response = _Json({"user": username})
        response.set_cookie(
            COOKIE,
            sessions.open(username),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        _same_origin(request)
        sessions.close(request.cookies.get(COOKIE))
        response = _Json({"user": None})
        response.delete_cookie(
            COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    async def projects(request: Request) -> Response:
        found = sorted(protocol.fetch_projects(None), key=lambda p: p.uid)
        return _Json(
            [
                {
                    "uid": p.uid,
                    "name": p.name,
                    "description": p.description,
                    "groups": len(p.groups),
                    "trials": len(p.trials),
                }
                for p in found
            ]
        )

    async def groups(request: Request) -> Response:
        project = request.path_params["project"]
        if not protocol.fetch_projects({"uid": project}):
            raise NotFound(f"no project {project!r} in this store")
        found = sorted(protocol.fetch_groups({"project_id": project}), key=lambda g: str(g.name))
        return _Json(
            [
                {
                    "uid": g.uid,
                    "name": g.name,
                    "description": g.description,
                    "trials": len(g.trials),
                }
                for g in found
            ]
        )

    async def trials(request: Request) -> Response:
        params = request.query_params
        sort = params.get("sort") or "start_time"
        order = params.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise HTTPException(400, "order must be asc or desc")
        page = trials_page(
            protocol,
            project=params.get("project") or None,
            group=params.get("group") or None,
            where=parse_where(params.get("where")),
            sort=sort,
            descending=order == "desc",
            offset=_int(request, "offset", 0, 0, 10**9),
            limit=_int(request, "limit", 50, 0, MAX_PAGE),
            summaries=params.getlist("summary"),
        )
        return _Json(page)

    async def trial(request: Request) -> Response:
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        return _Json(_trial_detail(found))

    async def metrics(request: Request) -> Response:
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        names = request.query_params.get("names")
        wanted = names.split(",") if names else None
        limit = _int(request, "points", DEFAULT_POINTS, 3, MAX_POINTS)
        since = _since(request.query_params.get("since"))
        summaries = protocol.fetch_summaries({"uid": found.uid})
        tag = _metrics_etag(summaries, request.url.query)
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if tag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        counts = {
            name: summary[0]
            for _, by_name in summaries[:1]
            for name, summary in by_name.items()
            if wanted is None or name in wanted
        }
        long = [name for name in counts if counts[name] - since.get(name, 0) > PREVIEW_FROM]
        previews = protocol.get_series_previews(found, long) if long else {}
        series = protocol.get_trial_series(found, [n for n in counts if n not in previews])
        body: dict[str, Any] = {}
        for name in counts:
            if name in previews:
                body[name] = preview_series(previews[name], limit)
                continue
            if name not in series:
                continue
            start = since.get(name, 0)
            if start > len(series[name]):  # the series was replaced: send all of it again
                start = 0
            if start < len(series[name]) or name not in since:
                body[name] = metric_series(series[name], limit, start)
        return _Json(body, headers=headers)

    async def artifacts(request: Request) -> Response:
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        try:
            return _Json([info.to_doc() for info in protocol.list_artifacts(found)])
        except ArtifactsUnsupported as error:
            return _Json({"error": str(error)}, status_code=501)

    async def artifact(request: Request) -> Response:
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        name = request.path_params["name"]
        listed = [info for info in protocol.list_artifacts(found) if info.name == name]
        if not listed:
            raise NotFound(f"trial {found.uid!r} has no artifact {name!r}")
        chunks = protocol.open_artifact(found, name)

        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:  # on the event loop, like every store call of the dashboard
                yield chunk

        filename = quote(name.rsplit("/", 1)[-1])
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Content-Length": str(listed[0].size),
        }
        return StreamingResponse(body(), media_type=listed[0].media_type, headers=headers)

    async def set_display(request: Request) -> Response:
        fields = await _edit_fields(request, edit)
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        name, note = _optional_text(fields, "name"), _optional_text(fields, "note")
        protocol.set_trial_display(found.uid, name=name, note=note)
        return _Json(_trial_detail(find_trial(protocol, found.uid, with_metrics=False)))

    async def set_tags(request: Request) -> Response:
        fields = await _edit_fields(request, edit)
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        added, removed = fields.get("add") or {}, fields.get("remove") or []
        if not isinstance(added, dict) or not all(isinstance(k, str) for k in added):
            raise HTTPException(400, "add must be an object of tags")
        if not isinstance(removed, list) or not all(isinstance(n, str) for n in removed):
            raise HTTPException(400, "remove must be a list of tag names")
        if added:
            protocol.add_trial_tags(found, **added)
        if removed:
            protocol.remove_trial_tags(found.uid, removed)
        return _Json(_trial_detail(find_trial(protocol, found.uid, with_metrics=False)))

    async def delete_trial(request: Request) -> Response:
        await _edit_fields(request, edit)
        found = find_trial(protocol, request.path_params["uid"], with_metrics=False)
        log.warning("track ui: deleting trial %s (%s)", found.uid, found.name)
        return _Json({"deleted": protocol.delete_trials([found.uid])})

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def plotly_js(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    async def user_error(request: Request, error: Exception) -> Response:
        status = 404 if isinstance(error, NotFound) else 400
        return _Json({"error": str(error)}, status_code=status)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # the handler is registered for it only
        return _Json({"error": error.detail}, status_code=error.status_code)

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/projects", projects),
        Route("/api/projects/{project:path}/groups", groups),
        Route("/api/trials", trials),
        Route("/api/trials/{uid}", trial),
        Route("/api/trials/{uid}/metrics", metrics),
        Route("/api/trials/{uid}/artifacts", artifacts),
        Route("/api/trials/{uid}/artifacts/{name:path}", artifact),
        Route("/api/trials/{uid}/display", set_display, methods=["POST"]),
        Route("/api/trials/{uid}/tags", set_tags, methods=["POST"]),
        Route("/api/trials/{uid}/delete", delete_trial, methods=["POST"]),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                TrustedHostMiddleware,
                allowed_hosts=list(hosts) if hosts is not None else allowed_hosts("127.0.0.1"),
                www_redirect=False,
            ),
            Middleware(GZipMiddleware, minimum_size=1024),
            *([Middleware(_LoginRequired, sessions=sessions)] if users else []),
        ],
        exception_handlers={
            NotFound: user_error,
            StoreError: user_error,
            QueryError: user_error,
            InvalidValue: user_error,
            HTTPException: http_error,
        },
    )
