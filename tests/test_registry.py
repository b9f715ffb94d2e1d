"""track.registry: names resolved on first use, plugins through real entry points, lazy aliases.

The plugin tests install a real distribution (a ``*.dist-info`` folder with ``entry_points.txt``
next to its module) on ``sys.path`` of a fresh interpreter, as ``pip install`` would leave it,
and let ``importlib.metadata`` find it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from track.errors import UnknownName
from track.forward import forwarder_class
from track.persistence import UnknownScheme, get_protocol
from track.registry import Registry, lazy_aliases

PLUGIN = '''
import json
from track.forward import Forwarder
from track.persistence.memory import EphemeralProtocol

class MyStore(EphemeralProtocol):
    """A plugin store: an in-memory store that remembers the URI it was built from."""
    built = []

    def __init__(self, uri, **options):
        super().__init__()
        MyStore.built.append(str(uri))

class MyForwarder(Forwarder):
    """A plugin forwarder writing each metric row as a JSON line to ``path``."""
    name = "myforwarder"

    def __init__(self, path):
        super().__init__()
        self.path = path

    def log_rows(self, trial, rows):
        with open(self.path, "a") as file:
            for step, _, values in rows:
                file.write(json.dumps([step, values]) + "\\n")
'''

ENTRY_POINTS = """
[track.stores]
myscheme = trackplugin_demo:MyStore
broken = trackplugin_broken:Store

[track.forwarders]
myforwarder = trackplugin_demo:MyForwarder
brokenforwarder = trackplugin_broken:Forwarder
"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding an installed distribution ``trackplugin-demo`` and its modules."""
    site = tmp_path / "site"
    info = site / "trackplugin_demo-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trackplugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "trackplugin_demo.py").write_text(PLUGIN)
    (site / "trackplugin_broken.py").write_text("import trackplugin_missing_dependency\n")
    return site


def run_python(code: str, site: Path | None = None) -> Any:
    """Run ``code`` in a fresh interpreter (``site`` on its path); the JSON it printed last."""
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_unknown_name_names_the_kind_and_lists_the_known_ones() -> None:
    """The error says what kind of name, which name, and every known one, for each registry."""
    registry: Registry[object] = Registry("widget", builtins={"b": "json:dumps", "a": object()})
    with pytest.raises(UnknownName) as error:
        registry.get("c")
    assert str(error.value) == "unknown widget 'c'; known widgets: a, b"
    with pytest.raises(UnknownScheme) as scheme:
        get_protocol("nosuch://x")
    assert isinstance(scheme.value, UnknownName) and isinstance(scheme.value, ValueError)
    assert str(scheme.value).startswith("unknown store scheme 'nosuch'; known schemes: ")
    assert "ephemeral, file" in str(scheme.value)
    with pytest.raises(UnknownName, match=r"unknown forwarder 'nosuch'; known forwarders: .*csv"):
        forwarder_class("nosuch")


def test_a_name_is_imported_on_first_use_then_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing or testing a name imports nothing; get() imports its module once."""
    (tmp_path / "registry_probe_module.py").write_text("VALUE = object()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry(
        "probe", builtins={"Thing": "registry_probe_module:VALUE"}
    )
    assert "thing" in registry and "THING" in registry and "other" not in registry
    assert registry.names() == ["thing"]
    assert "registry_probe_module" not in sys.modules
    value = registry.get("thing")
    module = sys.modules.pop("registry_probe_module")
    assert value is module.VALUE and registry.get("Thing") is value


def test_register_wins_over_a_builtin_and_unregister_forgets() -> None:
    """An explicit register() replaces the built-in entry of the same name."""
    mine = object()
    registry: Registry[object] = Registry("widget", builtins={"a": "json:dumps"})
    registry.register("A", mine)
    assert registry.get("a") is mine
    registry.unregister("a")
    with pytest.raises(UnknownName):
        registry.get("a")


def test_importing_track_and_the_alias_modules_imports_no_implementation() -> None:
    """No store, forwarder, server or compatibility module is imported until a name is used."""
    loaded = run_python(
        """
        import json, sys
        import track, track.client, track.persistence, track.forward, track.tracker
        import track.serialization, track.utils, track.utils.stat, track.utils.log
        import track.utils.debug, track.utils.system, track.utils.encrypted
        import track.containers.types, track.distributed.cockroachdb
        import track.persistence.storage, track.persistence.local, track.persistence.socketed
        from track.persistence import registered_schemes
        registered_schemes()
        print(json.dumps(sorted(sys.modules)))
        """
    )
    implementations = [
        m
        for m in loaded
        if m.startswith(("track.compat", "track.server", "track.persistence.sql"))
        or m
        in (
            "track.persistence.memory",
            "track.persistence.pickled",
            "track.forward.csv",
            "track.forward.comet",
            "track.forward.mlflow",
        )
    ]
    assert implementations == []


def test_alias_modules_resolve_their_names_on_first_access() -> None:
    """Each documented name resolves to the object its defining module holds."""
    resolved = run_python(
        """
        import json
        from track.persistence.socketed import SocketClient, start_track_server, send
        from track.persistence import make_local, make_mongodb_protocol
        from track.utils.debug import print_stack
        import track.server.client, track.server.server, track.compat.socketed
        import track.compat.stores, track.compat.debug
        print(json.dumps([
            SocketClient is track.server.client.SocketClient,
            start_track_server is track.server.server.start_track_server,
            send is track.compat.socketed.send,
            make_local is track.compat.stores.make_local,
            make_mongodb_protocol is track.compat.stores.make_mongodb_protocol,
            print_stack is track.compat.debug.print_stack,
        ]))
        """
    )
    assert resolved == [True] * 6


def test_lazy_aliases_caches_and_refuses_other_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolved name lands in the module's namespace; a probe like ``__path__`` fails at once."""
    module = types.ModuleType("track_alias_probe")
    module.__getattr__ = lazy_aliases(module.__name__, {"dumps": "json"})  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert not hasattr(module, "__path__") and not hasattr(module, "loads")
    assert module.dumps is json.dumps and vars(module)["dumps"] is json.dumps


