"""The layout rules of a SQL store's chunks, checked on a stored trial (test_sql_chunks and
test_chunk_kill share them)."""

from __future__ import annotations

from typing import Any

from track.persistence.sql import SQLProtocol
from track.structure import Trial


def check_chunk_layout(
    store: SQLProtocol, trial: Trial, counts: dict[str, int], chunk_points: int, merge_at: int
) -> None:
    """Each series holds ``counts[name]`` points in contiguous chunks: fewer open ones than
    ``merge_at``, each smaller than ``chunk_points``; sealed ones smaller than twice that, and
    one smaller than ``chunk_points`` only right before a full one; so no more rows than
    ``2 * (count // chunk_points) + merge_at - 1``."""
    rows = store._run(
        lambda cur: cur.all(
            "SELECT s.name, s.count, s.open_seq, s.open_chunks, c.first_seq, c.count"
            " FROM series s JOIN trials t ON t.id = s.trial_id"
            " JOIN chunks c ON c.series_id = s.id WHERE t.uid = ? ORDER BY s.name, c.first_seq",
            trial.uid,
        ),
        write=False,
    )
    layout: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        layout.setdefault(row[0], []).append(row[1:])
    assert set(layout) == set(counts)
    for name, found in layout.items():
        total, open_seq, open_chunks = found[0][:3]
        assert total == counts[name], name
        assert 0 <= open_chunks < merge_at, name
        assert sum(1 for row in found if row[3] >= open_seq) == open_chunks, name
        assert len(found) <= 2 * (total // chunk_points) + merge_at - 1, name
        sizes = [row[4] for row in found]
        assert [row[3] for row in found] == [sum(sizes[:i]) for i in range(len(sizes))], name
        assert sum(sizes) == total, name
        for index, (*_, first_seq, size) in enumerate(found):
            assert size < 2 * chunk_points, name
            if first_seq >= open_seq:
                assert size < chunk_points, name
            elif size < chunk_points:
                assert sizes[index + 1] >= chunk_points, name
