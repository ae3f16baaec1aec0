"""The district profiles as A4 PDFs, printed by headless Chromium while the report is built.

One browser, in two tabs, prints every profile of both languages (starting Chromium costs a second or two;
printing a page much less). Where Chromium is absent (or CI_PIPELINE_CHROMIUM=none) or printing fails, the report
is still built: `print_profiles` says why in its result, the writer logs one line and the profile pages
say that this version has no PDF edition.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ci_pipeline.report.browser import Browser, BrowserError, Page

PDF_MAGIC = b"%PDF-"
# The browser that prints never shows a page on a screen: in a small window, with print media emulated from
# the start, Chromium lays each profile out for print once instead of for a 1280-pixel screen, then print,
# then the screen again, and rasters and composites far fewer screen pixels. The PDFs are byte for byte the
# same (bar their dates); per profile, Chromium's CPU went from about 530 to 350 ms (2026-12-03, 2 cores).
PRINT_WINDOW = (200, 200)
# Two tabs, each printing every other profile from its own thread: one tab's layout overlaps the other's
# conversion to PDF, so both cores of a small machine work (32 profiles, 2 rounds: 426/506 -> 328/400 ms a
# profile with one tab -> two, the same CPU time).
PRINTING_TABS = 2


@dataclass
class PdfResult:
    made: bool
    files: list[str] = field(default_factory=list)
    reason: str | None = None  # a texts key the pages show: pdf.no_chromium or pdf.failed
    detail: str | None = None  # what to tell the person who runs the build


def print_profiles(folder: Path, pages: list[tuple[str, str]], chromium: Path | None) -> PdfResult:
    """Print each (html, pdf) pair of paths relative to `folder`; all or nothing."""
    if chromium is None:
        return PdfResult(False, reason="pdf.no_chromium",
                         detail="Chromium was not found (install Debian's chromium, or set CI_PIPELINE_CHROMIUM "
                                "to its path); the district profiles have no PDF edition in this version")
    written: list[str] = []  # appended to by every tab's thread, so a failure can remove what was printed

    # Set by the tab that fails: the other stops before its next profile, whose PDF would be removed anyway.
    failed = threading.Event()

    def print_share(page: Page, share: list[tuple[str, str]]) -> None:
        try:
            page.call("Emulation.setEmulatedMedia", media="print")
            for html, pdf in share:
                if failed.is_set():
                    return
                page.open((folder / html).resolve().as_uri())
                data = page.print_pdf()
                if not data.startswith(PDF_MAGIC):
                    raise BrowserError(f"Chromium's print of {html} is not a PDF")
                target = folder / pdf
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append(pdf)
        except BaseException:
            failed.set()
            raise

    try:
        with Browser(chromium, window=PRINT_WINDOW) as browser:
            tabs = [browser] + [browser.new_page() for _ in range(PRINTING_TABS - 1)]
            with ThreadPoolExecutor(len(tabs)) as pool:
                done = [pool.submit(print_share, tab, pages[n::len(tabs)]) for n, tab in enumerate(tabs)]
                for future in done:
                    future.result()
    except (BrowserError, OSError) as error:
        for pdf in written:
            (folder / pdf).unlink(missing_ok=True)
        return PdfResult(False, reason="pdf.failed",
                         detail=f"printing the district profiles to PDF failed ({error}); the profiles say so")
    return PdfResult(True, files=[pdf for _, pdf in pages])
