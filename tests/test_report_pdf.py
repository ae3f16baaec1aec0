"""The district profiles as A4 PDFs: printed by headless Chromium in the build, checked by rendering the pages
with poppler (pdftoppm to PNG, pdfinfo for the page size, pdftotext for the words).

Skips only when chromium or poppler-utils is missing and CI is not set; the PNG pages are saved to
test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from report_fixture import report_inputs, write

pytestmark = pytest.mark.slow  # headless Chromium printing PDFs, rendered with poppler

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
A4_POINTS = (595.28, 841.89)
REGIONS = [f"0301{n:02d}" for n in range(1, 16)] + ["0301"]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is missing in CI: .ci/run installs Debian's poppler-utils")
    pytest.skip(f"{name} (poppler-utils) is not installed and CI is not set")


@pytest.fixture(scope="module")
def built(tmp_path_factory, chromium):
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed and CI is not set")
    folder = tmp_path_factory.mktemp("pdf")
    logged = []
    result = write(folder, report_inputs(folder), chromium=chromium, log=logged.append)
    return result, logged


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def _dark_share(pgm: Path) -> float:
    """Share of pixels darker than light grey in a binary PGM (P5) page."""
    data = pgm.read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    pixels = data[header.end():]
    return sum(1 for value in pixels if value < 200) / len(pixels)


def test_every_profile_is_printed_in_both_languages(built):
    result, logged = built
    assert logged == []
    expected = sorted(f"{folder}pdf/district-{code}.pdf" for folder in ("", "en/") for code in REGIONS)
    assert sorted(result.pdfs) == expected
    root = result.index.parent
    for name in expected:
        assert (root / name).read_bytes().startswith(b"%PDF-")
        assert (result.latest.parent / name).is_file()
    profile = (root / "district-030101.html").read_text(encoding="utf-8")
    assert '<a href="pdf/district-030101.pdf">Last ned profilen som PDF (A4)</a>' in profile
    assert "pdf-missing" not in profile


@pytest.mark.parametrize("lang, code, words", [
    ("nb", "030101", ["bydelsprofil", "Leksehjelp i nærmiljøet", "Kilde: FHI Statistikk, tabell 360", "Eksempel"]),
    ("en", "030101", ["district profile", "Leksehjelp i nærmiljøet", "Source: FHI Statistikk table 360"]),
    ("nb", "0301", ["Oslo: profil for hele byen", "Felles innsats for fullføring"]),
])
def test_pdf_pages_render_as_a4_with_the_profile_on_them(built, tmp_path, lang, code, words):
    pdftoppm, pdfinfo, pdftotext = _tool("pdftoppm"), _tool("pdfinfo"), _tool("pdftotext")
    result, _ = built
    pdf = result.index.parent / ("" if lang == "nb" else "en") / "pdf" / f"district-{code}.pdf"
    info = _run(pdfinfo, str(pdf))
    pages = int(re.search(r"Pages:\s+(\d+)", info)[1])
    width, height = (float(v) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, info
    assert 1 <= pages <= 8, f"{pdf.name}: {pages} pages"
    assert re.search(r"Tagged:\s+yes", info), f"{pdf.name} has no structure tree for screen readers: {info}"

    _run(pdftoppm, "-png", "-r", "60", str(pdf), str(tmp_path / "page"))
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == pages
    ARTIFACTS.mkdir(exist_ok=True)
    for number, png in enumerate(pngs, start=1):
        w, h = _png_size(png)
        assert abs(h / w - A4_POINTS[1] / A4_POINTS[0]) < 0.01, (png, w, h)
        shutil.copy(png, ARTIFACTS / f"profile-{lang}-{code}-page{number}.png")
    _run(pdftoppm, "-gray", "-r", "30", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "gray"))
    assert _dark_share(next(tmp_path.glob("gray-*.pgm"))) > 0.01  # the first page is not blank

    text = " ".join(_run(pdftotext, "-layout", str(pdf), "-").split())
    for word in words:
        assert word in text, (pdf.name, word)
    assert "Les på norsk" not in text and "Read in English" not in text  # the page's navigation is not printed


def test_a_failed_print_leaves_no_pdf_behind(tmp_path, chromium):
    if chromium is None:
        pytest.skip("chromium is not installed")
    from ci_pipeline.report.pdf import print_profiles

    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.html").write_text(f"<!DOCTYPE html><title>{name}</title><p>{name}</p>", encoding="utf-8")
    (tmp_path / "pdf" / "c.pdf").mkdir(parents=True)  # c's PDF cannot be written: the tabs print the others
    result = print_profiles(tmp_path, [(f"{name}.html", f"pdf/{name}.pdf") for name in "abcd"], chromium)
    assert (result.made, result.reason, result.files) == (False, "pdf.failed", [])
    assert "c.pdf" in result.detail
    assert sorted(p.name for p in (tmp_path / "pdf").iterdir()) == ["c.pdf"]  # the directory, no PDF
