"""Placeholder photos for the demo's ads: a small PNG per image path (a colour and a band
derived from the path), so the web UI has real image bytes to show, blur and reveal."""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=512)
def placeholder_png(path: str, width: int = 120, height: int = 160) -> bytes:
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    back, band = digest[0:3], digest[3:6]
    top, bottom = height // 3, 2 * height // 3
    rows = b"".join(b"\x00" + (band if top <= y < bottom else back) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
