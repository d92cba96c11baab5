"""Reading printed certificates back: poppler's pdftotext, pdffonts and pdftoppm, and the
project's QR decoder on the rendered page.

Without poppler-utils or the font the printing tests skip and say how to get them; under
``CI=true`` they fail instead (``.ci/run`` installs both when missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.print_font import DEBIAN_FONTS, FONT_PACKAGE
from verify.scan import decode_image

POPPLER = ("pdftotext", "pdffonts", "pdftoppm", "pdfinfo")
HOW = f"printing tests need `apt-get install -y poppler-utils {FONT_PACKAGE}` (Debian)"
TIMEOUT = 60  # seconds for one poppler command


def need_tools() -> None:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if not any(path.is_file() for path in DEBIAN_FONTS):
        missing.append(FONT_PACKAGE)
    if missing:
        message = f"{HOW}; missing: {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return done.stdout


@dataclass(frozen=True)
class Font:
    name: str
    type: str
    embedded: bool
    subset: bool


def fonts(pdf: Path) -> list[Font]:
    """Every font ``pdffonts`` lists: name, type, embedded, subset."""
    lines = _run("pdffonts", str(pdf)).splitlines()[2:]  # a header and a rule first
    found = []
    for line in lines:
        # name and type may hold spaces; the columns after them are fixed words
        words = line.split()
        emb, sub = words[-5], words[-4]
        found.append(Font(words[0], " ".join(words[1:-6]), emb == "yes", sub == "yes"))
    return found


def text(pdf: Path) -> str:
    return _run("pdftotext", "-enc", "UTF-8", str(pdf), "-")


def pages(pdf: Path) -> int:
    lines = _run("pdfinfo", str(pdf)).splitlines()
    info = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(info["Pages"].strip())


def page_size_mm(pdf: Path) -> tuple[float, float]:
    for line in _run("pdfinfo", str(pdf)).splitlines():
        if line.startswith("Page size:"):
            width, _, height = line.split()[2:5]
            return round(float(width) * 25.4 / 72, 1), round(float(height) * 25.4 / 72, 1)
    raise AssertionError("pdfinfo shows no page size")


def qr_texts(pdf: Path, *, page: int, dpi: int = 150) -> list[str]:
    """The QR codes the project's decoder finds on ``page`` rendered at ``dpi``."""
    out = pdf.with_suffix(f".p{page}")
    _run("pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", "-png",
         str(pdf), str(out))  # fmt: skip
    return decode_image(out.with_suffix(out.suffix + ".png").read_bytes())
