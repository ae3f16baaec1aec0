"""What every page shares: the Jinja2 templates, the page frame and the words for statuses and symbols.

Templates live in ci_pipeline/report/templates/ and are rendered with autoescaping on, so every text
from the data (names, stories, source lines) is escaped unless it is markup built here (charts, the
rendered Markdown of stories). Jinja2 comes with Dagster; it is declared in pyproject because the report
uses it directly. Bokmål pages are written at the top of the report folder, English ones under en/,
with the same file names, so the language switch is one relative link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ci_pipeline.report import formatting
from ci_pipeline.report.adapter import Figure, Trend, Verdict
from ci_pipeline.report.texts import Texts

# Symbols beside colours, so that colour is never the only signal (FHI's barometer uses colour alone).
STATUS_SYMBOLS = {"on_track": "\u2713", "off_track": "\u2717", "target_met_at_baseline": "\u2605",
                  "target_no_longer_met": "\u2193", "insufficient_data": "?", "no_target": "\u2013",
                  "unknown": "\u00b7"}
VERDICT_SYMBOLS = {"better": "+", "worse": "\u2212", "no_difference": "=", "not_tested": "\u00b7",
                   "illustrative": "\u00b7"}
STATUS_ORDER = tuple(STATUS_SYMBOLS)
VERDICT_ORDER = ("better", "worse", "no_difference", "not_tested", "illustrative")

_ENVIRONMENT = Environment(
    loader=PackageLoader("ci_pipeline.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Site:
    """One language edition: its words, its folder in the report and the version it shows."""

    lang: str
    version: str
    progress_version: str
    stories_version: str | None
    has_costs: bool = False  # the report has the page on the cost of exclusion (linked from every page)

    @property
    def texts(self) -> Texts:
        return Texts(self.lang)

    @property
    def folder(self) -> str:
        """Where this language's pages live in the report folder ("" for bokmål, "en/" for English)."""
        return "" if self.lang == "nb" else f"{self.lang}/"

    def switch_href(self, name: str) -> str:
        return f"en/{name}" if self.lang == "nb" else f"../{name}"


class Words:
    """Format helpers for templates, bound to one language."""

    def __init__(self, lang: str):
        self.lang = lang
        self.t = Texts(lang)

    def value(self, amount: Any, unit: str | None) -> str:
        return formatting.value(amount, unit, self.lang)

    def period(self, period: Any) -> str:
        return formatting.period(period, self.lang)

    def day(self, when: Any) -> str:
        return formatting.day(when, self.lang)

    def status(self, figure: Figure) -> str:
        return self.t(f"status.{figure.status}")

    def verdict(self, verdict: Verdict | None, reference: str) -> str:
        if verdict is None:
            return formatting.MISSING
        return self.t(f"cmp.{verdict.key}", reference=self.t(f"reference.{reference}"))

    def trend(self, trend: Trend) -> str:
        return self.t(trend.key)

    def latest(self, figure: Figure, unit: str | None) -> str:
        """The latest figure with its unit, or why there is none."""
        if figure.latest_value is None:
            return self.t(figure.missing_reason or "missing.none")
        return formatting.value(figure.latest_value, unit, self.lang)

    def interval(self, figure: Figure, unit: str | None) -> str:
        if figure.ci_low is None or figure.ci_high is None:
            return formatting.MISSING
        return (f"{formatting.value(figure.ci_low, unit, self.lang)}{formatting.EN_DASH}"
                f"{formatting.value(figure.ci_high, unit, self.lang)}")

    def provenance(self, provenance: str | None) -> str:
        return self.t(f"provenance.{provenance}" if provenance in ("recorded", "reconstructed", "illustrative")
                      else "provenance.unknown")

    def region(self, code: str, name: str) -> str:
        return self.t("reference.norway") if code == "0" else name


def render(template: str, site: Site, **context: Any) -> str:
    words = Words(site.lang)
    return _ENVIRONMENT.get_template(template).render(
        site=site, t=site.texts, w=words, status_symbols=STATUS_SYMBOLS, verdict_symbols=VERDICT_SYMBOLS,
        status_order=STATUS_ORDER, verdict_order=VERDICT_ORDER, Markup=Markup, **context)