def test_an_installed_plugin_provides_a_store_and_a_forwarder(plugin_path: Path) -> None:
    """Entry points of groups track.stores and track.forwarders work in get_protocol,
    forwarder_class, make_forwarders and a TrackClient run; nothing loads them at import."""
    rows = plugin_path / "rows.jsonl"
    seen = run_python(
        f"""
        import json, sys
        import track
        from track import TrackClient
        from track.forward import forwarder_class, make_forwarders
        from track.persistence import get_protocol, registered_schemes
        imported_at_start = "trackplugin_demo" in sys.modules
        schemes = registered_schemes()
        listed_without_import = "trackplugin_demo" not in sys.modules
        store = get_protocol("myscheme://first")
        forwarders = make_forwarders("myforwarder", {{"myforwarder": {{"path": {str(rows)!r}}}}})
        client = TrackClient("myscheme://second", forward=["myforwarder"],
                             forward_options={{"myforwarder": {{"path": {str(rows)!r}}}}})
        client.set_project(name="p")
        trial = client.new_trial(name="t")
        trial.log_metrics(step=1, loss=0.5)
        trial.log_metrics(step=2, loss=0.25)
        client.close()
        from trackplugin_demo import MyForwarder, MyStore
        print(json.dumps({{
            "imported_at_start": imported_at_start,
            "schemes": [s for s in schemes if s in ("myscheme", "broken", "file")],
            "listed_without_import": listed_without_import,
            "store": type(store).__name__,
            "built": MyStore.built,
            "class": forwarder_class("myforwarder") is MyForwarder,
            "forwarders": [type(f).__name__ for f in forwarders],
        }}))
        """,
        plugin_path,
    )
    assert seen == {
        "imported_at_start": False,
        "schemes": ["broken", "file", "myscheme"],
        "listed_without_import": True,
        "store": "MyStore",
        "built": ["myscheme://first", "myscheme://second"],
        "class": True,
        "forwarders": ["MyForwarder"],
    }
    assert [json.loads(line) for line in rows.read_text().splitlines()] == [
        [1, {"loss": 0.5}],
        [2, {"loss": 0.25}],
    ]


def test_register_wins_over_an_installed_plugin(plugin_path: Path) -> None:
    """A program's register() of a plugin's scheme is the one used (the plugin is not even
    imported); once unregistered, the plugin serves the scheme again."""
    seen = run_python(
        """
        import json, sys
        from track.persistence import STORES, get_protocol, register
        from track.persistence.memory import EphemeralProtocol
        register("myscheme", lambda uri: EphemeralProtocol())
        registered = type(get_protocol("myscheme://x")).__name__
        imported = "trackplugin_demo" in sys.modules
        STORES.unregister("myscheme")
        print(json.dumps([registered, imported, type(get_protocol("myscheme://x")).__name__]))
        """,
        plugin_path,
    )
    assert seen == ["EphemeralProtocol", False, "MyStore"]


def test_a_broken_plugin_fails_naming_itself_and_its_entry_point(plugin_path: Path) -> None:
    """A plugin whose import fails raises ConfigurationError naming the plugin, its entry point
    and distribution and the cause; the built-in names and the other plugins keep working."""
    seen = run_python(
        """
        import json
        from track.errors import ConfigurationError
        from track.forward import forwarder_class
        from track.persistence import get_protocol
        get_protocol("ephemeral:")
        messages = []
        for attempt in (lambda: get_protocol("broken://x"),
                        lambda: forwarder_class("brokenforwarder")):
            try:
                attempt()
            except ConfigurationError as error:
                messages.append([str(error), type(error.__cause__).__name__])
        messages.append(forwarder_class("myforwarder").__name__)
        print(json.dumps(messages))
        """,
        plugin_path,
    )
    cause = "ModuleNotFoundError: No module named 'trackplugin_missing_dependency'"
    assert seen == [
        [
            "the store scheme plugin 'broken' (entry point 'broken = trackplugin_broken:Store' "
            f"in group 'track.stores' of trackplugin-demo 0.1) failed to load: {cause}",
            "ModuleNotFoundError",
        ],
        [
            "the forwarder plugin 'brokenforwarder' (entry point 'brokenforwarder = "
            "trackplugin_broken:Forwarder' in group 'track.forwarders' of trackplugin-demo 0.1) "
            f"failed to load: {cause}",
            "ModuleNotFoundError",
        ],
        "MyForwarder",
    ]
