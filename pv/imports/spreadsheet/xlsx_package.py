"""The xlsx package, read as hostile input: the zip and its declared and inflated sizes,
macro content, content types, relationships, shared strings and date styles.

Every part goes through `_Guarded`, which counts the bytes inflated against the
unpacked-size limit and refuses a DOCTYPE or ENTITY declaration (and any encoding but
UTF-8, so that the check sees the real bytes) before lxml sees the XML; lxml parses with
no DTD loading, no entity resolution, no network and no huge-tree mode.

The memory of an lxml tree grows with its elements (~120 bytes each), not with the bytes
of the file: `<a/>` is four bytes. So the streamed parts (the sheet, the shared strings)
are refused when one unit (a row, a shared string, or what lies between two) holds more
than `MAX_ROW_TAGS` elements, counted on the raw bytes as they are inflated, and may hold
no comment or CDATA section (Excel writes none; either could hide a fake end tag); a part
read whole may hold at most `MAX_PART_TAGS` elements; shared strings are limited in number
and total length.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

from pv.i18n import gettext
from pv.imports.spreadsheet.common import (
    MAX_PART_TAGS,
    MAX_ROW_TAGS,
    MAX_SHARED_CHARS,
    MAX_SHARED_STRINGS,
    UploadRefused,
    _mb,
)
from pv.settings import Settings

_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
_REL_SHEET = "/worksheet"
_REL_SST = "/sharedStrings"
_REL_STYLES = "/styles"
# Excel's built-in date formats; 27-36 and 50-58 are the East Asian locale date formats.
_DATE_FORMAT_IDS = frozenset(
    {k for k, v in BUILTIN_FORMATS.items() if is_date_format(v)} | set(range(27, 37))
    | set(range(50, 59))
)  # fmt: skip
_SAFE_XML = {"resolve_entities": False, "no_network": True, "huge_tree": False,
             "load_dtd": False, "dtd_validation": False}  # fmt: skip
_CHUNK = 1 << 16


class _Budget:
    """Bytes that may still be inflated from the archive."""

    def __init__(self, limit: int):
        self.limit = limit
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UploadRefused(
                gettext("the workbook unpacks to more than %(max)s; refused", max=_mb(self.limit))
            )


class _Guarded:
    """A zip member stream that counts inflated bytes and refuses DTDs before lxml sees them.

    With `unit` (an element name such as b"row"), it also refuses comments and CDATA and
    counts the tags between two end tags of that element (see the module docstring)."""

    def __init__(self, raw: Any, budget: _Budget, name: str, unit: bytes | None = None):
        self.raw, self.budget, self.name = raw, budget, name
        self.tail = b""
        self.read_bytes = 0
        self.unit = unit
        self.unit_end = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?" + unit + rb">") if unit else None
        self.plain_end = b"</" + unit + b">" if unit else b""
        self.tags = 0  # tags since the last end of a unit

    def read(self, n: int = -1) -> bytes:
        chunk = self.raw.read(_CHUNK if n is None or n < 0 or n > _CHUNK else n)
        self.budget.take(len(chunk))
        if not self.read_bytes and chunk:
            self._check_encoding(chunk)
        self.read_bytes += len(chunk)
        if b"<!" in chunk or b"<!" in self.tail + chunk[:16]:
            probe = self.tail + chunk
            if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
                raise UploadRefused(gettext("%(part)s declares a DOCTYPE or ENTITY (XML entity "
                                            "expansion is not allowed); refused",
                                            part=self.name))  # fmt: skip
            if self.unit is not None:
                raise UploadRefused(gettext("%(part)s holds an XML comment or CDATA section, "
                                            "which spreadsheet programs do not write; refused",
                                            part=self.name))  # fmt: skip
        if self.unit_end is not None:
            self._count_tags(chunk)
        self.tail = chunk[-16:]
        return chunk

    def _count_tags(self, chunk: bytes) -> None:
        """Tags per unit: those before the first end of a unit in this chunk close the
        count carried over; units wholly inside one 64 KB chunk are small by size; the
        tags after the last end are carried over.

        Fast path: when the count carried over and the whole chunk's stay within the
        limit, only the tags after the chunk's last unprefixed end tag are counted."""
        n = chunk.count(b"<")
        if self.tags + n <= MAX_ROW_TAGS:
            i = chunk.rfind(self.plain_end)
            if i >= 0:
                self.tags = chunk.count(b"<", i + 1)
                return
        skip = len(self.tail)
        ends = [m.end() - skip for m in self.unit_end.finditer(self.tail + chunk)  # type: ignore[union-attr]
                if m.end() > skip]  # fmt: skip
        if ends:
            self.tags += chunk.count(b"<", 0, ends[0])
            self._check_tags()
            self.tags = chunk.count(b"<", ends[-1])
        else:
            self.tags += chunk.count(b"<")
        self._check_tags()

    def _check_tags(self) -> None:
        if self.tags > MAX_ROW_TAGS:
            what = self.unit.decode() if self.unit else "unit"
            raise UploadRefused(gettext("%(part)s: one %(unit)s (or what lies between two) holds "
                                        "more than %(n)s XML elements; refused", part=self.name,
                                        unit=what, n=f"{MAX_ROW_TAGS:,}"))  # fmt: skip

    def _check_encoding(self, chunk: bytes) -> None:
        """UTF-8 only (as Excel writes), so that the DOCTYPE check sees the real bytes."""
        head = chunk[3:] if chunk.startswith(b"\xef\xbb\xbf") else chunk
        head = head.lstrip(b" \t\r\n")
        ok = head.startswith(b"<")
        if ok and head.startswith(b"<?xml"):
            decl = head[: head.find(b"?>") + 2].lower()
            m = re.search(rb"encoding\s*=\s*[\"']([^\"']*)[\"']", decl)
            ok = m is None or m.group(1) in (b"utf-8", b"utf8")
        if not ok:
            raise UploadRefused(gettext("%(part)s is not UTF-8 XML; refused", part=self.name))


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class _Xlsx:
    def __init__(self, data: bytes, settings: Settings):
        self.settings = settings
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
            raise UploadRefused(
                gettext("not an xlsx file (it is not a valid zip archive)")
            ) from exc
        if len(infos) > 10_000:
            raise UploadRefused(gettext("not an xlsx file (too many parts)"))
        self.names: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            lower = info.filename.lower()
            if (lower.endswith("vbaproject.bin") or "vbadata" in lower
                    or lower.startswith(("xl/macrosheets/", "xl/dialogsheets/"))
                    or (lower.startswith("xl/activex/") and lower.endswith(".bin"))):  # fmt: skip
                raise UploadRefused(gettext("the workbook contains macros (VBA or macro sheets); "
                                            "save it as a plain .xlsx workbook"))  # fmt: skip
            if info.flag_bits & 0x1:
                raise UploadRefused(gettext("the workbook is encrypted; remove the password"))
            self.names[info.filename.lstrip("/")] = info
        declared = sum(i.file_size for i in infos)
        limit = settings.upload_max_unpacked_bytes
        if declared > limit:
            raise UploadRefused(gettext("the workbook unpacks to %(size)s, more than the %(max)s "
                                        "allowed; refused", size=_mb(declared),
                                        max=_mb(limit)))  # fmt: skip
        self.budget = _Budget(limit)

    def open(self, name: str, unit: bytes | None = None) -> _Guarded:
        info = self.names.get(name)
        if info is None:
            raise UploadRefused(gettext("not an xlsx file (%(part)s is missing)", part=name))
        return _Guarded(self.zf.open(info), self.budget, name, unit)

    def root(self, name: str) -> Any:
        stream = self.open(name)
        chunks = []
        tags = 0
        while chunk := stream.read():
            chunks.append(chunk)
            tags += chunk.count(b"<")
            if tags > MAX_PART_TAGS:
                raise UploadRefused(gettext("%(part)s holds more than %(n)s XML elements; refused",
                                            part=name, n=f"{MAX_PART_TAGS:,}"))  # fmt: skip
        try:
            parser = etree.XMLParser(remove_comments=True, remove_pis=True, **_SAFE_XML)
            return etree.fromstring(b"".join(chunks), parser=parser)
        except etree.XMLSyntaxError as exc:
            raise UploadRefused(gettext("not a valid xlsx file (%(part)s: %(error)s)", part=name,
                                        error=exc)) from exc  # fmt: skip

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part name) for a part."""
        folder, _, base = part.rpartition("/")
        name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        if name not in self.names:
            return {}
        out = {}
        for rel in self.root(name):
            if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            if target.startswith("/"):
                path = target.lstrip("/")
            else:
                parts = folder.split("/") if folder else []
                for piece in target.split("/"):
                    if piece == "..":
                        if parts:
                            parts.pop()
                    elif piece and piece != ".":
                        parts.append(piece)
                path = "/".join(parts)
            out[rel.get("Id", "")] = (rel.get("Type", ""), path)
        return out


def _content_types(x: _Xlsx) -> str:
    """Check the declared content types; returns the workbook part name."""
    root = x.root("[Content_Types].xml")
    main = None
    for el in root:
        ctype = (el.get("ContentType") or "").lower()
        if "macroenabled" in ctype or "vbaproject" in ctype or "macrosheet" in ctype:
            raise UploadRefused(gettext("the workbook is macro-enabled (.xlsm); save it as a "
                                        "plain .xlsx workbook"))  # fmt: skip
        if _local(el.tag) == "Override" and ctype in _MAIN_TYPES:
            main = (el.get("PartName") or "").lstrip("/")
    if main is None:
        raise UploadRefused(gettext("not an xlsx file (no workbook part)"))
    return main


def _shared_strings(x: _Xlsx, name: str) -> list[str]:
    """The shared strings, at most `MAX_SHARED_STRINGS` of at most `MAX_SHARED_CHARS` in all
    (the count the <sst> element declares is checked at the first string, then the strings
    are counted as they are read); read items are removed from the tree in batches."""
    out: list[str] = []
    chars = 0
    stream = x.open(name, unit=b"si")
    t_tag = None
    try:
        for _, si in etree.iterparse(stream, events=("end",), tag="{*}si", **_SAFE_XML):
            if t_tag is None:
                tag = si.tag
                t_tag = tag[: tag.index("}") + 1] + "t" if tag.startswith("{") else "t"
                parent = si.getparent()
                if parent is not None:
                    declared = max(_count_attr(parent, "count"), _count_attr(parent, "uniqueCount"))
                    if declared > MAX_SHARED_STRINGS:
                        _too_many_strings(declared)
            first = si[0] if len(si) == 1 else None
            if first is not None and first.tag == t_tag:
                text = first.text or ""
            else:
                text = _string_item(si)
            out.append(text)
            chars += len(text)
            if chars > MAX_SHARED_CHARS:
                raise UploadRefused(gettext("the workbook's shared strings are longer than %(n)s "
                                            "characters in all; refused",
                                            n=f"{MAX_SHARED_CHARS:,}"))  # fmt: skip
            if len(out) % 256 == 0:
                if len(out) > MAX_SHARED_STRINGS:
                    _too_many_strings(None)
                si.clear()
                parent = si.getparent()
                if parent is not None:
                    del parent[: parent.index(si) + 1]
    except etree.XMLSyntaxError as exc:
        raise UploadRefused(gettext("not a valid xlsx file (%(part)s: %(error)s)", part=name,
                                    error=exc)) from exc  # fmt: skip
    if len(out) > MAX_SHARED_STRINGS:
        _too_many_strings(None)
    return out


def _count_attr(el: Any, name: str) -> int:
    value = el.get(name) or ""
    return int(value) if value.isdecimal() and len(value) < 19 else 0


def _too_many_strings(declared: int | None) -> None:
    """Refuse the shared strings: the count the workbook declares, or (None) more than the
    limit found while reading."""
    limit = f"{MAX_SHARED_STRINGS:,}"
    if declared is not None:
        raise UploadRefused(gettext("the workbook declares %(n)s distinct texts (shared strings); "
                                    "at most %(max)s may be uploaded at once",
                                    n=f"{declared:,}", max=limit))  # fmt: skip
    raise UploadRefused(gettext("the workbook holds more than %(max)s distinct texts (shared "
                                "strings); at most %(max)s may be uploaded at once",
                                max=limit))  # fmt: skip


def _string_item(el: Any) -> str:
    """Text of a shared-string item or inline string: <t>, or the <t> of rich-text runs."""
    text = []
    for child in el:
        local = _local(child.tag)
        if local == "t":
            text.append(child.text or "")
        elif local == "r":
            for t in child:
                if _local(t.tag) == "t":
                    text.append(t.text or "")
    return "".join(text)


def _date_styles(x: _Xlsx, name: str | None) -> frozenset[int]:
    if name is None or name not in x.names:
        return frozenset()
    root = x.root(name)
    custom: dict[int, str] = {}
    dates: set[int] = set()
    for el in root:
        local = _local(el.tag)
        if local == "numFmts":
            for fmt in el:
                try:
                    custom[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
                except ValueError:
                    continue
        elif local == "cellXfs":
            for i, xf in enumerate(el):
                try:
                    fmt_id = int(xf.get("numFmtId", "0"))
                except ValueError:
                    continue
                code = custom.get(fmt_id)
                if (code is not None and is_date_format(code)) or (
                        code is None and fmt_id in _DATE_FORMAT_IDS):  # fmt: skip
                    dates.add(i)
    return frozenset(dates)
