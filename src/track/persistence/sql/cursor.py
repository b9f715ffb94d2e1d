"""A driver cursor that takes ``?`` statements, whatever the driver's own placeholder."""

from __future__ import annotations

from typing import Any

from track.persistence.sql.dialects import Dialect

__all__ = ["Cursor"]


class Cursor:
    """A driver cursor that takes ``?`` statements and positional parameters."""

    __slots__ = ("dialect", "raw")

    def __init__(self, dialect: Dialect, raw: Any) -> None:
        self.dialect = dialect
        self.raw = raw

    def run(self, sql: str, *params: Any) -> None:
        """Execute one statement."""
        self.raw.execute(self.dialect.prepare(sql), params)

    def one(self, sql: str, *params: Any) -> Any:
        """Execute one statement and return its first row (None if none)."""
        self.raw.execute(self.dialect.prepare(sql), params)
        return self.raw.fetchone()

    def all(self, sql: str, *params: Any) -> list[Any]:
        """Execute one statement and return every row."""
        self.raw.execute(self.dialect.prepare(sql), params)
        rows: list[Any] = self.raw.fetchall()
        return rows

    def column(self, sql: str, *params: Any) -> list[Any]:
        """Execute one statement and return the first column of every row."""
        return [row[0] for row in self.all(sql, *params)]

    def many(self, sql: str, rows: list[Any]) -> None:
        """Execute one statement once per row (nothing for no rows)."""
        if rows:
            self.raw.executemany(self.dialect.prepare(sql), rows)
