"""Build a minimal ICC v2 RGB matrix/TRC profile in memory, for testing colour management offline."""

from __future__ import annotations

import struct

# sRGB primaries adapted to D50 (the ICC connection space), columns r, g, b
SRGB_D50 = {"r": (0.4361, 0.2225, 0.0139), "g": (0.3851, 0.7169, 0.0971), "b": (0.1431, 0.0606, 0.7141)}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    a = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(a)) + a + b"\0" * 4 + b"\0" * 4 + b"\0" * 2 + b"\0" + b"\0" * 67


def rgb_profile(primaries: dict[str, tuple[float, float, float]], gamma: float = 2.2) -> bytes:
    """An RGB display profile with the given D50 primaries and a pure gamma curve."""
    curve = b"curv\0\0\0\0" + struct.pack(">I", 1) + struct.pack(">H", round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc("styleverse test profile")),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*primaries["r"])),
        (b"gXYZ", _xyz(*primaries["g"])),
        (b"bXYZ", _xyz(*primaries["b"])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"APPL"
        + b"\0" * 4
        + b"\0" * 8
        + b"\0" * 8
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"lcms"
        + b"\0" * 44
    )
    assert len(header) == 128, len(header)
    return header + body


def swapped_red_green() -> bytes:
    """A profile whose 'red' channel holds sRGB green and vice versa: conversion must swap them."""
    return rgb_profile({"r": SRGB_D50["g"], "g": SRGB_D50["r"], "b": SRGB_D50["b"]})
