"""The client: chooses the store from a URI, sets the project and group, creates trials.

The client knows no store: it asks the registry for whatever the URI names and talks to it
through the :class:`~track.persistence.protocol.Protocol` and the write pipeline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from track.configuration import options
from track.distributed import RankPolicy
from track.forward import Forwarder, ForwardingProtocol, make_forwarders
from track.logger import TrialLogger
from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.pipeline import PipelineOptions, WritePipeline
from track.serialization import jsonable_dict
from track.structure import (
    Project,
    Trial,
    TrialGroup,
    set_current_project,
    set_current_trial,
)
from track.versioning import default_version_hash, get_git_version

__all__ = ["DEFAULT_URI", "TrackClient", "TrialDoesNotExist", "pipeline_options"]

log = logging.getLogger("track.client")

#: The embedded store used when no URI is given (nor ``TRACK_URI``, nor ``uri`` in track.config).
DEFAULT_URI = "sqlite:///track.db"
ORPHAN_PROJECT = "orphan"


class TrialDoesNotExist(Exception):
    """``set_trial`` named a trial the store does not hold."""


def pipeline_options(**overrides: Any) -> PipelineOptions:
    """Pipeline options from keyword overrides, then ``TRACK_<KEY>``/track.config, then defaults."""
    defaults = PipelineOptions()
    values = {}
    for key in PipelineOptions.__dataclass_fields__:
        if key in overrides:
            values[key] = overrides.pop(key)
        else:
            values[key] = options(key, getattr(defaults, key))
    if overrides:
        raise TypeError(f"unknown client options: {', '.join(sorted(overrides))}")
    return PipelineOptions(**values)


def _as_parameters(args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if isinstance(args, argparse.ArgumentParser):
        args = args.parse_args()
    if isinstance(args, argparse.Namespace):
        return dict(vars(args))
    if isinstance(args, dict):
        return dict(args)
    raise TypeError(
        f"arguments must be an ArgumentParser, a Namespace or a dict, not {type(args).__name__}"
    )


class TrackClient:
    """Tracks trials in the store named by ``backend`` (a URI, or a Protocol instance).

    With no URI, ``TRACK_URI`` (or ``uri`` in ``track.config``) is used, else the embedded
    default store. Keyword options tune the write pipeline (``flush_interval``,
    ``durability``, ``max_points``, ``max_bytes``, ``on_full``, ``heartbeat_interval``,
    ``exit_timeout``, ``spill_dir``, ``system_metrics_interval``); each also reads
    ``TRACK_<OPTION>``.

    ``forward`` names trackers every write is also sent to (default: ``TRACK_FORWARD``, see
    docs/forwarding.md); ``ranks`` is "zero" (default, ``TRACK_RANKS``), "all" or "separate"
    (see docs/distributed.md).
    """

    def __init__(
        self,
        backend: str | Protocol | None = None,
        forward: str | Sequence[str | Forwarder] | None = None,
        ranks: str | None = None,
        forward_options: Mapping[str, Mapping[str, Any]] | None = None,
        **pipeline: Any,
    ) -> None:
        if backend is None or backend == "none":
            backend = options("uri", DEFAULT_URI)
        self.ranks = RankPolicy.detect(ranks or options("ranks", "zero"))
        if self.ranks.muted:
            backend = "ephemeral:"  # a non-zero rank in the default mode does no I/O
        self.protocol = backend if isinstance(backend, Protocol) else get_protocol(backend)
        forwarders = make_forwarders(forward, forward_options) if self.ranks.forwards else []
        if forwarders:
            self.protocol = ForwardingProtocol(self.protocol, forwarders)
        self.pipeline = WritePipeline(self.protocol, pipeline_options(**pipeline))
        self.project: Project | None = None
        self.group: TrialGroup | None = None
        self.trial: TrialLogger | None = None
        self._version: str | None = None
        self._select_from_orion_environment()

    def _select_from_orion_environment(self) -> None:
        project = os.environ.get("ORION_PROJECT")
        group = os.environ.get("ORION_EXPERIMENT")
        trial = os.environ.get("ORION_TRIAL_ID")
        if project:
            self.set_project(name=project, get_only=True)
        if group:
            self.set_group(name=group, get_only=True)
        if trial:
            self.set_trial(uid=trial)

    # ---- project and group --------------------------------------------------------------

    def set_project(
        self,
        project: Project | None = None,
        force: bool = False,
        get_only: bool = False,
        **kwargs: Any,
    ) -> Project | None:
        """Use (creating unless ``get_only``) the project; a project already set stays unless
        ``force`` (so an orchestrator's choice, e.g. Orion's, wins over the script's)."""
        if self.project is not None and not force:
            return self.project
        project = project or Project(**kwargs)
        found = self.protocol.get_project(project)
        if found is None and not get_only:
            self.protocol.new_project(project)
            found = project
        self.project = found
        set_current_project(found)
        return found

    def set_group(
        self,
        group: TrialGroup | None = None,
        force: bool = False,
        get_only: bool = False,
        **kwargs: Any,
    ) -> TrialGroup | None:
        """Use (creating unless ``get_only``) a group of the current project."""
        if self.group is not None and not force:
            return self.group
        if group is None:
            kwargs.setdefault("project_id", self._project().uid)
            group = TrialGroup(**kwargs)
        found = self.protocol.get_trial_group(group)
        if found is None and not get_only:
            self.protocol.new_trial_group(group)
            found = group
        self.group = found
        return found

    def _project(self) -> Project:
        if self.project is None:
            self.set_project(name=ORPHAN_PROJECT)
        assert self.project is not None
        return self.project

    # ---- trials -------------------------------------------------------------------------

    def new_trial(self, force: bool = False, **kwargs: Any) -> TrialLogger:
        """A new trial of the current project and group, returned as its logger.

        ``kwargs`` are :class:`~track.structure.Trial` fields (``name``, ``description``,
        ``tags``, ``version``, ``parameters``; ``arguments`` is a synonym for parameters and
        accepts a Namespace). The trial is stored once its parameters are known; with the
        same parameters as an existing trial it gets the next revision. A trial already set
        is kept unless ``force``.
        """
        if self.trial is not None and not force:
            return self.trial
        arguments = kwargs.pop("arguments", None)
        parameters = {**_as_parameters(arguments), **kwargs.pop("parameters", {})}
        kwargs.setdefault("version", self._version or default_version_hash())
        if self.ranks.mode == "separate":
            parameters = self._join_rank_group(parameters, kwargs)
        trial = Trial(parameters=jsonable_dict(parameters), **kwargs)
        logger = TrialLogger(
            trial,
            self.protocol,
            self.pipeline,
            create=self._insert,
            muted=self.ranks.muted,
            rank_suffix=self.ranks.suffix,
        )
        if parameters:
            logger._ensure_created()
        self.trial = logger
        return logger

    def _join_rank_group(
        self, parameters: dict[str, Any], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        base = kwargs.get("name") or "distributed"
        if self.group is None:
            self.set_group(name=f"{base}-{self.ranks.launch}" if self.ranks.launch else base)
        kwargs["name"] = f"{base}-rank{self.ranks.info.rank}"
        return {**parameters, "rank": self.ranks.info.rank}

    def _insert(self, trial: Trial) -> Trial:
        if self.ranks.muted:
            return self.protocol.new_trial(trial, auto_increment=True) or trial
        if self.ranks.mode == "all":
            return self.ranks.attach(trial, self._insert_trial, self.protocol)
        return self._insert_trial(trial)

    def _insert_trial(self, trial: Trial) -> Trial:
        trial.metadata.update(self.ranks.metadata())
        project = self._project()
        trial._hash = trial.hash  # parameters are now fixed: freeze the identity
        trial.project_id = project.uid
        if self.group is not None:
            trial.group_id = self.group.uid
        commit, dirty = get_git_version()
        if commit is not None:
            trial.metadata.setdefault("git_commit", commit)
            trial.metadata.setdefault("git_dirty", dirty)
        stored = self.protocol.new_trial(trial, auto_increment=True)
        assert stored is not None
        set_current_trial(stored)
        return stored

    def set_trial(
        self,
        trial: Trial | None = None,
        force: bool = False,
        uid: str | None = None,
        hash: str | None = None,
        revision: int | None = None,
        **kwargs: Any,
    ) -> TrialLogger:
        """Resume an existing trial, named by ``uid`` or by ``hash`` and ``revision``."""
        if self.trial is not None and not force:
            return self.trial
        if trial is None:
            if uid is not None:
                hash, _, rev = uid.rpartition("_")
                if not hash or not rev.isdigit():
                    raise TrialDoesNotExist(f"{uid!r} is not a trial uid (hash_revision)")
                revision = int(rev)
            if hash is None:
                raise TypeError("set_trial needs a Trial, a uid, or a hash and a revision")
            trial = Trial(_hash=hash, revision=revision or 0)
        found = self.protocol.get_trial(trial)
        if not found:
            raise TrialDoesNotExist(f"no trial {trial.uid} in {self.protocol.__class__.__name__}")
        self.trial = TrialLogger(
            found[0],
            self.protocol,
            self.pipeline,
            muted=self.ranks.muted,
            rank_suffix=self.ranks.suffix,
        )
        set_current_trial(found[0])
        return self.trial

    def _trial(self) -> TrialLogger:
        if self.trial is None:
            self.new_trial()
        assert self.trial is not None
        return self.trial

    def log_arguments(
        self, args: Any = None, show: bool = False, **kwargs: Any
    ) -> argparse.Namespace:
        """Record the trial's parameters from a parser, a Namespace, a dict and/or keywords."""
        parameters = {**_as_parameters(args), **kwargs}
        self._trial().log_arguments(**parameters)
        if show:
            print(json.dumps(jsonable_dict(parameters), indent=2))
        return argparse.Namespace(**parameters)

    get_arguments = log_arguments

    def add_tags(self, **kwargs: Any) -> None:
        """Tag the current trial."""
        self._trial().add_tags(**kwargs)

    def set_version(self, version: str | None = None, version_fun: Any = None) -> str | None:
        """Set the code version new trials record (default: sha256 of the running script)."""
        self._version = version or (version_fun() if version_fun else default_version_hash())
        return self._version

    @staticmethod
    def get_device() -> Any:
        """``torch.device('cuda')`` when a GPU is usable, else the CPU (``'cpu'`` without torch)."""
        try:
            import torch
        except ImportError:
            return "cpu"
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def start(self) -> TrialLogger:
        """Start the current trial (see ``TrialLogger.start``)."""
        return self._trial().start()

    def finish(self, exc_type: Any = None, exc_val: Any = None, exc_tb: Any = None) -> None:
        """Finish the current trial (see ``TrialLogger.finish``)."""
        self._trial().finish(exc_type, exc_val, exc_tb)

    def report(self, short: bool = True) -> dict[str, Any]:
        """Print the current trial as stored, in the report layout."""
        return self._trial().report(short=short)

    def save(self, file_name_override: str | None = None) -> None:
        """Flush every buffered write and commit the store (optionally to another file)."""
        if self.trial is not None:
            self.trial._ensure_created()
        self.pipeline.flush()
        self.protocol.commit(file_name_override=file_name_override)

    def close(self) -> None:
        """Flush, stop the pipeline and close the store."""
        self.pipeline.close()
        self.protocol.close()
