"""Every ``track.…`` name the Track 0.0.1 API reference documents resolves, listed from the seeds.

The list is generated at test time from the reference itself (``../shared/seeds/000_*.txt``, its
PDF text with the index, and ``001_*.txt``, its HTML text), never typed by hand:

* every dotted ``track.…`` path in the text (``track.persistence.local.ConcurrentWrite``);
* the HTML's ``track.module.`` + next-line ``Name`` pairs (``track.distributed.cockroachdb.``
  ``CockRoachDB``);
* the index's ``name (class in track.x)``, ``name() (in module track.x)`` and ``track.x (module)``
  entries, and its members: ``name() (track.x.Class method)``, ``name (track.x.Class attribute)``.

The PDF index was read by OCR; :data:`ERRATA` lists the entries it garbled, each checked below
to be absent from the rest of the text while its correction is present, so it cannot hide a name.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from optional import unavailable

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SEEDS = ROOT.parent / "shared" / "seeds"

#: garbled index entry -> what the reference's body documents instead (None: no such name)
ERRATA: dict[str, str | None] = {
    # "LocalFileRemover (class in track.persistence.local)": the body's LockFileRemover
    "track.persistence.local.LocalFileRemover": "track.persistence.local.LockFileRemover",
    # "log_trial_arguments() (track.persistence.protocol.ProtocolMultiplexer method), 23":
    # page 23 is Protocol's, which documents log_trial_arguments
    "track.persistence.protocol.ProtocolMultiplexer.log_trial_arguments": (
        "track.persistence.protocol.Protocol.log_trial_arguments"
    ),
    # "MultiplexStart (track.persistence.protocol.Protocol method), 24": no such method anywhere
    "track.persistence.protocol.Protocol.MultiplexStart": None,
}

#: documented members track does not provide, and why (docs/compatibility.md says so too)
NOT_PROVIDED = {
    f"track.persistence.socketed.SocketServer.{name}": (
        "the seed server's asyncio internals; track's server is its own implementation "
        "(override SocketServer.authenticate, as documented, to customize logins)"
    )
    for name in (
        "close_connection",
        "commit",
        "exec",
        "get_username",
        "handle_client",
        "is_authenticated",
        "process_args",
        "wait_closed",
    )
}


def _plain(text: str) -> str:
    """The reference's text without its markup (bold, code, escapes, links, HTML tags)."""
    text = re.sub(r"\\+([_*()\[\]])", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\(#\)", r"\1", text)
    text = re.sub(r"</?[a-z]+>", "", text)
    return text.replace("*", "").replace("`", "")


def _index_start(text: str) -> int:
    """Where the PDF's module index and general index begin (its ``### t`` heading)."""
    found = re.search(r"^### t$", text, flags=re.MULTILINE)
    return len(text) if found is None else found.start()


PATH = r"track(?:\.[A-Za-z_]\w*)*"


@cache
def documented() -> tuple[set[str], set[str]]:
    """(module-level names, class members) the reference documents, errata applied."""
    names: set[str] = set()
    members: set[str] = set()
    for seed in sorted(SEEDS.glob("00[01]_*.txt")):
        text = _plain(seed.read_text(encoding="utf-8"))
        cut = _index_start(text)
        body, index = text[:cut], re.sub(r"\s*\n\s*", " ", text[cut:])
        names.update(re.findall(rf"\b{PATH}\.[A-Za-z_]\w*", body))
        for module, name in re.findall(rf"\b({PATH})\.\s*\n\s*([A-Za-z_]\w*)\s*\n", body):
            names.add(f"{module}.{name}")
        names.update(re.findall(rf"\b({PATH}) \(module\)", index))
        for name, module in re.findall(
            rf"\b(\w+)(?:\(\))? \((?:class |exception )?in (?:module )?({PATH})\)", index
        ):
            names.add(f"{module}.{name}")
        for name, owner in re.findall(
            rf"\b(\w+)(?:\(\))? \(({PATH}) (?:static )?(?:method|attribute)\)", index
        ):
            members.add(f"{owner}.{name}")
    private = re.compile(r"\._")
    names = {n for n in names if not private.search(n)}
    for wrong, right in ERRATA.items():
        for found in (names, members):
            if wrong in found:
                found.discard(wrong)
                if right is not None:
                    found.add(right)
    return names, members


def resolve(path: str) -> Any:
    """The object a dotted path names: its longest importable module, then attributes."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError as error:
            if error.name is not None and not path.startswith(error.name):
                raise  # a dependency of the module is missing, not the module itself
            continue
        for part in parts[end:]:
            value = getattr(value, part)
        return value
    raise ModuleNotFoundError(path)


SEEDS_PRESENT = SEEDS.is_dir() and any(SEEDS.glob("000_*.txt"))
NAMES, MEMBERS = documented() if SEEDS_PRESENT else (set(), set())


def need_seeds() -> None:
    """Give up unless the seeds are beside the repository (a failure under CI=true)."""
    if not SEEDS_PRESENT:
        unavailable(f"the seeds are not at {SEEDS}")


def test_the_seeds_are_here() -> None:
    """The reference is beside the repository (CI must have it: it fails there, else skips)."""
    need_seeds()


def test_the_generated_list_covers_the_reference() -> None:
    """The parser finds every kind of entry: body paths, HTML pairs, index-only modules, members."""
    need_seeds()
    assert len(NAMES) > 129 and len(MEMBERS) > 200
    assert "track.persistence.local.ConcurrentWrite" in NAMES  # a body path only
    assert "track.distributed.cockroachdb.CockRoachDB" in NAMES  # an HTML pair only
    assert "track.containers.types" in NAMES  # an index module only
    assert "track.persistence.storage.LocalStorage.smart_reload" in MEMBERS


def test_each_erratum_is_garbled_text_and_its_correction_is_documented() -> None:
    """An erratum's name is found only in the OCR'd index; its correction is in the body."""
    need_seeds()
    text = "".join(_plain(s.read_text(encoding="utf-8")) for s in sorted(SEEDS.glob("00[01]_*")))
    for wrong, right in ERRATA.items():
        owner, _, name = wrong.rpartition(".")
        assert re.search(rf"\b{re.escape(name)}\b", text), wrong
        body = text[: _index_start(text)]
        assert not re.search(rf"{re.escape(owner)}\.{re.escape(name)}\b", body), wrong
        if right is not None:
            assert right in NAMES | MEMBERS, right


@pytest.mark.parametrize("name", sorted(NAMES))
def test_documented_name_imports(name: str) -> None:
    """The documented module or module-level name imports from its documented path."""
    resolve(name)


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_documented_member_exists(member: str) -> None:
    """The documented method or attribute exists on its documented class."""
    if member in NOT_PROVIDED:
        assert not hasattr(resolve(member.rpartition(".")[0]), member.rpartition(".")[2])
        return
    resolve(member)
