"""The seeds' small helpers: GPU name, stack printing, shared statistics, log records, types."""

from __future__ import annotations

import io
import logging
import multiprocessing
import random
import subprocess
import sys
import typing

import pytest

from track import TrackClient
from track.containers.types import Document, Point, Query, Series, Step, Uid, Value
from track.persistence import UnknownScheme, get_protocol, make_mongodb_protocol, register
from track.persistence.memory import EphemeralProtocol
from track.system.gpu import nvml_gpus
from track.utils.debug import print_stack
from track.utils.log import get_log_record_constructor
from track.utils.stat import StatStream, StatStreamStruct
from track.utils.system import get_gpu_name


def test_get_gpu_name_is_the_first_gpu_or_none_with_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without NVML or a GPU, None and a debug line saying why; with one, its name."""
    nvml_gpus.cache_clear()
    with caplog.at_level(logging.DEBUG, logger="track.system"):
        name = get_gpu_name()
    if nvml_gpus() is None:
        assert name is None and "no GPU metrics" in caplog.text
    else:
        assert isinstance(name, str) and name


def a_caller(out: io.StringIO, msg: str) -> None:
    """A named frame for print_stack to show."""
    print_stack(msg, file=out)


def test_print_stack_prints_the_callers_stack_between_rules() -> None:
    """The caller's frames appear, most recent last, between lines of msg; not print_stack's."""
    out = io.StringIO()
    a_caller(out, "=")
    lines = out.getvalue().splitlines()
    assert lines[0] == lines[-1] == "=" * 80
    frames = "\n".join(lines[1:-1])
    assert "in a_caller" in lines[-3] and "test_print_stack_prints" in frames
    assert "in print_stack" not in frames


def test_print_stack_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without file=, the stack goes to standard error, framed by dashes."""
    print_stack()
    err = capsys.readouterr().err
    assert err.startswith("-" * 80 + "\n") and "test_print_stack_writes" in err


def test_stat_stream_struct_round_trips_a_stream() -> None:
    """from_stream/to_stream keep the whole state, including 'no observation yet'."""
    empty = StatStreamStruct.from_stream(StatStream()).to_stream()
    assert empty.val is None and empty.count == 0
    stream = StatStream(drop_first_obs=2)
    for value in [5.0, 1.0, 2.0, 3.5, -1.0]:
        stream.update(value)
    again = StatStreamStruct.from_stream(stream).to_stream()
    assert again.state_dict() == stream.state_dict()


def feed(shared: typing.Any, values: list[float]) -> None:
    """Worker: update the shared statistics with each value, under the shared lock."""
    for value in values:
        with shared.get_lock():
            shared.get_obj().update(value)


def test_stat_stream_struct_in_shared_memory_collects_several_processes() -> None:
    """Three processes update one StatStreamStruct; it reports the statistics of all values."""
    context = multiprocessing.get_context("spawn")
    shared = context.Value(StatStreamStruct)
    shared.get_obj().store(StatStream(drop_first_obs=0))
    rng = random.Random(7)
    chunks = [[rng.uniform(0, 10) for _ in range(50)] for _ in range(3)]
    workers = [context.Process(target=feed, args=(shared, chunk)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    values = [v for chunk in chunks for v in chunk]
    result = shared.get_obj().to_stream()
    assert result.count == 150
    assert (result.min, result.max) == (min(values), max(values))
    assert result.avg == pytest.approx(sum(values) / 150)


def test_log_record_constructor_adds_a_short_path() -> None:
    """Records of track's files get short_path 'track/...'; a real logger call uses it."""
    make = get_log_record_constructor()
    import track.persistence.local as local

    record = make("x", logging.INFO, local.__file__, 1, "m", (), None)
    assert record.short_path == "track/persistence/local.py"
    other = make("x", logging.INFO, "/elsewhere/a.py", 1, "m", (), None)
    assert other.short_path == "/elsewhere/a.py" and other.getMessage() == "m"
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(make)
    try:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(short_path)s:%(message)s"))
        logger = logging.getLogger("track.compat-test")
        logger.addHandler(handler)
        logger.warning("hello")
        logger.removeHandler(handler)
    finally:
        logging.setLogRecordFactory(previous)
    assert stream.getvalue() == f"{__file__}:hello\n"


def test_container_types_describe_what_stores_hold() -> None:
    """The aliases are real types: a stored point is a Point, a query a Query."""
    store = EphemeralProtocol()
    client = TrackClient(store, flush_interval=0.05)
    trial = client.new_trial(name="t")
    with trial:
        trial.log_metrics(step=1, loss=0.5)
    client.close()
    [stored] = store.fetch_trials(typing.cast(Query, {"name": "t"}))
    series: Series = stored.metrics["loss"]
    point: Point = series[0]
    assert typing.get_origin(Point) is list and isinstance(point, list)
    assert isinstance(point[0], typing.get_args(Step)) and isinstance(
        point[1], typing.get_args(Value)
    )
    assert typing.get_origin(Document) is dict and Uid is str


def test_mongodb_is_refused_naming_the_stores_track_has() -> None:
    """make_mongodb_protocol, get_protocol and TrackClient refuse mongodb://, listing the stores."""
    with pytest.raises(UnknownScheme, match=r"no MongoDB store.*file, pickled"):
        make_mongodb_protocol("mongodb://localhost:27017/track")
    for attempt in (get_protocol, TrackClient):
        with pytest.raises(UnknownScheme, match=r"known schemes: .*sqlite"):
            attempt("mongodb://localhost:27017/track")
    with pytest.raises(ValueError, match="mongodb:// URI"):
        make_mongodb_protocol("file://x.json")


def test_make_mongodb_protocol_builds_a_registered_mongodb_store() -> None:
    """A program that registers its own mongodb store gets it from make_mongodb_protocol."""
    from track.persistence import STORES

    register("mongodb", lambda uri: EphemeralProtocol())
    try:
        assert isinstance(make_mongodb_protocol("mongodb://localhost/track"), EphemeralProtocol)
    finally:
        STORES.unregister("mongodb")


def test_importing_the_core_imports_no_compatibility_code() -> None:
    """Core modules naming seed helpers load track.compat only when such a name is used."""
    code = (
        "import sys, track, track.client, track.persistence, track.persistence.local\n"
        "import track.serialization, track.utils, track.utils.stat, track.utils.log\n"
        "from track.utils.stat import StatStream\n"
        "print(sorted(m for m in sys.modules if m.startswith('track.compat')))\n"
        "from track.persistence.local import execute_query\n"
        "print(sorted(m for m in sys.modules if m.startswith('track.compat')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == [
        "[]",
        "['track.compat', 'track.compat.queries', 'track.compat.types']",
    ]
    import track.utils.stat

    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        track.utils.stat.missing  # noqa: B018
