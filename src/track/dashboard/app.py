"""The dashboard's Starlette app: a JSON API under ``/api/`` and a one-page front end.

Every endpoint reads through the :class:`~track.persistence.protocol.Protocol` only, so the
dashboard works on any store. Charts are drawn in the browser by plotly.js, served from the
installed ``plotly`` package (no CDN). Endpoints run one at a time on the event loop, so a
store never sees two requests at once.
"""

from __future__ import annotations

import json
import os
from typing import Any

import plotly
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from track.cli.shortquery import parse_where
from track.cli.trials import NotFound, StoreError, duration, find_trial, open_store, status_name
from track.dashboard.downsample import downsample_indices, finite_points
from track.dashboard.table import FIXED_COLUMNS, json_safe, trials_page
from track.persistence.protocol import Protocol
from track.query import QueryError
from track.structure import Trial

__all__ = ["PLOTLY_JS", "create_app", "metric_series"]

STATIC = os.path.join(os.path.dirname(__file__), "static")
PLOTLY_JS = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
#: points per curve sent to the browser by default, and the most a request may ask for
DEFAULT_POINTS, MAX_POINTS = 2000, 20000
MAX_PAGE = 100_000


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


def metric_series(points: list[list[Any]], limit: int = DEFAULT_POINTS) -> dict[str, Any]:
    """A series ready to draw: finite points only, downsampled to about ``limit``.

    ``step`` falls back to the point's position when a series was logged without steps.
    """
    values = [p[1] for p in points]
    finite = finite_points(values)
    ys = [values[i] for i in finite]
    chosen = [finite[i] for i in downsample_indices(ys, limit)]
    steps = [points[i][0] for i in chosen]
    if not all(isinstance(s, (int, float)) for s in steps):
        steps = chosen
    return {
        "step": steps,
        "time": [points[i][2] for i in chosen],
        "value": [values[i] for i in chosen],
        "total": len(points),
        "dropped": len(points) - len(finite),
    }


def _trial_detail(trial: Trial) -> dict[str, Any]:
    metadata = dict(trial.metadata)
    output = metadata.pop("output", None)
    files = metadata.pop("files", None)
    return json_safe(
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


def create_app(store: Protocol | str, title: str | None = None) -> Starlette:
    """The dashboard for a store (a URI, or an open Protocol the caller closes)."""
    protocol = store if isinstance(store, Protocol) else open_store(store)

    async def info(request: Request) -> Response:
        return _Json({"title": title or "track", "columns": list(FIXED_COLUMNS)})

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
        series = protocol.get_trial_metrics(found, wanted)
        return _Json({name: metric_series(points, limit) for name, points in series.items()})

    async def index(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def plotly_js(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    async def user_error(request: Request, error: Exception) -> Response:
        status = 404 if isinstance(error, NotFound) else 400
        return _Json({"error": str(error)}, status_code=status)

    async def http_error(request: Request, error: HTTPException) -> Response:
        return _Json({"error": error.detail}, status_code=error.status_code)

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/projects", projects),
        Route("/api/projects/{project:path}/groups", groups),
        Route("/api/trials", trials),
        Route("/api/trials/{uid}", trial),
        Route("/api/trials/{uid}/metrics", metrics),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={
            NotFound: user_error,
            StoreError: user_error,
            QueryError: user_error,
            HTTPException: http_error,
        },
    )
