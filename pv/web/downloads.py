"""Download headers: a file name in any language, in a header that only carries Latin-1."""

from __future__ import annotations

from urllib.parse import quote


def attachment(filename: str) -> dict[str, str]:
    """Content-Disposition for a download named `filename` (RFC 6266): an ASCII fallback
    (`filename=`, other characters as "_") and the exact UTF-8 name (`filename*=`, RFC 8187)
    that every current browser prefers, so "不良事件.csv" downloads under its own name."""
    fallback = (
        "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename).strip(
            "_."
        )
        or "download"
    )
    return {
        "Content-Disposition": f'attachment; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}"
    }
