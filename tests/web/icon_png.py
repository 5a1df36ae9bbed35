"""Draws the web app's PNG icons (the same design as ``icon-maskable.svg``) with a tiny PNG
encoder, so no image library is needed.

Run ``python tests/web/icon_png.py`` to rewrite ``src/errand/web/icon-{192,512}.png``;
``test_icons.py`` checks that the committed files are what this script draws.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "src" / "errand" / "web"
SIZES = (192, 512)

_BACKGROUND = (0x1F, 0x6F, 0x5C)
_FOREGROUND = (0xFF, 0xFF, 0xFF)
# The design on a 512-unit square: a ring and a dot, inside the maskable safe zone.
_RING_RADIUS = 150.0
_RING_HALF_WIDTH = 22.0
_DOT_RADIUS = 52.0
_SAMPLES = 3  # per axis, for smooth edges


def _covered(x: float, y: float) -> bool:
    distance = math.hypot(x - 256.0, y - 256.0)
    return distance <= _DOT_RADIUS or abs(distance - _RING_RADIUS) <= _RING_HALF_WIDTH


def draw_icon(size: int) -> bytes:
    """The icon as RGB rows, ``size`` × ``size``, each row prefixed by PNG filter byte 0."""
    scale = 512.0 / size
    rows = bytearray()
    for py in range(size):
        rows.append(0)
        for px in range(size):
            hits = 0
            for sy in range(_SAMPLES):
                for sx in range(_SAMPLES):
                    x = (px + (sx + 0.5) / _SAMPLES) * scale
                    y = (py + (sy + 0.5) / _SAMPLES) * scale
                    hits += _covered(x, y)
            share = hits / (_SAMPLES * _SAMPLES)
            for back, fore in zip(_BACKGROUND, _FOREGROUND, strict=True):
                rows.append(round(back + (fore - back) * share))
    return bytes(rows)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(size: int, rows: bytes) -> bytes:
    """A PNG file of 8-bit RGB ``rows`` (already filtered) of a ``size``-pixel square."""
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def icon_png(size: int) -> bytes:
    return encode_png(size, draw_icon(size))


def main() -> int:
    for size in SIZES:
        (WEB_DIR / f"icon-{size}.png").write_bytes(icon_png(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
