"""The client: chooses the store from a URI, sets the project and group, creates trials.

The client knows no store: it asks the registry for whatever the URI names and talks to it
through the :class:`~track.persistence.protocol.Protocol` and the write pipeline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from track.configuration import DEFAULT_URI, default_uri, options
from track.distributed import RankPolicy
from track.errors import NotFound
from track.forward import Forwarder, parse_forward
from track.logger import TrialLogger
from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.pipeline import PipelineOptions, WritePipeline
from track.reading import print_summary, store_uri
from track.serialization import jsonable_dict, report_digest
from track.structure import (
    Project,
    Trial,
    TrialGroup,
    inherit_tags,
    set_current_project,
    set_current_trial,
)
from track.versioning import default_version_hash, get_git_version

__all__ = ["DEFAULT_URI", "OrionContext", "TrackClient", "TrialDoesNotExist", "pipeline_options"]

log = logging.getLogger("track.client")

ORPHAN_PROJECT = "orphan"


class TrialDoesNotExist(NotFound):
    """``set_trial`` named a trial the store does not hold (the seeds' name; a NotFound)."""


@dataclass(frozen=True)
class OrionContext:
    """The trial an ``orion hunt`` worker is running, as Orion tells it in the environment.

    Orion (0.2.x) sets ``ORION_EXPERIMENT_NAME``, ``ORION_EXPERIMENT_ID``,
    ``ORION_EXPERIMENT_VERSION``, ``ORION_TRIAL_ID`` (its own id, not a track uid) and
    ``ORION_WORKING_DIR``; older releases set ``ORION_PROJECT`` and ``ORION_EXPERIMENT``.
    """

    trial_id: str | None = None
    experiment: str | None = None
    experiment_id: str | None = None
    experiment_version: int | str | None = None
    project: str | None = None
    working_dir: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OrionContext | None:
        """The context from ``environ`` (default ``os.environ``); None outside an Orion trial."""
        env = os.environ if environ is None else environ
        version = env.get("ORION_EXPERIMENT_VERSION") or None
        context = cls(
            trial_id=env.get("ORION_TRIAL_ID") or None,
            experiment=env.get("ORION_EXPERIMENT_NAME") or env.get("ORION_EXPERIMENT") or None,
            experiment_id=env.get("ORION_EXPERIMENT_ID") or None,
            experiment_version=int(version) if version and version.isdigit() else version,
            project=env.get("ORION_PROJECT") or None,
            working_dir=env.get("ORION_WORKING_DIR") or None,
        )
        return context if context != cls() else None

    def group_metadata(self) -> dict[str, Any]:
        """What the experiment's group records about it (the latest version that ran)."""
        keys = {
            "orion_experiment_id": self.experiment_id,
            "orion_experiment_version": self.experiment_version,
        }
        return {key: value for key, value in keys.items() if value is not None}

    def trial_metadata(self) -> dict[str, Any]:
        """What the track trial records about the Orion trial; ``orion_trial_id`` finds it."""
        keys = {
            "orion_trial_id": self.trial_id,
            "orion_experiment": self.experiment,
            **self.group_metadata(),
            "orion_working_dir": self.working_dir,
        }
        return {key: value for key, value in keys.items() if value is not None}


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


def _start_pipeline(
    backend: str | Protocol,
    forward: list[str | Forwarder],
    forward_options: Mapping[str, Mapping[str, Any]] | None,
    options: PipelineOptions,
) -> tuple[Protocol, WritePipeline]:
    """The client's store and its write pipeline: a writer process when asked for and possible.

    Where the writer process cannot write (see ``track.writer.process_refusal``) or does not
    start, the pipeline writes from a thread of this process, and a log line says why.
    """
    # imported here, not with the client: `python -m track.writer` must run that module fresh
    from track.writer import ProcessPipeline, WriterSpec, open_store, process_refusal

    if options.writer == "process":
        reason = process_refusal(backend, forward, forward_options, options)
        if reason is None:
            assert isinstance(backend, str)  # process_refusal refuses a store object
            protocol = get_protocol(backend)  # this process reads and creates trials with it
            names = [str(name) for name in forward]
            spec = WriterSpec(
                backend, names, {k: dict(v) for k, v in (forward_options or {}).items()}
            )
            try:
                return protocol, ProcessPipeline(protocol, options, spec)
            except OSError as error:
                protocol.close()
                log.warning(
                    "track: the writer process could not start (%s: %s); writing from a thread "
                    "of this process instead",
                    type(error).__name__,
                    error,
                )
        else:
            log.info(
                "track: writing from a thread of this process, not a writer process: %s", reason
            )
    protocol = open_store(backend, forward, forward_options)
    return protocol, WritePipeline(protocol, replace(options, writer="thread"))


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


def _owner(trial: Trial) -> str:
    return f"trial {trial.name!r}" if trial.name else "trial"


class TrackClient:
    """Tracks trials in the store named by ``backend`` (a URI, or a Protocol instance).

    With no URI, ``TRACK_URI`` (or ``uri`` in ``track.config``) is used, else the embedded
    default store. Keyword options tune the write pipeline (``flush_interval``,
    ``durability``, ``max_points``, ``max_bytes``, ``on_full``, ``heartbeat_interval``,
    ``exit_timeout``, ``spill_dir``, ``system_metrics_interval``, ``writer``,
    ``handover_interval``); each also reads ``TRACK_<OPTION>``. ``writer="process"`` (opt-in)
    writes from a writer process (see track.writer).

    ``forward`` names trackers every write is also sent to (default: ``TRACK_FORWARD``, see
    docs/forwarding.md); ``ranks`` is "zero" (default, ``TRACK_RANKS``), "all" or "separate"
    (see docs/distributed.md).

    Under ``orion hunt`` (see :class:`OrionContext`) the client's trials go to a group named
    after the Orion experiment, and its first trial is the one recording this Orion trial's id
    (``metadata.orion_trial_id``), created on the first run and resumed on the next ones.
    Construction looks up nothing for Orion but the older ``ORION_PROJECT``'s project; see
    docs/user-guide.md, "Orion".
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
            backend = default_uri()
        self.ranks = RankPolicy.detect(ranks or options("ranks", "zero"))
        if self.ranks.muted:
            backend = "ephemeral:"  # a non-zero rank in the default mode does no I/O
        forwards = parse_forward(forward) if self.ranks.forwards else []
        chosen = pipeline_options(**pipeline)
        self.protocol, self.pipeline = _start_pipeline(backend, forwards, forward_options, chosen)
        self.project: Project | None = None
        self.group: TrialGroup | None = None
        self.trial: TrialLogger | None = None
        self._version: str | None = None
        self.orion: OrionContext | None = OrionContext.from_environment()
        # the Orion trial is attached to the client's first trial only (not to forced new ones)
        self._orion_trial_pending = self.orion is not None and self.orion.trial_id is not None
        if self.orion is not None and self.orion.project:
            self.set_project(name=self.orion.project)

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
        elif found is not None and project.tags and project.tags != found.tags:
            log.warning(
                "project %s is stored with tags %s; the tags given now, %s, are not recorded "
                "(a project's tags are set when it is created)",
                found.uid,
                found.tags,
                project.tags,
            )
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
        """Use (creating unless ``get_only``) a group of the current project.

        A new group inherits its project's tags (``TagConflict`` if it gives one another value).
        Under Orion the group is the experiment's (created if new) unless ``force``."""
        if self.group is not None and not force:
            return self.group
        if self.orion is not None and self.orion.experiment and not force:
            return self._set_orion_group(self.orion)
        found = self._group(group, get_only, **kwargs)
        self.group = found
        return found

    def _group(
        self, group: TrialGroup | None, get_only: bool = False, **kwargs: Any
    ) -> TrialGroup | None:
        """The stored group (created unless ``get_only``), its project's tags inherited."""
        if group is None:
            kwargs.setdefault("project_id", self._project().uid)
            group = TrialGroup(**kwargs)
        owner = f"group {group.name or group.uid!r}"
        group.tags = inherit_tags(self._project_tags(group.project_id), group.tags, owner)
        found = self.protocol.get_trial_group(group)
        if found is None and not get_only:
            created = self.protocol.new_trial_group(group)  # None: another process was first
            found = group if created is not None else self.protocol.get_trial_group(group) or group
        elif found is not None and group.tags != found.tags:
            log.warning(
                "group %s is stored with tags %s; the tags given now, %s, are not recorded "
                "(a group's tags are set when it is created)",
                found.uid,
                found.tags,
                group.tags,
            )
        return found

    def _project_tags(self, project_id: str | None) -> dict[str, Any]:
        """The tags of the project ``project_id`` (the current one, else as stored)."""
        if project_id is None:
            return {}
        if self.project is not None and self.project.uid == project_id:
            return self.project.tags
        stored = self.protocol.get_project(Project(_uid=project_id))
        return stored.tags if stored is not None else {}

    def add_to_group(self, group: TrialGroup | None = None, **kwargs: Any) -> TrialGroup:
        """Add the current trial to one more group, which it joins beside its others.

        ``group`` or ``kwargs`` (``TrialGroup`` fields, e.g. ``name``) designate the group,
        created in the current project if new; the current group (``set_group``) is unchanged.
        Returns the stored group.
        """
        found = self._group(group, **kwargs)
        assert found is not None
        self._trial().add_to_group(found)
        return found

    def _set_orion_group(self, orion: OrionContext) -> TrialGroup:
        metadata = orion.group_metadata()
        project = self._project()
        group = TrialGroup(
            name=orion.experiment, project_id=project.uid, metadata=metadata, tags=project.tags
        )
        found = self.protocol.get_trial_group(group)
        if found is None:
            self.protocol.new_trial_group(group)  # None when another worker created it first
            found = self.protocol.get_trial_group(group) or group
        if any(found.metadata.get(key) != value for key, value in metadata.items()):
            self.protocol.set_group_metadata(found, **metadata)
            found.metadata.update(metadata)
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

        Under Orion, the first trial is the one recording this Orion trial's id: resumed when
        the store holds it (a resumed Orion trial), else created with that id in its metadata.
        """
        if self.trial is not None and not force:
            return self.trial
        arguments = kwargs.pop("arguments", None)
        parameters = {**_as_parameters(arguments), **kwargs.pop("parameters", {})}
        if self._orion_trial_pending and self.orion is not None:
            resumed = self._resume_orion_trial(self.orion, parameters)
            self._orion_trial_pending = False
            if resumed is not None:
                return resumed
            kwargs["metadata"] = {**kwargs.get("metadata", {}), **self.orion.trial_metadata()}
        kwargs.setdefault("version", self._version or default_version_hash())
        if self.ranks.mode == "separate":
            parameters = self._join_rank_group(parameters, kwargs)
        trial = Trial(parameters=jsonable_dict(parameters), **kwargs)
        if self.project is not None:  # a conflict with the project's tags raises here already
            trial.tags = inherit_tags(self.project.tags, trial.tags, _owner(trial))
        logger = TrialLogger(
            trial,
            self.protocol,
            self.pipeline,
            create=self._insert,
            muted=self.ranks.muted,
            rank_suffix=self.ranks.suffix,
            project_tags=self._project_tags,
        )
        if parameters:
            logger._ensure_created()
        self.trial = logger
        return logger

    def _resume_orion_trial(
        self, orion: OrionContext, parameters: dict[str, Any]
    ) -> TrialLogger | None:
        query: dict[str, Any] = {"metadata.orion_trial_id": orion.trial_id}
        if self.ranks.mode == "separate":  # one trial per rank, each resumed by its own rank
            query["metadata.rank"] = self.ranks.info.rank
        found = self.protocol.fetch_trials(query, with_metrics=False)
        if not found:
            return None
        if len(found) > 1:
            log.warning(
                "%d track trials record Orion trial %s (%s); resuming the first",
                len(found),
                orion.trial_id,
                ", ".join(sorted(t.uid for t in found)),
            )
        trial = min(found, key=lambda t: t.uid)
        given = jsonable_dict(parameters)
        if given and given != trial.parameters:
            log.warning(
                "Orion trial %s resumes track trial %s, stored with parameters %s; the "
                "parameters given now, %s, are not recorded",
                orion.trial_id,
                trial.uid,
                trial.parameters,
                given,
            )
        return self._resume(trial)

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
            attached: Trial = self.ranks.attach(trial, self._insert_trial, self.protocol)
            return attached
        return self._insert_trial(trial)

    def _insert_trial(self, trial: Trial) -> Trial:
        trial.metadata.update(self.ranks.metadata())
        project = self._project()
        trial._hash = trial.hash  # parameters are now fixed: freeze the identity
        trial.project_id = project.uid
        trial.tags = inherit_tags(project.tags, trial.tags, _owner(trial))
        if self.group is None and self.orion is not None and self.orion.experiment:
            self._set_orion_group(self.orion)
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
        return self._resume(found[0])

    def _resume(self, stored: Trial) -> TrialLogger:
        self.trial = TrialLogger(
            stored,
            self.protocol,
            self.pipeline,
            muted=self.ranks.muted,
            rank_suffix=self.ranks.suffix,
            project_tags=self._project_tags,
        )
        set_current_trial(stored)
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

    def add_tags(self, *labels: str, **kwargs: Any) -> None:
        """Tag the current trial (bare labels are tags with no value)."""
        self._trial().add_tags(*labels, **kwargs)

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
        """Print the current trial as stored: a digest (parameters, metric summaries, chronos,
        status) when ``short``, else the full report layout.

        On a terminal the short form is the summary people read (status, duration, each
        metric's last/min/max with a sparkline, the command that opens it) and the digest is
        returned; piped, the digest is printed as JSON for programs.
        """
        trial = self._trial()
        if not (short and sys.stdout.isatty()):
            return trial.report(short=short)
        trial.flush()
        stored = trial.protocol.get_trial(trial.trial)
        found = stored[0] if stored else trial.trial
        print_summary(found, store_uri(trial.protocol))
        return report_digest(found)

    def save(self, file_name_override: str | None = None) -> None:
        """Flush every buffered write and commit the store (optionally to another file).

        ``compact=True`` asks a ``file://`` store to fold its journal into the JSON document.
        """
        if self.trial is not None:
            self.trial._ensure_created()
        self.pipeline.flush()
        self.protocol.commit(file_name_override=file_name_override, compact=True)

    def close(self) -> None:
        """Flush, stop the pipeline and close the store."""
        self.pipeline.close()
        self.protocol.close()
