"""Metric points in SQL stores: chunks of packed columns, one row per (series, chunk).

A flush appends one chunk per series it touches (:func:`append_points`), in the batch's own
transaction, so exactly-once by (writer, seq) holds for points as for everything else. Small
flushes leave small chunks at a series' tail, its *open* chunks (``series.open_seq`` is the
first point not yet in a sealed chunk, ``series.open_chunks`` how many chunks hold the rest).
A flush of :data:`~track.persistence.chunks.CHUNK_POINTS` points or more is written as full
chunks (see :func:`~track.persistence.chunks.encode_chunks`), which seal what came before;
when a small flush would make :data:`MERGE_AT` open chunks, or a big one finds more than one,
the open chunks are read back, joined with the new points and written again, still in the
same transaction: a process killed while merging leaves the series as it was before the flush.
A lone open chunk is sealed as it is rather than packed again, so a series has at most one
chunk of fewer than ``CHUNK_POINTS`` points before each full chunk.

Reads join a series' chunks with array operations (:func:`read_series`); a step range reads only
the chunks whose step bounds overlap it. :func:`chunk_previews` reads the summaries kept beside
each blob (value min, max and last, and where), which is enough to draw a long series without
unpacking it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from track.persistence.chunks import (
    CHUNK_POINTS,
    ChunkPreview,
    SeriesColumns,
    decode_chunks,
    encode_chunks,
)
from track.persistence.sql.cursor import Cursor
from track.persistence.sql.dialects import Dialect
from track.utils.memory import gc_paused

__all__ = [
    "MERGE_AT",
    "append_points",
    "chunk_previews",
    "points_to_chunks",
    "read_series",
]

#: open chunks at which a series' tail is merged into full chunks
MERGE_AT = 8

_INSERT_CHUNK = (
    "INSERT INTO chunks (series_id, first_seq, count, low_step, high_step, first_time,"
    " last_time, min_value, max_value, min_at, max_at, last_value, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _chunk_rows(
    series_id: int, first_seq: int, steps: Sequence[Any], values: Sequence[Any], times: Any
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Rows of ``_INSERT_CHUNK`` for points from ``first_seq`` on, cut at full chunks, and each
    chunk's summary."""
    rows, summaries = [], []
    for offset, blob, summary in encode_chunks(steps, values, times):
        rows.append(
            (
                series_id,
                first_seq + offset,
                summary.count,
                summary.low_step,
                summary.high_step,
                summary.first_time,
                summary.last_time,
                summary.min_value,
                summary.max_value,
                summary.min_at,
                summary.max_at,
                summary.last_value,
                blob,
            )
        )
        summaries.append(summary)
    return rows, summaries


def append_points(
    dialect: Dialect, cur: Cursor, trial_id: int, by_name: Mapping[str, Sequence[Any]]
) -> None:
    """Append each series' new ``(step, value, time)`` points, creating series as needed."""
    with gc_paused():
        _append(dialect, cur, trial_id, by_name)


def _append(
    dialect: Dialect, cur: Cursor, trial_id: int, by_name: Mapping[str, Sequence[Any]]
) -> None:
    known = {
        row[1]: (row[0], *row[2:])
        for row in cur.all(
            "SELECT id, name, count, open_seq, open_chunks FROM series WHERE trial_id = ?",
            trial_id,
        )
    }
    chunks: list[tuple[Any, ...]] = []
    updates = []
    for name, points in by_name.items():
        if name in known:
            sid, count, open_seq, open_chunks = known[name]
        else:
            sid = cur.one(
                "INSERT INTO series (trial_id, name, count, open_seq, open_chunks)"
                " VALUES (?, ?, 0, 0, 0) RETURNING id",
                trial_id,
                name,
            )[0]
            count = open_seq = open_chunks = 0
        steps = [point[0] for point in points]  # faster than zip(*points) for thousands
        values = [point[1] for point in points]
        times = [point[2] for point in points]
        small = len(points) < CHUNK_POINTS
        # a small flush adds an open chunk until there would be MERGE_AT of them; a big one
        # seals a lone open chunk as it is (packing its points again would save one row)
        merge = open_chunks + 1 >= MERGE_AT if small else open_chunks > 1
        first = count
        if merge:
            tail = _open_tail(dialect, cur, sid, open_seq)
            steps = [*tail.steps, *steps]
            values = [*tail.values, *values]
            times = [*tail.times, *times]
            first = open_seq
        rows, summaries = _chunk_rows(sid, first, steps, values, times)
        if len(values) >= CHUNK_POINTS:  # only full chunks were written: nothing stays open
            open_seq, open_chunks = count + len(points), 0
        else:
            open_chunks = 1 if merge else open_chunks + 1
        chunks.extend(rows)
        lows = [s.min_value for s in summaries if s.min_value is not None]
        highs = [s.max_value for s in summaries if s.max_value is not None]
        low, high = min(lows, default=None), max(highs, default=None)
        step, value, when = points[-1]
        updates.append(
            (
                count + len(points),
                *dialect.step_params(step),
                value,
                when,
                low,
                low,
                high,
                high,
                open_seq,
                open_chunks,
                sid,
            )
        )
    cur.many(_INSERT_CHUNK, chunks)
    last = ", ".join(f"last_{c} = ?" for c in dialect.step_columns)
    cur.many(
        f"UPDATE series SET count = ?, {last}, last_value = ?, last_time = ?,"
        " min_value = CASE WHEN min_value IS NULL OR ? < min_value THEN ? ELSE min_value END,"
        " max_value = CASE WHEN max_value IS NULL OR ? > max_value THEN ? ELSE max_value END,"
        " open_seq = ?, open_chunks = ? WHERE id = ?",
        updates,
    )


