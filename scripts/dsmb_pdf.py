"""The DSMB workbooks as printed pages: build the demo trial in a temporary SQLite
database (as the tests do), write the open and the closed session's workbooks, convert
each to PDF with LibreOffice headless and render every page to PNG with pdftoppm, so a
person can look at what the board will print.

    .venv/bin/python scripts/dsmb_pdf.py [--out DIR] [--language en|zh-Hans] [--dpi 60]
    make dsmb-pdf

Needs `soffice` (LibreOffice) and `pdftoppm` (poppler-utils) on the PATH; CI has neither,
so this is a script, not a test. Prints the files written and the pages of each PDF.
The open session is written as the study's charter allows by default (no patient
listings) and, with --open-listings, with them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDY = "NCT04660565"
CUTOFF = date(2021, 12, 31)


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"dsmb_pdf: none of {', '.join(names)} is installed")


def build_database(path: Path, seed: int) -> str:
    from pv.db import make_engine
    from pv.demo.generate import build_demo
    from pv.migrate import upgrade
    from pv.terminology.ctcae import load_ctcae

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    load_ctcae(engine)
    build_demo(engine, seed=seed)
    engine.dispose()
    return url


def write_books(url: str, out: Path, language: str, open_listings: bool) -> list[Path]:
    from pv.db import make_engine
    from pv.exports.workbook import build_dsmb_workbook

    engine = make_engine(url)
    written = []
    for session in ("open", "closed"):
        path = out / f"dsmb-{session}-{language}.xlsx"
        build_dsmb_workbook(
            engine,
            study_id=STUDY,
            cutoff=CUTOFF,
            session=session,
            out=path,
            language=language,
            # the open session lists patients only as the charter allows, or when asked
            open_listings=True if session == "open" and open_listings else None,
        )
        written.append(path)
    engine.dispose()
    return written


def to_pdf(book: Path, out: Path) -> Path:
    soffice = _tool("soffice", "libreoffice")
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    try:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                str(out),
                str(book),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return out / (book.stem + ".pdf")


def to_png(pdf: Path, out: Path, dpi: int) -> list[Path]:
    pdftoppm = _tool("pdftoppm")
    folder = out / pdf.stem
    folder.mkdir(exist_ok=True)
    subprocess.run(
        [pdftoppm, "-png", "-r", str(dpi), str(pdf), str(folder / "page")],
        check=True,
        timeout=600,
    )
    return sorted(folder.glob("page-*.png"))


# pdftotext's word boxes are the font's ascent plus descent: 1.299 times the point size for
# Liberation Sans (Arial's metrics), the workbook's font (measured: 8 pt -> 10.39).
BOX_PER_PT = 1.299


def body_sizes(pdf: Path) -> list[float]:
    """Per page, the point size most of its words are printed at (after any scaling)."""
    pdftotext = _tool("pdftotext")
    html = subprocess.run(
        [pdftotext, "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    sizes = []
    for page in html.split("<page ")[1:]:
        heights = Counter(
            round(float(y1) - float(y0), 1)
            for y0, y1 in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)"', page)
        )
        common = heights.most_common(1)
        sizes.append(round(common[0][0] / BOX_PER_PT, 1) if common else 0.0)
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "dsmb-pdf")
    parser.add_argument("--language", default="en")
    parser.add_argument("--dpi", type=int, default=60)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--open-listings", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsmb-pdf-") as tmp:
        url = build_database(Path(tmp) / "demo.sqlite", args.seed)
        books = write_books(url, args.out, args.language, args.open_listings)
    for book in books:
        pdf = to_pdf(book, args.out)
        pages = to_png(pdf, args.out, args.dpi)
        sizes = body_sizes(pdf)
        small = [i + 1 for i, pt in enumerate(sizes) if pt < 8]
        print(f"{book.name}: {pdf} ({len(pages)} pages, PNG in {pdf.parent / pdf.stem})")
        print(f"  body text {min(sizes)}-{max(sizes)} pt; pages below 8 pt: {small or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
