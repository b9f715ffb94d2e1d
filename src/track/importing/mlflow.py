"""Read the runs of an MLflow tracking store with MLflow's own client (``MlflowClient``).

Any tracking URI MLflow's client takes works: a local ``file://`` folder (``mlruns``), a SQL
database (``sqlite:///mlflow.db``: needs the full ``mlflow`` package, ``mlflow-skinny`` has no
SQL store), or an MLflow server (``http://host:5000``). Each run becomes a :class:`SourceRun`:

* name: the run name; project: the experiment's name; key: the run id (unique in MLflow).
* parameters: as MLflow stores them, strings.
* tags: the user's tags; MLflow's own (``mlflow.user``, ``mlflow.source.name``, ...) go to
  ``metadata["mlflow_tags"]``.
* metrics: every point of ``get_metric_history``, wall time from MLflow's milliseconds.
* status: FINISHED -> Completed, FAILED -> Exception, KILLED -> Interrupted, RUNNING ->
  Running, SCHEDULED -> CreatedGroup; start and end times (seconds) in metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from track.errors import NotFound, import_extra
from track.importing.core import SourceError, SourceRun
from track.persistence.protocol import Point
from track.structure import AnyStatus, Status

__all__ = ["read_runs"]

EXTRA = "mlflow"

STATUSES: dict[str, AnyStatus] = {
    "FINISHED": Status.Completed,
    "FAILED": Status.Exception,
    "KILLED": Status.Interrupted,
    "RUNNING": Status.Running,
    "SCHEDULED": Status.CreatedGroup,
}


def read_runs(tracking_uri: str, experiment: str | None = None) -> Iterator[SourceRun]:
    """Every run of the store at ``tracking_uri`` (only ``experiment``'s, when named), lazily.

    A missing package or experiment raises here, before any run is read.
    """
    import_extra("mlflow", EXTRA, "importing MLflow runs")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri)
        if experiment is not None:
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise NotFound(f"no MLflow experiment named {experiment!r} at {tracking_uri}")
            experiments = [found]
        else:
            experiments = list(_paged(client.search_experiments))
    except MlflowException as error:
        raise SourceError(f"MLflow cannot read {tracking_uri}: {error}") from None
    return _runs(client, experiments, MlflowException)


def _runs(client: Any, experiments: list[Any], failure: type[Exception]) -> Iterator[SourceRun]:
    try:
        for exp in experiments:
            for run in _paged(_searcher(client, exp.experiment_id)):
                yield _run(client, run, exp.name)
    except failure as error:
        raise SourceError(f"MLflow failed while reading: {error}") from None


def _searcher(client: Any, experiment_id: str) -> Any:
    def search(page_token: str | None = None) -> Any:
        return client.search_runs(
            [experiment_id], order_by=["start_time ASC"], page_token=page_token
        )

    return search


def _paged(search: Any) -> Iterator[Any]:
    """Every item of an MLflow paged search, page after page."""
    token = None
    while True:
        page = search(page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _run(client: Any, run: Any, experiment: str) -> SourceRun:
    info, data = run.info, run.data
    tags = {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")}
    system = {k: v for k, v in data.tags.items() if k.startswith("mlflow.")}
    metadata: dict[str, Any] = {"mlflow_tags": system, "mlflow_experiment": experiment}
    if info.start_time is not None:
        metadata["start_time"] = info.start_time / 1000
    if info.end_time is not None:
        metadata["end_time"] = info.end_time / 1000
    series: dict[str, list[Point]] = {}
    for name in sorted(data.metrics):
        history = client.get_metric_history(info.run_id, name)
        history.sort(key=lambda m: (m.step, m.timestamp))
        series[name] = [(int(m.step), float(m.value), m.timestamp / 1000) for m in history]
    return SourceRun(
        source="mlflow",
        key=info.run_id,
        name=info.run_name or info.run_id,
        project=experiment,
        parameters=dict(data.params),
        tags=tags,
        metadata=metadata,
        status=STATUSES.get(info.status, Status.Interrupted),
        series=series,
    )
