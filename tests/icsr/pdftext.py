"""The text of a PDF page as a reader sees it: each string shown, decoded through its
font's ToUnicode map (pypdf's own extract_text() cannot decode the CIDFont encoding fpdf2
writes for a subset CFF font; the PDF itself is fine: PDFium reads it)."""

from __future__ import annotations

import io
import re
from typing import Any

import pypdf


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _to_unicode(font: pypdf.generic.DictionaryObject) -> dict[int, str]:
    """A ToUnicode CMap's code -> text (bfchar and bfrange entries)."""
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")  # type: ignore[union-attr]
    codes: dict[int, str] = {}

    def text(hexa: str) -> str:
        return bytes.fromhex(hexa).decode("utf-16-be")

    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, target in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            codes[int(code, 16)] = text(target)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for lo, hi, target in re.findall(
            r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            first = ord(text(target))
            for offset, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                codes[code] = chr(first + offset)
    return codes


def _page_text(reader: pypdf.PdfReader, page: pypdf.PageObject) -> str:
    resources: Any = page["/Resources"]
    fonts = {name: _to_unicode(ref.get_object()) for name, ref in resources["/Font"].items()}
    content = pypdf.generic.ContentStream(page.get_contents(), reader)
    current: dict[int, str] = {}
    out: list[str] = []

    def show(value: Any) -> None:
        raw = value.original_bytes if hasattr(value, "original_bytes") else bytes(value)
        out.append(
            "".join(
                current.get(int.from_bytes(raw[i : i + 2], "big"), "\ufffd")
                for i in range(0, len(raw), 2)
            )
        )

    for operands, operator in content.operations:
        if operator == b"Tf":
            current = fonts[operands[0]]
        elif operator == b"Tj":
            show(operands[0])
        elif operator == b"TJ":
            for item in operands[0]:
                if not isinstance(item, int | float):
                    show(item)
        elif operator == b"ET":
            out.append("\n")
    return "".join(out)


def page_texts(data: bytes) -> list[str]:
    """Each page's text, white space removed."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [norm(_page_text(reader, p)) for p in reader.pages]


MIN_BOX = 9.0  # points: smaller rectangles are check boxes, not fields


def _page_boxes(reader: pypdf.PdfReader, page: pypdf.PageObject) -> list[tuple[tuple, str]]:
    resources: Any = page["/Resources"]
    fonts = {name: _to_unicode(ref.get_object()) for name, ref in resources["/Font"].items()}
    content = pypdf.generic.ContentStream(page.get_contents(), reader)
    current: dict[int, str] = {}
    rects: list[tuple[float, float, float, float]] = []
    strings: list[tuple[float, float, str]] = []
    at = (0.0, 0.0)

    def decode(value: Any) -> str:
        raw = value.original_bytes if hasattr(value, "original_bytes") else bytes(value)
        return "".join(
            current.get(int.from_bytes(raw[i : i + 2], "big"), "\ufffd")
            for i in range(0, len(raw), 2)
        )

    for operands, operator in content.operations:
        if operator == b"re":
            x, y, w, h = (float(v) for v in operands)
            if abs(w) >= MIN_BOX and abs(h) >= MIN_BOX:
                rects.append((min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h)))
        elif operator == b"Tf":
            current = fonts[operands[0]]
        elif operator == b"Td":
            at = (float(operands[0]), float(operands[1]))
        elif operator == b"Tj":
            strings.append((*at, decode(operands[0])))
        elif operator == b"TJ":
            text = "".join(decode(i) for i in operands[0] if not isinstance(i, int | float))
            strings.append((*at, text))
    texts: dict[int, list[str]] = {i: [] for i in range(len(rects))}
    for x, y, text in strings:
        inside = [
            (r[2] - r[0]) * (r[3] - r[1]) for r in rects if r[0] <= x <= r[2] and r[1] <= y <= r[3]
        ]
        if not inside:
            continue
        smallest = min(inside)
        for i, r in enumerate(rects):
            if (
                r[0] <= x <= r[2]
                and r[1] <= y <= r[3]
                and (r[2] - r[0]) * (r[3] - r[1]) == smallest
            ):
                texts[i].append(text)
                break
    return [(rect, norm("".join(texts[i]))) for i, rect in enumerate(rects)]


def page_boxes(data: bytes) -> list[list[str]]:
    """Each page's framed boxes (the form's fields), each as the text printed inside it in
    drawing order, white space removed. A string belongs to the smallest frame holding its
    starting point; frames smaller than MIN_BOX points (the check boxes) are not fields, so
    a checked box's "X" reads in its field just before the label it checks."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [[text for _, text in _page_boxes(reader, p)] for p in reader.pages]
