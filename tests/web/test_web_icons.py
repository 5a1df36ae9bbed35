"""The app's PNG icons are the ones ``icon_png.py`` draws, and are valid PNGs of their size."""

from __future__ import annotations

import struct
import zlib

import pytest

from web.icon_png import SIZES, WEB_DIR, icon_png


@pytest.mark.parametrize("size", SIZES)
def test_committed_icon_is_what_the_script_draws(size: int) -> None:
    committed = (WEB_DIR / f"icon-{size}.png").read_bytes()
    assert committed == icon_png(size), "run python tests/web/icon_png.py and commit the icons"


@pytest.mark.parametrize("size", SIZES)
def test_icon_is_a_valid_png_of_its_size(size: int) -> None:
    data = (WEB_DIR / f"icon-{size}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    header = data[16 : 16 + length]
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    assert kind == b"IHDR" and zlib.crc32(kind + header) & 0xFFFFFFFF == crc
    width, height = struct.unpack(">II", header[:8])
    assert (width, height) == (size, size)
