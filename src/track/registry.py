"""Names that stand for implementations imported on first use: one helper for every registry.

Stores (by URI scheme), forwarders and tracker backends are each a :class:`Registry`: a table of
name -> object, or ``"module:attribute"`` string naming one, imported when the name is first
used, so ``import track`` imports no driver and no ML library. Installed packages add names
through Python entry points (groups ``track.stores`` and ``track.forwarders``), which are read
only when a name is not in the table or when every name is listed.

:func:`lazy_aliases` does the same for a documented module that re-exports names defined
elsewhere (the seeds' helpers in :mod:`track.compat`, the server's classes): importing the module
imports none of them, so no import cycle runs through the re-export.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, cast

from track.errors import ConfigurationError, UnknownName

__all__ = ["Registry", "lazy_aliases"]

T = TypeVar("T")


class Registry(Generic[T]):
    """One kind of named implementation (``kind``, e.g. "store scheme"), imported on first use.

    ``builtins`` maps each built-in name to its implementation or to a ``"module:attribute"``
    string; ``group`` is the entry-point group installed plugins declare more names in (None:
    no plugins); ``unknown`` is the :class:`~track.errors.UnknownName` subclass raised for a
    name nothing provides. Names are case-insensitive. A name given to :meth:`register` wins
    over a plugin's; a plugin cannot replace a built-in name.
    """

    def __init__(
        self,
        kind: str,
        group: str | None = None,
        builtins: Mapping[str, T | str] | None = None,
        unknown: type[UnknownName] = UnknownName,
    ) -> None:
        self.kind = kind
        self.group = group
        self.unknown = unknown
        self._table: dict[str, T | str] = {n.lower(): v for n, v in (builtins or {}).items()}
        self._plugins: dict[str, EntryPoint] | None = None

    def register(self, name: str, implementation: T | str) -> None:
        """Make ``name`` stand for ``implementation`` (an object or a ``"module:attribute"``)."""
        self._table[name.lower()] = implementation

    def unregister(self, name: str) -> None:
        """Forget what :meth:`register` or the built-ins gave ``name`` (a plugin stays found)."""
        self._table.pop(name.lower(), None)

    def get(self, name: str) -> T:
        """The implementation of ``name``, imported now if it is not yet.

        Raises ``unknown`` (listing the known names) when nothing provides ``name``, and
        :class:`~track.errors.ConfigurationError` naming the plugin when its entry point fails.
        """
        key = name.lower()
        entry = self._table.get(key)
        if entry is None:
            plugin = self._entry_points().get(key)
            if plugin is None:
                known = self.kind.split()[-1]
                raise self.unknown(
                    f"unknown {self.kind} {name!r}; known {known}s: {', '.join(self.names())}"
                )
            entry = self._load_plugin(plugin)
        elif isinstance(entry, str):
            module_name, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attribute)
        self._table[key] = entry
        return cast(T, entry)

    def names(self) -> list[str]:
        """Every name, built-in, registered or declared by an installed plugin, sorted."""
        return sorted({*self._table, *self._entry_points()})

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is known (nothing is imported to tell)."""
        if not isinstance(name, str):
            return False
        return name.lower() in self._table or name.lower() in self._entry_points()

    def _entry_points(self) -> dict[str, EntryPoint]:
        """The installed plugins of ``group`` by name, looked up once."""
        if self._plugins is None:
            found = entry_points(group=self.group) if self.group is not None else ()
            self._plugins = {point.name.lower(): point for point in found}
        return self._plugins

    def _load_plugin(self, point: EntryPoint) -> Any:
        """Import a plugin's object; a failure names the plugin instead of its deep ImportError."""
        try:
            return point.load()
        except Exception as error:
            source = f" of {point.dist.name} {point.dist.version}" if point.dist else ""
            raise ConfigurationError(
                f"the {self.kind} plugin {point.name!r} (entry point "
                f"'{point.name} = {point.value}' in group {point.group!r}{source}) failed to "
                f"load: {type(error).__name__}: {error}"
            ) from error


def lazy_aliases(module_name: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` giving each name of ``table`` (name -> module defining it).

    Used as ``__getattr__ = lazy_aliases(__name__, {"print_stack": "track.compat.debug"})``:
    the first access to a name imports its module and caches the value on ``module_name``; any
    other name raises AttributeError at once, so a probe (``__path__``) imports nothing.
    """

    def alias(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[module_name], name, value)
        return value

    alias.__doc__ = f"Names {module_name} re-exports, imported on first access: {', '.join(table)}."
    return alias
