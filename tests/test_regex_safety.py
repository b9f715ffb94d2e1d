"""``$regex`` runs in linear time (RE2) on every store, the server and the dashboard, with bounds.

A backtracking engine takes hours on ``^(x|x)+y`` against forty ``x``: each such query runs in a
subprocess with a timeout, so a regression fails the test instead of hanging the suite (a hang
guard, not a performance assertion).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest

from optional import require
from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.query import MAX_REGEX_LENGTH, QueryError, parse
from track.structure import Project, Trial

CATASTROPHIC = "^(x|x)+y"
NAMES = ["x" * 40, "x" * 39 + "y", "z"]
#: the dashboard answers loopback Host names only
LOCAL = "http://127.0.0.1"
#: a hang guard for one subprocess; the query itself answers in milliseconds with RE2
HANG_GUARD = 30

#: fills the store (an ephemeral one lives in this process only), then answers one query
PROBE = """
import json, sys, warnings
from track.persistence import get_protocol
from track.structure import Project, Trial

uri, mode, where, names = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
protocol = get_protocol(uri)
protocol.new_project(Project(name="p"))
for name in names:
    protocol.new_trial(Trial(name=name, parameters={"tag": name}, project_id="p"))
protocol.commit()
if mode == "store":
    found = [t.name for t in protocol.fetch_trials(json.loads(where), with_metrics=False)]
else:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from track.dashboard.app import create_app

    with TestClient(create_app(protocol), base_url="http://127.0.0.1") as http:
        response = http.get("/api/trials", params={"where": where, "limit": 0})
        assert response.status_code == 200, response.text
        found = [row["name"] for row in response.json()["rows"]]
protocol.close()
print(json.dumps(sorted(found)))
"""


def probe(uri: str, mode: str, where: str) -> list[str]:
    """The names ``where`` selects among ``NAMES``, asked in a subprocess under a hang guard."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, uri, mode, where, json.dumps(NAMES)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri`` holding one trial per name of ``NAMES``, closed afterwards."""
    protocol = get_protocol(store_uri)
    protocol.new_project(Project(name="p"))
    for name in [*NAMES, "alpha", "Beta", "gamma1", "delta_2"]:
        protocol.new_trial(Trial(name=name, parameters={"tag": name}, project_id="p"))
    protocol.commit()
    yield protocol
    protocol.close()


def selected(store: Protocol, pattern: str, path: str = "name") -> set[str]:
    """The names of the trials whose ``path`` matches ``pattern``."""
    return {t.name for t in store.fetch_trials({path: {"$regex": pattern}}, with_metrics=False)}


def test_catastrophic_pattern_answers_on_every_store(store_uri: str) -> None:
    """``^(x|x)+y`` on names and on a JSON path gives the right trials on every store."""
    wanted = ["x" * 39 + "y"]
    for path in ("name", "parameters.tag"):
        query = json.dumps({path: {"$regex": CATASTROPHIC}})
        assert probe(store_uri, "store", query) == wanted, path


def test_catastrophic_pattern_answers_through_the_dashboard(store_uri: str) -> None:
    """``/api/trials?where=name~^(x|x)+y`` answers with the right row on every store."""
    require("starlette")
    assert probe(store_uri, "dashboard", f"name~{CATASTROPHIC}") == ["x" * 39 + "y"]


@pytest.mark.parametrize(
    "pattern",
    [
        "^x",
        "a$",
        "[0-9]$",
        r"\d",
        "^(alpha|gamma)",
        "(?i)^beta",
        "^beta",
        "l.h",
        "^[^x]+$",
        "x{40}",
        "^$",
    ],
)
def test_ordinary_patterns_match_as_python_re_did(store: Protocol, pattern: str) -> None:
    """Anchors, classes, alternation and ``(?i)`` select what Python's ``re`` selected before."""
    names = [*NAMES, "alpha", "Beta", "gamma1", "delta_2"]
    expected = {name for name in names if re.search(pattern, name)}
    assert selected(store, pattern) == expected
    assert selected(store, pattern, "parameters.tag") == expected


