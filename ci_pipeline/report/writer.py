"""write_report: the whole partners' report, built into a staging folder and swapped in atomically.

The report for a version is written to <out_dir>/<version>/ and copied to <out_dir>/latest/, each
through a temporary folder and a rename, so a reader never sees half a report. Pages in bokmål sit at
the top of the folder, the English edition under en/; CSV downloads under downloads/ and the district
profiles' PDFs under pdf/ of each language.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ci_pipeline.report import adapter
from ci_pipeline.report.browser import find_chromium
from ci_pipeline.report.content import PdfState, ReportData
from ci_pipeline.report.costs_page import FILENAME as COSTS_FILENAME
from ci_pipeline.report.costs_page import costs_page
from ci_pipeline.report.downloads import csv_bytes
from ci_pipeline.report.formatting import LANGUAGES
from ci_pipeline.report.goal_pages import goal_page
from ci_pipeline.report.labels import ReportLabels
from ci_pipeline.report.layout import Site
from ci_pipeline.report.pages import about_page, index_page
from ci_pipeline.report.pdf import print_profiles
from ci_pipeline.report.profiles import PROFILE_REGIONS, pdf_filename, profile_filename, profile_page
from ci_pipeline.report.series import SeriesSource
from ci_pipeline.schema import STORY_COLUMNS

AUTO = "auto"
_log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    index: Path
    latest: Path
    version: str
    pages: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    pdfs: list[str] = field(default_factory=list)
    pdf_note: str | None = None


def _rows_about(frame: pd.DataFrame, indicators: set[str]) -> pd.DataFrame:
    """The rows of a mart about the report's indicators, the only ones it reads (a few thousand of
    indicator_values' 150 000), so that what is worked out per indicator is not worked out for all."""
    return _without_attrs(frame[frame["indicator_id"].isin(indicators)])


def _without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` without its attrs (a mart's recorded inputs, which the report does not read): pandas
    deep-copies attrs into every frame, column and row derived from a frame, at a cost per copy."""
    bare = frame.copy(deep=False)
    bare.attrs = {}
    return bare


def _region_names(goal_progress: pd.DataFrame) -> dict[str, str]:
    rows = goal_progress[goal_progress["measure"] == "value"][["region_code", "region_name"]].dropna()
    return dict(zip(rows["region_code"].astype(str), rows["region_name"].astype(str)))


def _sites(version: str, progress_version: str, stories_version: str | None, has_costs: bool = False) -> list[Site]:
    return [Site(lang, version, progress_version, stories_version, has_costs) for lang in LANGUAGES]


def _profile_files(data: ReportData, sites: list[Site]) -> dict[str, bytes]:
    return {site.folder + profile_filename(code): profile_page(data, code, site)[0].encode("utf-8")
            for site in sites for code in PROFILE_REGIONS}


def build_files(data: ReportData, sites: list[Site]) -> dict[str, bytes]:
    """Every file of the report, by its path inside the report folder."""
    files: dict[str, bytes] = {}
    for site in sites:
        built = [index_page(data, site), about_page(data, site)]
        names = ["index.html", "about.html"]
        for goal in data.goals():
            built.append(goal_page(data, goal, site))
            names.append(f"goal-{goal.id}.html")
        for code in PROFILE_REGIONS:
            built.append(profile_page(data, code, site))
            names.append(profile_filename(code))
        if data.costs is not None:
            built.append(costs_page(data.costs, data.region_names, site))
            names.append(COSTS_FILENAME)
        for name, (html, downloads) in zip(names, built):
            files[site.folder + name] = html.encode("utf-8")
            for download in downloads:
                files[f"{site.folder}downloads/{download.filename}"] = csv_bytes(download)
    return files


def write_report(
    goal_progress: pd.DataFrame,
    indicator_values: pd.DataFrame,
    survey_results: pd.DataFrame,
    goals: list,
    registry: Mapping[str, Any],
    out_dir: Path,
    version: str,
    *,
    stories: pd.DataFrame | None = None,
    costs: pd.DataFrame | None = None,
    labels: ReportLabels | None = None,
    progress_version: str | None = None,
    stories_version: str | None = None,
    chromium: Path | str | None = AUTO,
    log: Callable[[str], None] | None = None,
) -> ReportResult:
    """Write the report for `version` and make it the latest; see the module docstring for the layout.

    costs: the exclusion_costs mart, for the page on the cost of exclusion (None: no such page).
    chromium: the browser that prints the district profiles to PDF; "auto" finds it, None makes no PDFs.
    log: where to say what happened to the PDFs (the Dagster asset passes its logger)."""
    log = log or _log.info
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    browser = find_chromium() if chromium == AUTO else (Path(chromium) if chromium else None)
    entries = adapter.entries(goal_progress, goals)
    shown = {entry.indicator_id for entry in entries}
    data = ReportData(
        entries=entries,
        series=SeriesSource(_rows_about(indicator_values, shown), _rows_about(survey_results, shown), registry),
        labels=labels or ReportLabels(),
        stories=_without_attrs(stories) if stories is not None else pd.DataFrame(columns=STORY_COLUMNS),
        region_names=_region_names(goal_progress),
        pdf=PdfState(browser is not None, None if browser else "pdf.no_chromium"),
        costs=_without_attrs(costs) if costs is not None else None,
    )
    sites = _sites(version, progress_version or version, stories_version, costs is not None)
    files = build_files(data, sites)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the report is for every reader of the warehouse
        _write(staging, files)
        pairs = [(site.folder + profile_filename(code), site.folder + pdf_filename(code))
                 for site in sites for code in PROFILE_REGIONS]
        printed = print_profiles(staging, pairs, browser)
        if not printed.made:
            log(f"goal report: {printed.detail}")
            if data.pdf != PdfState(False, printed.reason):
                data.pdf = PdfState(False, printed.reason)
                _write(staging, _profile_files(data, sites))
        target = out_dir / version
        _swap_in(out_dir, staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    latest = out_dir / "latest"
    copy = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        shutil.copytree(target, copy, dirs_exist_ok=True)
        copy.chmod(0o755)
        _swap_in(out_dir, copy, latest)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        raise
    return ReportResult(
        index=target / "index.html", latest=latest / "index.html", version=version,
        pages=sorted(name for name in files if name.endswith(".html")),
        downloads=sorted(name for name in files if name.endswith(".csv")),
        pdfs=printed.files, pdf_note=None if printed.made else printed.detail,
    )


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _swap_in(parent: Path, staging: Path, target: Path) -> None:
    """Rename `staging` to `target`, replacing what is there without a moment where neither exists."""
    if target.exists():
        retired = Path(tempfile.mkdtemp(dir=parent, prefix=".retired-"))
        os.replace(target, retired / target.name)
        os.replace(staging, target)
        shutil.rmtree(retired)
    else:
        os.replace(staging, target)
