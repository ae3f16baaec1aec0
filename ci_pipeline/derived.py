"""Derived indicators: a share or rate whose numerator and denominator come from different tables.

The registry says how (docs/REGISTRY.md, `derived:`): e.g. disability benefit recipients 18-29 from Oslo
kommune statistikkbank (OK-SOS006, per 31.12 of year t) over the residents 18-29 from SSB 10826 (per 1.1
of year t+1, `denominator_period_offset: 1`). `derive_indicators()` makes one row per region, period and
sex that both parts have, on harmonised observations (today's region codes), with method `derived`:

- a part is one published age group (`age_group`), published groups summed (`age_groups`: 20-24 and
  25-29 of OK-STØ020 for 20-29; counts are summed, shares are never averaged), or single years of age
  summed into a band (`ages`: 18-29 of SSB 10826, through breakdown.aggregate_age_band);
- a sum with a suppressed or missing part is not a number: it keeps the part's symbol (never a partial
  sum, so a suppressed small group can neither enter a share nor be recovered from one);
- value = numerator / denominator x the unit's scale (percent: 100); a row with a suppressed numerator
  keeps the symbol (":") and no value or numerator; a denominator of 0 gives "." (cannot be computed);
- numerator and denominator are published on the row, so the goal statistics can test the share
  (binomial); provenance is the worst of the rows used, snapshot_sha256 lists every answer used.

A period whose denominator period is absent (the population of 1.1.2025 for recipients per 31.12.2024)
makes no row; how many is in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ci_pipeline.archive import PROVENANCES, provenance_ranks, worst_provenance
from ci_pipeline.breakdown import aggregate_age_band, in_age_band
from ci_pipeline.indicators import Indicator
from ci_pipeline.schema import OBSERVATION_KEY
from ci_pipeline.tidy import plain, text_equals

SOURCE = "derived"
METHOD = "derived"
SUPPRESSED = ":"
CANNOT_BE_COMPUTED = "."
# The unit of a derived value: a count over a count, times this.
SCALES = {"percent": 100.0, "per_1000": 1000.0}
JOIN = ["region_code", "period", "sex"]
# Columns of the numerator's region that the derived row keeps (from geography.harmonise).
REGION_COLUMNS = ["region_level", "region_name", "original_region_code", "harmonised", "harmonisation_rule",
                  "harmonisation_outcome"]
# The columns of the observations a numerator or denominator is made from.
PART_COLUMNS = [*OBSERVATION_KEY, "value", "status", "provenance", "source_updated", "retrieved_at", "snapshot_sha256",
                *REGION_COLUMNS]


class DerivationError(ValueError):
    """A derivation the registry asks for that the observations cannot give (named with the indicator)."""


@dataclass
class DerivationReport:
    """What each derivation made and left out, for the core asset's metadata."""

    rows: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    without_denominator: dict[str, list[str]] = field(default_factory=dict)


def _part_rows(observations: pd.DataFrame, part: Mapping, where: str, made: dict | None = None) -> pd.DataFrame:
    """One row per region, period and sex: the part's count (value or status), with what it came from.
    `made`: the parts made so far from the same observations (several derivations share a denominator,
    and the population table is most of the rows), which the caller must not change."""
    key = tuple(sorted((name, str(value)) for name, value in part.items()))
    if made is not None and key in made:
        return made[key]
    rows = _made_rows(observations, part, where)
    if made is not None:
        made[key] = rows
    return rows


def _made_rows(observations: pd.DataFrame, part: Mapping, where: str) -> pd.DataFrame:
    selected = ((observations["source"] == part["source"])
                & text_equals(observations["table_id"], str(part["table_id"]))
                & (observations["indicator_id"] == part["indicator_id"])
                & observations["harmonised"].astype(bool)
                & (observations["method"] == "observed")).to_numpy()
    if not selected.any():
        raise DerivationError(f"{where}: no observed rows of {part['indicator_id']} in {part['source']} table "
                              f"{part['table_id']}")
    not_years = sorted(set(observations["period_type"][selected].unique()) - {"year"})
    if not_years:
        raise DerivationError(f"{where}: {part['source']} table {part['table_id']} has {not_years} periods; "
                              "a derivation aligns years only")
    # Only the age groups and columns a part is made of are copied: a population table is most of the
    # observations, and a band or a few age groups of it are few rows.
    if "ages" in part:
        rows = observations.loc[selected & in_age_band(observations["age_group"], part["ages"]), PART_COLUMNS]
        # The band's rows are few: plain text from here on (categoricals compare only with equal categories).
        band = plain(aggregate_age_band(rows, part["ages"]))
        band["_shas"] = band["snapshot_sha256"].map(lambda sha: (sha,))
        return band
    groups = [part["age_group"]] if "age_group" in part else list(part["age_groups"])
    chosen = plain(observations.loc[selected & observations["age_group"].isin(groups).to_numpy(), PART_COLUMNS])
    missing = [group for group in groups if group not in set(chosen["age_group"])]
    if missing:
        raise DerivationError(f"{where}: {part['source']} table {part['table_id']} has no age group {missing} "
                              f"(it has {sorted(set(observations['age_group'][selected]))})")
    return _sum_groups(chosen, groups)


