"""Avatars drawn by the relay itself: a symmetric 5x5 identicon derived from the member id.

Deterministic (same id, same picture on every task), tiny, and no third-party service.
"""

from __future__ import annotations

import hashlib

GRID = 5
CELL = 8
SIZE = GRID * CELL


def render_avatar(member_id: str) -> str:
    digest = hashlib.sha256(member_id.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    fill = f"hsl({hue},62%,48%)"
    background = f"hsl({hue},40%,92%)"
    cells: list[str] = []
    bits = int.from_bytes(digest[2:6], "big")
    half = (GRID + 1) // 2
    for row in range(GRID):
        for col in range(half):
            if bits & 1:
                for x in {col, GRID - 1 - col}:
                    cells.append(
                        f'<rect x="{x * CELL}" y="{row * CELL}" width="{CELL}" height="{CELL}"/>'
                    )
            bits >>= 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
        f'width="{SIZE}" height="{SIZE}" shape-rendering="crispEdges">'
        f'<rect width="{SIZE}" height="{SIZE}" fill="{background}"/>'
        f'<g fill="{fill}">{"".join(cells)}</g></svg>'
    )
