"""Is a source's table as recent as its publishing rhythm promises? The freshness rule of every catalogue entry.

A table is fresh while its update stamp (SSB `updated`, FHI `modifiedAt`, the `updated` of an Oslo
statistics bank answer) is younger than one publishing period plus a margin: an annual table updated 400
days ago is fresh (365 + 90 days by default), one updated 500 days ago is overdue, which means the source
has not published the year that should be out by now, or the pipeline keeps reading an old answer. The
rhythm is set per catalogue entry:

    freshness: {every: year, margin_days: 90}    # year (default), quarter, month, or never

`never` is for figures that are not updated (a published report's tables); reference series have no
update stamp and are not judged either. In replay mode the answers come from the snapshot archive, whose
stamps are as old as the snapshots by design: there the rule is not judged, and says so.

The Dagster layer (ci_pipeline/defs/freshness.py) runs it as a non-blocking check on each raw asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from ci_pipeline.archive import read_source_timestamp
from ci_pipeline.config import ConfigModel

PERIOD_DAYS = {"year": 365, "quarter": 92, "month": 31}
Rhythm = Literal["year", "quarter", "month", "never"]


class Freshness(ConfigModel):
    """How often the source publishes a table, and how late it may be before the table counts as overdue."""

    every: Rhythm = "year"
    margin_days: Annotated[int, Field(strict=True, ge=0)] = 90

    @property
    def limit_days(self) -> int | None:
        return None if self.every == "never" else PERIOD_DAYS[self.every] + self.margin_days

    def describe(self) -> str:
        if self.limit_days is None:
            return "not updated by its publisher"
        return f"published every {self.every}: fresh for {PERIOD_DAYS[self.every]} + {self.margin_days} days"


DEFAULT = Freshness()


@dataclass(frozen=True)
class Verdict:
    """`state`: fresh, overdue, not_judged (replay, never updated, no stamp) or unreadable (a stamp that
    is not a timestamp)."""

    state: Literal["fresh", "overdue", "not_judged", "unreadable"]
    message: str
    age_days: int | None = None
    limit_days: int | None = None

    @property
    def passed(self) -> bool:
        return self.state in ("fresh", "not_judged")


def judge(name: str, updated: str | None, rule: Freshness, now: datetime, mode: str) -> Verdict:
    """The freshness of catalogue entry `name` whose source says it was updated at `updated`."""
    try:
        stamp = read_source_timestamp(updated) if updated else None
    except ValueError:
        stamp = None
    if updated and stamp is None:
        return Verdict("unreadable", f"{name}: the source's update stamp {updated!r} is not a timestamp, so "
                                     "its freshness cannot be judged")
    age = (now - stamp).days if stamp is not None else None
    limit = rule.limit_days
    seen = f"updated {updated}, {age} days ago" if age is not None else "no update stamp"
    if mode == "replay":
        return Verdict("not_judged", f"{name}: not judged in replay mode, which reads the snapshot archive "
                                     f"(snapshots are old by design; {seen}); live and record mode judge it",
                       age, limit)
    if limit is None:
        return Verdict("not_judged", f"{name}: {rule.describe()}; not judged ({seen})", age, limit)
    if age is None:
        return Verdict("not_judged", f"{name}: the source gives no update stamp (change is told by content or "
                                     "checksums instead); not judged", age, limit)
    if age <= limit:
        return Verdict("fresh", f"{name}: {seen}; {rule.describe()}", age, limit)
    return Verdict("overdue", f"{name}: {seen}, more than the {limit} days it stays fresh ({rule.describe()}): "
                              "the source has not published a newer version, or this table asks for the wrong one "
                              "(check the catalogue entry and the source's release calendar)", age, limit)
