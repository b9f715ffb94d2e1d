"""A local MLflow REST endpoint over MLflow's own FileStore, for tests that need an http(s) URI.

mlflow-skinny cannot run ``mlflow server`` (it needs SQLAlchemy), so this thread serves the
few REST calls MLflow's client makes for a run (experiments get-by-name/create, runs
create/get/update/log-batch/set-tag) by handing them to a real
``mlflow.store.tracking.file_store.FileStore`` and answering with MLflow's own protobuf JSON.
It records every request's path and headers, so a test can see what the client sent
(``Authorization``), and serves TLS with a given certificate.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

PREFIX = "/api/2.0/mlflow/"


def _message(entity: Any) -> dict[str, Any]:
    """An MLflow entity as the REST API's JSON (field names as in the protobuf)."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(entity.to_proto(), preserving_proto_field_name=True)


@dataclass
class Seen:
    """One request the endpoint received."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Endpoint:
    """The running endpoint: its URI, the store behind it and the requests it saw."""

    uri: str
    store: Any
    requests: list[Seen] = field(default_factory=list)


class NotFound(LookupError):
    """No such endpoint or entity (answered 404)."""


def _handle(store: Any, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Apply one REST call to ``store``; its JSON answer."""
    from mlflow.entities import Metric, Param, RunStatus, RunTag

    tags = [RunTag(t["key"], t["value"]) for t in body.get("tags", [])]
    if path == "experiments/get-by-name":
        found = store.get_experiment_by_name(query["experiment_name"])
        if found is None:
            raise NotFound(query["experiment_name"])
        return {"experiment": _message(found)}
    if path == "experiments/create":
        return {"experiment_id": store.create_experiment(body["name"])}
    if path == "runs/create":
        run = store.create_run(
            body["experiment_id"],
            body.get("user_id", ""),
            int(body["start_time"]),
            tags,
            body.get("run_name"),
        )
        return {"run": _message(run)}
    if path == "runs/get":
        return {"run": _message(store.get_run(query["run_id"]))}
    if path == "runs/update":
        status = RunStatus.from_string(body["status"])
        info = store.update_run_info(
            body["run_id"], status, int(body.get("end_time", 0)), body.get("run_name")
        )
        return {"run_info": _message(info)}
    if path == "runs/log-batch":
        metrics = [
            Metric(m["key"], float(m["value"]), int(m["timestamp"]), int(m.get("step", 0)))
            for m in body.get("metrics", [])
        ]
        params = [Param(p["key"], p["value"]) for p in body.get("params", [])]
        store.log_batch(body["run_id"], metrics, params, tags)
        return {}
    if path == "runs/set-tag":
        store.set_tag(body["run_id"], RunTag(body["key"], body["value"]))
        return {}
    raise NotFound(path)


@contextmanager
def mlflow_endpoint(
    folder: Path, cert: Path | None = None, key: Path | None = None
) -> Iterator[Endpoint]:
    """Serve MLflow's REST API for a FileStore in ``folder`` (https when ``cert`` is given)."""
    from mlflow.store.tracking.file_store import FileStore

    store = FileStore(str(folder / "mlruns"), str(folder / "artifacts"))
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlparse(self.path)
            seen.append(Seen(self.command, url.path, {k: v for k, v in self.headers.items()}))
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                answer = _handle(store, url.path.removeprefix(PREFIX), query, body)
            except NotFound as error:
                self._answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": str(error)})
            except Exception as error:  # MLflow's client expects errors as JSON
                code = getattr(error, "error_code", "INTERNAL_ERROR")
                self._answer(400, {"error_code": code, "message": str(error)})
            else:
                self._answer(200, answer)

        do_GET = do_POST = do_PATCH = _serve

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint(f"{scheme}://127.0.0.1:{server.server_address[1]}", store, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
