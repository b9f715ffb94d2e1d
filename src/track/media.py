"""Images and tables as the bytes an artifact stores: PNG for an image, JSON for a table.

``TrialLogger.log_image`` / ``log_table`` store these bytes as the artifact
``media/<name>/<step or n>.<png|json>`` and record ``metadata.media.<name>`` =
``[{"step", "artifact", "kind", "caption"}, ...]`` so the dashboard lists a trial's media
without listing all its artifacts. Pillow (``track[wandb]``) is imported only when an image has
to be encoded; a PNG file is stored as it is.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from track.errors import InvalidValue, import_extra
from track.serialization import jsonable

__all__ = ["check_media_name", "image_png", "table_json"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PURPOSE = "logging an image"


def image_png(name: str, image: Any) -> bytes:
    """``image`` (a path, a PIL image or an array HxW / HxWx3 / HxWx4) encoded as PNG bytes.

    A PNG file is kept byte for byte; other files, PIL images and arrays need Pillow. An
    array is uint8, or float in [0, 1] (scaled to 0..255); anything else raises
    :class:`InvalidValue` naming ``name``.
    """
    if isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
        if data.startswith(_PNG_SIGNATURE):
            return data
        pil = import_extra("PIL.Image", "wandb", _PURPOSE)
        try:
            with pil.open(io.BytesIO(data)) as opened:
                return _encode(opened)
        except pil.UnidentifiedImageError:
            raise InvalidValue(f"{name!r}: {image} is not an image") from None
    pil = import_extra("PIL.Image", "wandb", _PURPOSE)
    if isinstance(image, pil.Image):
        return _encode(image)
    if hasattr(image, "__array_interface__") or hasattr(image, "__array__"):
        return _encode(pil.fromarray(_uint8_pixels(name, image)))
    raise InvalidValue(
        f"{name!r}: cannot log a {type(image).__name__} as an image (a path, PIL image or array)"
    )


def _uint8_pixels(name: str, image: Any) -> Any:
    """The array as HxW / HxWx3 / HxWx4 uint8 pixels, or an error naming ``name``."""
    import numpy as np

    pixels = np.asarray(image)
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        raise InvalidValue(f"{name!r}: an image array is HxW, HxWx3 or HxWx4, not {pixels.shape}")
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind == "f":
        if pixels.size and not (
            np.isfinite(pixels).all() and 0 <= pixels.min() <= pixels.max() <= 1
        ):
            raise InvalidValue(f"{name!r}: a float image array has values in [0, 1]")
        return np.rint(pixels * 255).astype(np.uint8)
    raise InvalidValue(f"{name!r}: an image array is uint8 or float in [0, 1], not {pixels.dtype}")


def _encode(image: Any) -> bytes:
    """PNG bytes of a PIL image (modes PNG cannot hold converted to RGB/RGBA)."""
    if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def table_json(name: str, columns: list[str], rows: list[list[Any]]) -> bytes:
    """``{"columns": [...], "rows": [...]}`` as JSON bytes; a bad cell raises naming it.

    Every row has one cell per column; cells are made JSON-native like metadata values
    (numpy scalars included); NaN and infinities become ``null``.
    """
    header = [str(c) for c in columns]
    table_rows = []
    for r, row in enumerate(rows):
        cells = list(row)
        if len(cells) != len(header):
            raise InvalidValue(
                f"{name!r}: row {r} has {len(cells)} cells for {len(header)} columns"
            )
        table_rows.append(
            [_cell(jsonable(f"{name}[{r}][{header[c]!r}]", v)) for c, v in enumerate(cells)]
        )
    doc = {"columns": header, "rows": table_rows}
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()


def _cell(value: Any) -> Any:
    """A JSON-native cell with non-finite floats (at any depth) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    return value


def check_media_name(name: str) -> None:
    """Refuse a media name that is empty, absolute or climbs out of ``media/``."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise InvalidValue(f"{name!r}: a media name is a non-empty relative name")