def _sum_groups(rows: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """The groups summed per region, period and sex; a key lacking a group, or with a symbol in any
    group, gets no value (the first symbol, or ".." for a missing group)."""
    # Grouped reductions only: a Python function per group cost more than the rest of the derivation.
    # Only the sum and the first symbol are pandas' own; the others work on each row's group number and
    # its column's codes, since each pandas reduction costs milliseconds however few the rows.
    grouped = rows.groupby(JOIN, sort=True, dropna=False)
    group = grouped.ngroup().to_numpy()
    count = int(group.max()) + 1
    summed = rows[JOIN].iloc[np.unique(group, return_index=True)[1]].reset_index(drop=True)
    summed["value"] = grouped["value"].sum(min_count=1).reset_index(drop=True)
    summed["status"] = grouped["status"].first().reset_index(drop=True)  # the first symbol (nulls skipped)
    summed["provenance"] = _worst_provenance_per_group(rows["provenance"], group, count)
    summed["source_updated"] = _latest_per_group(rows["source_updated"], group, count)
    summed["retrieved_at"] = _latest_per_group(rows["retrieved_at"], group, count)
    summed["_shas"] = _distinct_sorted_per_group(rows["snapshot_sha256"], group)
    incomplete = _distinct_per_group(rows["age_group"], group, count) < len(groups)
    summed.loc[incomplete & summed["status"].isna(), "status"] = ".."
    summed.loc[summed["status"].notna(), "value"] = np.nan
    firsts = grouped[REGION_COLUMNS].first().reset_index(drop=True)
    return pd.concat([summed, firsts], axis=1)


def _worst_provenance_per_group(provenance: pd.Series, group: np.ndarray, count: int) -> np.ndarray:
    """worst_provenance of each group's values (group numbers 0..count-1), by their rank in PROVENANCES."""
    codes, values = pd.factorize(provenance)
    ranks = provenance_ranks(values)
    rank_of_code = np.array([ranks[str(value)] for value in values] + [-1])  # the last answers null (-1)
    worst = np.full(count, -1)
    np.maximum.at(worst, group, rank_of_code[codes])
    if (worst < 0).any():
        raise ValueError("no provenance to rank: every value is null")
    return np.asarray(PROVENANCES, dtype=object)[worst]


def _latest_per_group(stamps: pd.Series, group: np.ndarray, count: int) -> np.ndarray:
    """The greatest text of each group (ISO-8601 stamps sort as text); None where all are null."""
    codes, values = pd.factorize(stamps, sort=True)
    latest = np.full(count, -1)
    np.maximum.at(latest, group, codes)
    return np.append(np.asarray(values, dtype=object), None)[latest]


def _distinct_per_group(values: pd.Series, group: np.ndarray, count: int) -> np.ndarray:
    """How many distinct non-null values each group has."""
    codes, distinct = pd.factorize(values)
    known = codes >= 0
    pairs = np.unique(group[known] * len(distinct) + codes[known])
    return np.bincount(pairs // max(len(distinct), 1), minlength=count)


def _distinct_sorted_per_group(values: pd.Series, group: np.ndarray) -> list[tuple]:
    """Each group's distinct values, sorted (null last), as a tuple, in group number order."""
    codes, distinct = pd.factorize(values, sort=True)
    codes = np.where(codes < 0, len(distinct), codes)  # null after every value
    texts = np.append(np.asarray(distinct, dtype=object), np.nan)
    pairs = np.unique(group * (len(distinct) + 1) + codes)
    groups_of_pairs = pairs // (len(distinct) + 1)
    bounds = np.flatnonzero(np.diff(groups_of_pairs)) + 1
    return [tuple(part) for part in np.split(texts[pairs % (len(distinct) + 1)], bounds)]


def derive_indicator(observations: pd.DataFrame, indicator: Indicator,
                     report: DerivationReport | None = None, parts: dict | None = None) -> pd.DataFrame:
    """The rows of one derived indicator (the observation columns plus method, is_estimate, weights_period);
    `parts`: the numerators and denominators made so far from the same observations (see _part_rows)."""
    derivation = indicator.derived
    if derivation is None:
        raise DerivationError(f"{indicator.id}: the registry gives no derivation")
    if indicator.unit not in SCALES:
        raise DerivationError(f"{indicator.id}: a derived value needs a unit of {sorted(SCALES)}, not {indicator.unit!r}")
    where = f"derived indicator {indicator.id}"
    numerator = _part_rows(observations, derivation["numerator"], f"{where}, numerator", parts)
    denominator = _part_rows(observations, derivation["denominator"], f"{where}, denominator", parts)
    offset = derivation["denominator_period_offset"]
    denominator = denominator.assign(period=(denominator["period"].astype(int) - offset).astype(str))

    merged = numerator.merge(denominator[[*JOIN, "value", "status", "provenance", "source_updated", "retrieved_at",
                                          "_shas"]],
                             on=JOIN, how="left", suffixes=("", "_den"), indicator=True)
    found = merged["_merge"] == "both"
    if report is not None:
        report.without_denominator[indicator.id] = sorted(set(merged.loc[~found, "period"]))
    merged = merged[found].reset_index(drop=True)

    count, base = merged["value"].to_numpy(float), merged["value_den"].to_numpy(float)
    status = merged["status"].where(merged["status"].notna(), merged["status_den"])
    zero_base = status.isna() & (base == 0)
    status = status.where(~zero_base, CANNOT_BE_COMPUTED)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(status.isna(), count / base * SCALES[indicator.unit], np.nan)
    num, den = derivation["numerator"], derivation["denominator"]
    frame = pd.DataFrame({
        "source": SOURCE,
        "table_id": f"{num['table_id']}/{den['table_id']}",
        "indicator_id": indicator.id,
        "region_code": merged["region_code"],
        "period": merged["period"],
        "period_type": "year",
        "sex": merged["sex"],
        "age_group": derivation["age_group"],
        "value": value,
        "unit": indicator.unit,
        "numerator": np.where(merged["status"].isna(), count, np.nan),
        "denominator": np.where(merged["status_den"].isna(), base, np.nan),
        "status": status.astype(object).where(status.notna(), None),
        "source_updated": _latest(merged["source_updated"], merged["source_updated_den"]),
        "retrieved_at": _latest(merged["retrieved_at"], merged["retrieved_at_den"]),
        "snapshot_sha256": [",".join(sorted(set(a) | set(b))) for a, b in zip(merged["_shas"], merged["_shas_den"])],
        "provenance": [worst_provenance([a, b]) for a, b in zip(merged["provenance"], merged["provenance_den"])],
        "method": METHOD,
        "is_estimate": False,
        "weights_period": None,
        "aggregate_of_districts": False,
        **{column: merged[column] for column in REGION_COLUMNS},
    })
    if report is not None:
        report.rows[indicator.id] = len(frame)
        report.suppressed[indicator.id] = int(frame["status"].notna().sum())
    return frame


def _latest(left: pd.Series, right: pd.Series) -> list[str | None]:
    """The later of two ISO-8601 UTC stamps per row (they sort as text), either may be missing."""
    return [max((stamp for stamp in pair if isinstance(stamp, str)), default=None) for pair in zip(left, right)]


def derive_indicators(observations: pd.DataFrame, registry: Mapping[str, Indicator],
                      report: DerivationReport | None = None) -> pd.DataFrame:
    """Every derived indicator of the registry, in id order, with the columns of `observations`."""
    parts: dict = {}
    frames = [derive_indicator(observations, indicator, report, parts)
              for indicator_id, indicator in sorted(registry.items()) if indicator.derived is not None]
    if not frames:
        return observations.iloc[0:0]
    frame = pd.concat(frames, ignore_index=True)
    duplicated = frame.duplicated(OBSERVATION_KEY)
    if duplicated.any():
        raise DerivationError(f"derived rows repeat a key, e.g. {frame.loc[duplicated, OBSERVATION_KEY].iloc[0].to_dict()}")
    return frame.reindex(columns=observations.columns)
