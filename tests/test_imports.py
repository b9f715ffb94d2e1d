"""The modules the spec names import and expose the documented names; ``import track`` stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

DOCUMENTED: dict[str, list[str]] = {
    "track": ["TrackClient", "Project", "TrialGroup", "Trial", "Status", "CustomStatus"],
    "track.client": ["TrackClient", "TrialDoesNotExist"],
    "track.logger": ["TrialLogger", "LogSignalHandler", "LoggerChronoContext"],
    "track.structure": [
        "Project",
        "TrialGroup",
        "Trial",
        "Status",
        "CustomStatus",
        "status",
        "get_current_project",
        "set_current_project",
        "get_current_trial",
        "set_current_trial",
    ],
    "track.aggregators.aggregator": [
        "Aggregator",
        "StatAggregator",
        "ValueAggregator",
        "TimeSeriesAggregator",
        "RingAggregator",
    ],
    "track.chrono": ["ChronoContext"],
    "track.configuration": ["options", "find_configuration", "reset_configuration"],
    "track.serialization": ["to_json", "from_json"],
    "track.versioning": [
        "compute_hash",
        "compute_version",
        "default_version_hash",
        "get_file_version",
        "get_git_version",
        "is_iterable",
    ],
    "track.persistence": [
        "register",
        "get_protocol",
        "make_local",
        "make_ephemeral_protocol",
        "make_pickled_protocol",
        "make_socket_protocol",
        "make_cockroach_protocol",
        "make_comet_ml",
    ],
    "track.persistence.protocol": ["Protocol"],
    "track.persistence.local": ["FileProtocol"],
    "track.persistence.multiplexer": ["ProtocolMultiplexer"],
    "track.persistence.utils": ["parse_uri", "parse_options"],
    "track.utils": ["ItemNotFound"],
    "track.utils.stat": ["StatStream"],
    "track.utils.eta": ["EstimatedTime"],
    "track.utils.throttle": ["throttled", "is_throttled"],
    "track.utils.out": ["RingOutputDecorator"],
    "track.utils.signal": ["SignalHandler"],
    "track.utils.delay": ["DelayedCall", "Future", "delay_call", "is_delayed_call"],
    "track.containers.ring": ["RingBuffer"],
}

HEAVY = [
    "psycopg",
    "starlette",
    "uvicorn",
    "plotly",
    "rich",
    "cryptography",
    "msgpack",
    "psutil",
    "torch",
    "numpy",
    "mlflow",
    "wandb",
]


@pytest.mark.parametrize("module", list(DOCUMENTED))
def test_module_exposes_documented_names(module: str) -> None:
    """Each documented module imports and has every documented name."""
    imported = importlib.import_module(module)
    missing = [name for name in DOCUMENTED[module] if not hasattr(imported, name)]
    assert missing == []


def test_public_all_lists_only_existing_names() -> None:
    """``track.__all__`` names only attributes the package really has."""
    import track

    assert [name for name in track.__all__ if not hasattr(track, name)] == []


def test_import_track_loads_no_optional_dependency() -> None:
    """``import track`` in a fresh interpreter imports no driver, UI, or ML library."""
    code = (
        "import json, sys, track, track.client, track.persistence\n"
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert [m for m in HEAVY if m in loaded] == []