def test_pattern_at_the_length_limit_is_accepted(store: Protocol) -> None:
    """A pattern of exactly MAX_REGEX_LENGTH characters is a valid query."""
    pattern = "x?" * (MAX_REGEX_LENGTH // 2)
    assert len(pattern) == MAX_REGEX_LENGTH
    assert selected(store, pattern) == set(NAMES) | {"alpha", "Beta", "gamma1", "delta_2"}


def test_overlong_pattern_is_refused_on_every_store(store: Protocol) -> None:
    """A pattern past MAX_REGEX_LENGTH raises a ValueError naming the limit, on every store."""
    with pytest.raises(ValueError, match=f"limit of {MAX_REGEX_LENGTH} characters"):
        selected(store, "x" * (MAX_REGEX_LENGTH + 1))


@pytest.mark.parametrize("pattern", [r"(x)\1", "(?=x)x", "(?<!a)b", "(?P<n>x)(?P=n)"])
def test_unsupported_syntax_is_refused_on_every_store(store: Protocol, pattern: str) -> None:
    """Backreferences and lookarounds raise a ValueError naming the pattern and RE2 syntax."""
    with pytest.raises(ValueError, match="RE2 syntax") as raised:
        selected(store, pattern)
    assert repr(pattern) in str(raised.value)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("name~" + "x" * (MAX_REGEX_LENGTH + 1), f"limit of {MAX_REGEX_LENGTH} characters"),
        (r"name~'(x)\1'", "RE2 syntax"),
        (json.dumps({"name": {"$regex": "(?=x)"}}), "RE2 syntax"),
    ],
    ids=["overlong", "backreference", "lookahead"],
)
def test_dashboard_refuses_bad_patterns_with_a_json_error(
    store: Protocol, where: str, message: str
) -> None:
    """The dashboard answers an overlong or unsupported ``$regex`` with 400 and the reason."""
    require("starlette")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from track.dashboard.app import create_app

    with TestClient(create_app(store), base_url=LOCAL) as http:
        response = http.get("/api/trials", params={"where": where})
    assert response.status_code == 400 and message in response.json()["error"]


def test_parse_refuses_overlong_and_unsupported_patterns() -> None:
    """``parse`` raises QueryError for an overlong pattern and for RE2-unsupported syntax."""
    with pytest.raises(QueryError, match=f"limit of {MAX_REGEX_LENGTH} characters"):
        parse({"name": {"$regex": "a" * (MAX_REGEX_LENGTH + 1)}})
    with pytest.raises(QueryError, match=r"'\(a\)\\\\1'.*RE2 syntax.*backreferences"):
        parse({"name": {"$regex": r"(a)\1"}})


def test_re2_is_imported_at_the_first_regex_only() -> None:
    """``import track`` and queries without ``$regex`` leave re2 unloaded; a ``$regex`` loads it."""
    code = (
        "import sys, track, track.client, track.persistence\n"
        "from track.query import parse\n"
        "parse({'name': 'a', 'parameters.lr': {'$gt': 1}})\n"
        "before = 're2' in sys.modules\n"
        "parse({'name': {'$regex': '^a'}})\n"
        "print(before, 're2' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("uid", ["—x", "x" * (MAX_REGEX_LENGTH + 1)], ids=["unicode", "overlong"])
def test_uid_prefix_lookup_of_an_unknown_uid_is_not_found(uid: str) -> None:
    """``find_trial`` (CLI, dashboard) answers NotFound for any unknown uid, not a regex error."""
    from track.errors import NotFound
    from track.reading import find_trial

    protocol = get_protocol("ephemeral:")
    protocol.new_trial(Trial(name="a", project_id="p"))
    with pytest.raises(NotFound, match="no trial"):
        find_trial(protocol, uid)