def _open_tail(dialect: Dialect, cur: Cursor, series_id: int, open_seq: int) -> SeriesColumns:
    """The points of a series' open chunks, which are deleted (they are about to be rewritten)."""
    blobs = _blobs(
        dialect,
        cur,
        "SELECT data FROM chunks WHERE series_id = ? AND first_seq >= ? ORDER BY first_seq",
        series_id,
        open_seq,
    )
    cur.run("DELETE FROM chunks WHERE series_id = ? AND first_seq >= ?", series_id, open_seq)
    return decode_chunks(blobs)


def _blobs(dialect: Dialect, cur: Cursor, sql: str, *params: Any) -> list[bytes]:
    return [row[0] for row in dialect.fetch_binary(cur.raw, dialect.prepare(sql), params)]


def read_series(
    dialect: Dialect, cur: Cursor, series_id: int, low: Any = None, high: Any = None
) -> SeriesColumns:
    """A series' points as columns, in logging order; with ``low``/``high``, only those whose
    numeric step is within them (reading only the chunks that may hold such steps)."""
    sql = "SELECT data FROM chunks WHERE series_id = ?"
    params: list[Any] = [series_id]
    if low is not None or high is not None:
        sql += " AND low_step IS NOT NULL"
    if low is not None:
        sql += " AND high_step >= ?"
        params.append(low)
    if high is not None:
        sql += " AND low_step <= ?"
        params.append(high)
    with gc_paused():
        columns = decode_chunks(_blobs(dialect, cur, sql + " ORDER BY first_seq", *params))
    if low is None and high is None:
        return columns
    return columns.between(low, high)


def chunk_previews(
    cur: Cursor, trial_id: int, names: list[str] | None
) -> dict[str, list[ChunkPreview]]:
    """Each chunk's :data:`ChunkPreview` summary by series name, in order, reading no blob."""
    sql = (
        "SELECT s.name, c.first_seq, c.count, c.low_step, c.high_step, c.first_time,"
        " c.last_time, c.min_value, c.max_value, c.min_at, c.max_at, c.last_value"
        " FROM chunks c JOIN series s ON s.id = c.series_id WHERE s.trial_id = ?"
    )
    params: list[Any] = [trial_id]
    if names is not None:
        sql += f" AND s.name IN ({', '.join('?' for _ in names)})"
        params += names
    previews: dict[str, list[ChunkPreview]] = {}
    for row in cur.all(sql + " ORDER BY s.id, c.first_seq", *params):
        previews.setdefault(row[0], []).append(tuple(row[1:]))
    return previews


def points_to_chunks(dialect: Dialect, cur: Any) -> None:
    """Schema migration 6: move every series from the row-per-point table into chunks.

    Runs inside the migration's transaction, one series at a time, reading its points in
    pages of a chunk; every full chunk is sealed and a remainder left open.
    """
    steps = ", ".join(dialect.step_columns)
    writer = Cursor(dialect, cur)
    for (series_id,) in writer.all("SELECT id FROM series ORDER BY id"):
        reader = dialect.reader(cur.connection)
        reader.execute(
            dialect.prepare(
                f"SELECT {steps}, value, time FROM points WHERE series_id = ? ORDER BY seq"
            ),
            (series_id,),
        )
        written = full = 0
        while rows := reader.fetchmany(CHUNK_POINTS):
            points = dialect.decode_points(rows)
            chunk, _ = _chunk_rows(
                series_id,
                written,
                [p[0] for p in points],
                [p[1] for p in points],
                [p[2] for p in points],
            )
            writer.many(_INSERT_CHUNK, chunk)
            written += len(points)
            full += len(points) // CHUNK_POINTS
        reader.close()
        writer.run(
            "UPDATE series SET count = ?, open_seq = ?, open_chunks = ? WHERE id = ?",
            written,
            full * CHUNK_POINTS,
            int(written > full * CHUNK_POINTS),
            series_id,
        )
