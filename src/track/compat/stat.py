"""The seeds' ``StatStreamStruct``: a :class:`~track.utils.stat.StatStream` as a C structure.

Its fields are the stream's state (``StatStream.state_dict``), so it can live in shared memory
(``multiprocessing.Value(StatStreamStruct)``) and several processes can feed one set of
statistics: :meth:`StatStreamStruct.update` runs the stream's own update on it.
"""

from __future__ import annotations

import ctypes
import math

from track.utils.stat import StatStream

__all__ = ["StatStreamStruct"]


class StatStreamStruct(ctypes.Structure):
    """The state of a :class:`~track.utils.stat.StatStream`, field for field.

    ``current_obs`` is NaN until an observation was seen (the stream's None).
    """

    _fields_ = [
        ("drop_obs", ctypes.c_int64),
        ("current_count", ctypes.c_double),
        ("first_obs", ctypes.c_double),
        ("current_obs", ctypes.c_double),
        ("sum", ctypes.c_double),
        ("sum_sqr", ctypes.c_double),
        ("min", ctypes.c_double),
        ("max", ctypes.c_double),
    ]

    @classmethod
    def from_stream(cls, stream: StatStream) -> StatStreamStruct:
        """A structure holding ``stream``'s state."""
        struct = cls()
        struct.store(stream)
        return struct

    def store(self, stream: StatStream) -> None:
        """Overwrite the fields with ``stream``'s state."""
        state = stream.state_dict()
        for name, *_ in self._fields_:
            value = state[name]
            setattr(self, name, math.nan if value is None else value)

    def to_stream(self) -> StatStream:
        """A :class:`~track.utils.stat.StatStream` with this state."""
        state = {name: getattr(self, name) for name, *_ in self._fields_}
        if math.isnan(state["current_obs"]):
            state["current_obs"] = None
        return StatStream.from_dict(state)

    def update(self, val: float, weight: float = 1) -> None:
        """Record an observation, as ``StatStream.update`` does (lock shared memory around it)."""
        stream = self.to_stream()
        stream.update(val, weight)
        self.store(stream)
