"""No import cycle between track's parts, and every import goes down the layers.

A *part* is a top-level module or subpackage of ``track`` (``track.client``, ``track.persistence``,
``track.cli``, ...; ``track`` itself is the package's ``__init__``). Every import statement counts:
at module level, inside functions and under ``if TYPE_CHECKING:``, since each one ties a part to
another. A lazy reference by string (a ``"module:attribute"`` entry of a ``track.registry``
table, a seed alias resolved by a module ``__getattr__``) is not an import: it is how a lower part
names a plugin or an alias above it without depending on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "track"

#: The layers, bottom first: (parts, what they hold). A part imports parts of its own layer or
#: of lower ones, never of a higher one; the cycle test keeps parts of one layer from importing
#: each other both ways. docs/architecture.md shows the same table.
LAYERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("errors", "configuration", "versioning", "chrono", "retry"),
        "foundations: import no other part",
    ),
    (("registry",), "scheme or name -> implementation imported by string on first use"),
    (
        ("structure", "containers", "utils", "distributed"),
        "the data model (Project, TrialGroup, Trial, Status) and small helpers",
    ),
    (
        ("serialization", "liveness", "query", "aggregators", "media"),
        "the model as documents, liveness of trials, the query language, aggregators, images "
        "and tables as bytes",
    ),
    (("persistence",), "the Protocol (the store interface) and the stores"),
    (("pipeline",), "the write pipeline: batches, retries, spill files"),
    (
        ("forward", "server", "system", "reading", "writer", "frames", "importing"),
        "built on stores: forwarders, the track server, system metrics, reading for people, "
        "the writer process, runs as DataFrames, importing from other trackers",
    ),
    (("logger",), "TrialLogger: one trial's log calls into the pipeline"),
    (("client",), "TrackClient: the public entry point"),
    (("backends", "tracker"), "the ezpz tracker front end and its backends"),
    (("integrations",), "adapters for training frameworks (Lightning, Transformers, ...)"),
    (("dashboard",), "the web dashboard (reads through track.reading)"),
    (("cli",), "the track command"),
    (("track",), "the package: re-exports the public API"),
    (("compat",), "Track 0.0.1 compatibility: may import anything; only strings name it"),
)

LAYER = {part: level for level, (parts, _) in enumerate(LAYERS) for part in parts}


@dataclass(frozen=True)
class Import:
    """One import statement of one module that names a module of track."""

    importer: str
    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.importer} -> {self.target}  ({self.where})"


def module_name(path: Path, root: Path) -> str:
    """``track.persistence.local`` for ``<root>/persistence/local.py``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The part a module belongs to: ``persistence`` for ``track.persistence.local``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else names[0]


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, root: Path) -> list[str]:
    """The track modules an import statement of ``module`` imports (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if not (root.parent / Path(*package) / "__init__.py").exists():
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    if base != root.name:
        return [base]
    # ``from track import x``: a part when x is a submodule, else the package itself
    return [
        f"{base}.{alias.name}"
        if (root / alias.name).is_dir() or (root / f"{alias.name}.py").exists()
        else base
        for alias in node.names
    ]


def imports(root: Path) -> Iterator[Import]:
    """Every import of a track module, anywhere in every module under ``root``."""
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source, str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            where = f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}"
            for target in imported_modules(node, module, root):
                if target == root.name or target.startswith(f"{root.name}."):
                    yield Import(module, target, where)


def part_graph(root: Path) -> dict[str, dict[str, list[Import]]]:
    """part -> imported part -> the imports that make the edge (imports within a part left out)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for found in imports(root):
        source, target = part_of(found.importer), part_of(found.target)
        if source != target:
            graph.setdefault(source, {}).setdefault(target, []).append(found)
    return graph


def parts(root: Path) -> set[str]:
    """The parts under ``root``: its modules and subpackages, and the package itself."""
    names = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    return names | {root.name}


def shortest_cycle(graph: dict[str, dict[str, list[Import]]], start: str) -> list[str] | None:
    """The shortest ``[start, ..., start]`` path along the graph's edges, None if there is none."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, {})):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return None


def cycles(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """The shortest cycle (``[a, b, ..., a]``) through each part that is on one, each once."""
    found: list[list[str]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for start in sorted(graph):
        cycle = shortest_cycle(graph, start)
        if cycle is not None and frozenset(pairwise(cycle)) not in seen:
            found.append(cycle)
            seen.add(frozenset(pairwise(cycle)))
    return found


def explain(edges: list[tuple[str, str]], graph: dict[str, dict[str, list[Import]]]) -> str:
    """The import statements behind each edge (a few per edge), one per line."""
    lines = []
    for source, target in edges:
        made = sorted({found.where for found in graph[source][target]})
        lines.append(f"  {source} -> {target}:")
        lines += [f"    {where}" for where in made[:4]]
        if len(made) > 4:
            lines.append(f"    ... and {len(made) - 4} more")
    return "\n".join(lines)


def cycle_report(root: Path) -> str:
    """Each cycle between parts with the import statements that make it; "" if there is none."""
    graph = part_graph(root)
    reports = []
    for cycle in cycles(graph):
        edges = list(pairwise(cycle))
        reports.append(f"import cycle {' -> '.join(cycle)}:\n{explain(edges, graph)}")
    return "\n".join(reports)


def upward_report(root: Path) -> str:
    """Each import of a part from a higher layer (see LAYERS), with its statements; "" if none."""
    graph = part_graph(root)
    upward = sorted(
        (source, target)
        for source, targets in graph.items()
        for target in targets
        if LAYER.get(target, -1) > LAYER.get(source, len(LAYERS))
    )
    return explain(upward, graph)


def test_every_part_has_a_layer() -> None:
    """The layer table names every part of track, and only parts that exist."""
    assert parts(SRC) - set(LAYER) == set(), "add these parts to LAYERS (and docs/architecture.md)"
    assert set(LAYER) - parts(SRC) == set(), "these parts of LAYERS no longer exist"


def test_no_import_cycle_between_parts() -> None:
    """No part imports, even inside a function or for type checking, a part that imports it."""
    report = cycle_report(SRC)
    assert report == "", f"\n{report}"


def test_imports_go_down_the_layers() -> None:
    """A part imports only parts of its own or a lower layer (a higher one only by string)."""
    report = upward_report(SRC)
    assert report == "", f"imports from a higher layer:\n{report}"


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Imports inside functions, under TYPE_CHECKING and relative ones count; strings do not."""
    root = tmp_path / "track"
    (root / "low").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "low" / "__init__.py").write_text("from .base import thing\n")
    (root / "low" / "base.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from track.high import High\n"
        "def use():\n    from .. import mid\n"
        "LAZY = 'track.top:Top'\n"
    )
    (root / "high.py").write_text("from track.low import thing\n")
    (root / "mid.py").write_text("from track import low\n")
    (root / "top.py").write_text("")
    graph = part_graph(root)
    assert {s: sorted(t) for s, t in graph.items()} == {
        "low": ["high", "mid"],
        "high": ["low"],
        "mid": ["low"],
    }
    assert cycles(graph) == [["high", "low", "high"], ["mid", "low", "mid"]]
    report = cycle_report(root)
    assert "track/low/base.py:3: from track.high import High" in report
    assert "track/low/base.py:5: from .. import mid" in report
