"""District breakdown (DESIGN.md section 5): every indicator row says how its district figure came about.

method on every row:
- observed: the source published the figure (any level);
- aggregated: summed from smaller units; implemented for single years of age into an age band
  (the population bands apportionment weighs by);
- apportioned_by_rate / apportioned: a municipal COUNT spread over the municipality's districts (the
  unknown district 99 included, so the districts add up to the municipal count) by each district's
  matching age-group population in the same year, or the nearest earlier year (column weights_period),
  times a related district share where the registry names one (apportion_by.share, e.g. FHI 507
  persistent low income for children in low-income households), taken from the same period or the
  nearest earlier one (ci_pipeline.stats.apportion_by_rate). A district row whose own share was used
  says apportioned_by_rate; population alone (no share named, a period before the share's first, a
  district without the share) says apportioned, the weaker estimate. is_estimate True on both. A
  suppressed municipal count gives suppressed district rows, never numbers. Rates, shares and amounts
  are never apportioned;
- not_available: no honest district figure exists; the municipal (and national) rows are kept as they
  are and no district rows are made.

Input rows are harmonised observations (geography.harmonise): region_code is today's code, and only
rows with `harmonised` True take part in apportionment and in the district-sum check.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ci_pipeline import stats
from ci_pipeline.geography.district_sums import district_sums_against_totals, municipality_numbers
from ci_pipeline.indicators import APPORTIONABLE_KINDS, Indicator
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import observation_key_without
from ci_pipeline.stats.apportionment import ApportionmentError, apportion_groups_by_rate
from ci_pipeline.tidy import concat_compact, constant_text, group_numbers, text_categories, text_equals

METHODS = ("observed", "aggregated", stats.APPORTIONED_BY_RATE, stats.APPORTIONED, "not_available")
_BAND = re.compile(r"^(\d+)-(\d+)$")
_OPEN_BAND = re.compile(r"^(\d+)\+$")
_SINGLE_AGE = re.compile(r"^\d+$")
POPULATION_KEY = observation_key_without("age_group")


class BreakdownError(ValueError):
    """A breakdown the registry asks for that cannot be made honestly, or input it cannot use."""


def _ages(band: str) -> tuple[int, int | None]:
    closed, open_ended = _BAND.match(band), _OPEN_BAND.match(band)
    if closed:
        low, high = int(closed.group(1)), int(closed.group(2))
        if low > high:
            raise BreakdownError(f"age band {band!r} runs backwards")
        return low, high
    if open_ended:
        return int(open_ended.group(1)), None
    raise BreakdownError(f"age band {band!r} is not 'a-b' or 'a+'")


def _single_ages(age_group: pd.Series) -> np.ndarray:
    """Each row's single year of age, -1 where its age group is not one (a band, "total", null); each
    distinct age group is read once."""
    groups = age_group.astype("category")
    labels = groups.cat.categories.astype("str")
    ages = pd.Series(np.where(labels.str.match(_SINGLE_AGE), labels, "-1")).astype(int).to_numpy()
    return np.append(ages, -1)[groups.cat.codes.to_numpy()]  # code -1 (null): not an age


def _within(ages: np.ndarray, low: int, high: int | None) -> np.ndarray:
    return (ages >= low) & ((ages <= high) if high is not None else True)


def in_age_band(age_group: pd.Series, band: str) -> np.ndarray:
    """Which rows are single years of age within `band` ("a-b" or "a+"): combined with a selection of a
    large table's rows, only the band's rows are copied (a population table has every age)."""
    low, high = _ages(band)
    return _within(_single_ages(age_group), low, high)


def _band_rows(population: pd.DataFrame, low: int, high: int | None) -> pd.DataFrame:
    """The single-year-of-age rows within [low, high] (high None: no upper end), with their age as `_age`.
    Only the rows in the band are copied."""
    age_of_row = _single_ages(population["age_group"])
    chosen = _within(age_of_row, low, high)
    return population[chosen].assign(_age=age_of_row[chosen])


def aggregate_age_band(population: pd.DataFrame, band: str) -> pd.DataFrame:
    """Single-year-of-age rows summed into one age band per region, period and sex (method aggregated).

    Every age of a closed band must be present; an open band ("67+") takes every age from its start.
    A band with a status symbol in any of its ages gets that status and no value (never a partial sum).
    A "total" sex is added as male + female where the source has no total.
    """
    low, high = _ages(band)
    in_band = _band_rows(population, low, high)
    if in_band.empty:
        raise BreakdownError(f"no single-year population rows for the age band {band!r}")
    group = group_numbers(in_band, POPULATION_KEY, sort=True)
    if high is not None:
        ages = pd.DataFrame({"group": group, "age": in_band["_age"].to_numpy()}).drop_duplicates()
        short = np.flatnonzero(np.bincount(ages["group"], minlength=group.max() + 1) < high - low + 1)
        if len(short):
            keys = in_band[POPULATION_KEY].iloc[np.unique(group, return_index=True)[1][short[:3]]]
            raise BreakdownError(f"age band {band!r}: single ages missing for "
                                 f"{list(keys.itertuples(index=False, name=None))} (of {len(short)} groups)")
    carried = [c for c in population.columns if c not in POPULATION_KEY and c not in ("age_group", "value", "status")]
    band_rows = _add_total_sex(_summed(in_band, POPULATION_KEY, group, carried, min_count=1))
    band_rows["age_group"] = band
    band_rows["method"] = "aggregated"
    band_rows["is_estimate"] = False
    return band_rows


def _summed(rows: pd.DataFrame, key: list[str], group: np.ndarray, carried: list[str], min_count: int) -> pd.DataFrame:
    """One row per group (groups numbered in key order, group_numbers(sort=True)): its key, the sum of
    `value` (null below `min_count` values), the first status symbol, and the first non-null value of
    each `carried` column. A group with a symbol has no value (never a partial sum)."""
    by_group = rows[["value", "status", *carried]].groupby(group)
    summed = rows[key].iloc[np.unique(group, return_index=True)[1]].reset_index(drop=True)
    summed["value"] = by_group["value"].sum(min_count=min_count).to_numpy()
    summed["status"] = by_group["status"].first().reset_index(drop=True)
    summed.loc[summed["status"].notna(), "value"] = float("nan")
    firsts = by_group[carried].first().reset_index(drop=True)
    return pd.concat([summed, firsts], axis=1)


def _add_total_sex(rows: pd.DataFrame) -> pd.DataFrame:
    other_key = [c for c in POPULATION_KEY if c != "sex"]
    group = group_numbers(rows, other_key, sort=True)
    sex = rows["sex"].astype("str").to_numpy()
    groups = group.max() + 1
    has_total = np.bincount(group[sex == "total"], minlength=groups) > 0
    parts = np.isin(sex, ["male", "female"]) & ~has_total[group]
    if not parts.any():
        return rows
    both = (np.bincount(group[parts & (sex == "male")], minlength=groups) > 0) & \
        (np.bincount(group[parts & (sex == "female")], minlength=groups) > 0)
    chosen = parts & both[group]
    carried = [c for c in rows.columns if c not in other_key and c not in ("sex", "value", "status")]
    totals = _summed(rows[chosen], other_key, group[chosen], carried, min_count=2)
    totals["sex"] = "total"
    return pd.concat([rows, totals[rows.columns]], ignore_index=True)


def _reference_year(period: str) -> int:
    """The year whose population weighs a period: the year itself, or the last year of a multi-year period."""
    try:
        return parse_period(period).last_year
    except PeriodError:
        raise BreakdownError(f"cannot tell the year of period {period!r}") from None


def _district_weights(band: pd.DataFrame) -> pd.DataFrame:
    """Each district's share of its municipality's band population, per year and sex."""
    districts = band[(band["region_level"] == "district") & band["harmonised"]].copy()
    districts["municipality"] = districts["region_code"].str[:4]
    districts["year"] = districts["period"].map(_reference_year)
    districts["table"] = districts["source"].astype("str") + "/" + districts["table_id"].astype("str")
    by_table = districts.groupby(["municipality", "year", "sex", "table"])["value"]
    usable = by_table.transform("count") == by_table.transform("size")
    districts = districts[usable]
    # Several tables may give one municipality's district population for a year and sex (SSB 07459 and
    # 10826 both do, from the same register): its shares come from one of them, never a mix, which would
    # count each district twice. The table with the most districts; of equals, the first by name.
    size = districts.groupby(["municipality", "year", "sex", "table"])["value"].transform("size")
    ranked = districts.assign(_size=size).sort_values(["_size", "table"], ascending=[False, True], kind="stable")
    chosen = ranked.drop_duplicates(["municipality", "year", "sex"])[["municipality", "year", "sex", "table"]]
    districts = districts.merge(chosen, on=["municipality", "year", "sex", "table"])
    total = districts.groupby(["municipality", "year", "sex"])["value"].transform("sum")
    districts["share"] = districts["value"] / total
    return districts[districts["share"].notna()][
        ["municipality", "year", "sex", "region_code", "region_name", "share"]]


def _refuse_unless_count(indicator: Indicator) -> None:
    if indicator.kind not in APPORTIONABLE_KINDS:
        raise BreakdownError(
            f"indicator {indicator.id} is a {indicator.kind}: a {indicator.kind} is never apportioned over "
            f"districts (only counts add up); set district_method to not_available or observed"
        )


def _district_shares(observations: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """The related district share the registry names for an apportioned count (apportion_by.share):
    region_code, sex, period, year (its last year) and rate; empty when none is named."""
    share = (indicator.apportion_by or {}).get("share")
    columns = ["region_code", "sex", "period", "year", "rate"]
    if not share:
        return pd.DataFrame(columns=columns)
    rows = observations[text_equals(observations["indicator_id"], share["indicator_id"])
                        & text_equals(observations["age_group"], share["age_group"])
                        & text_equals(observations["region_level"], "district") & observations["harmonised"]]
    rows = rows.assign(year=_reference_years(rows["period"].astype("str")), rate=rows["value"].astype("float64"))
    return rows[columns]


def apportion(counts: pd.DataFrame, indicator: Indicator, band_population: pd.DataFrame,
              shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """District rows for the municipal counts of one indicator (is_estimate True): by population x the
    related district share in `shares` (see _district_shares) where it exists (method apportioned_by_rate),
    else by population alone (method apportioned)."""
    _refuse_unless_count(indicator)
    weights = _district_weights(band_population)
    twice = weights[weights.duplicated(["municipality", "sex", "year", "region_code"], keep=False)]
    if len(twice):
        raise BreakdownError(
            f"{indicator.id}: the {indicator.apportion_by['age_group']} population gives districts more than once "
            f"for a year and sex: {twice[['region_code', 'year', 'sex']].head(5).to_dict('records')}")
    municipal = counts[(counts["region_level"] == "municipality") & counts["harmonised"]
                       & counts["region_code"].isin(weights["municipality"])].reset_index(drop=True)
    if municipal.empty:
        return municipal.assign(method=pd.Series(dtype=str), is_estimate=pd.Series(dtype=bool),
                                weights_period=pd.Series(dtype=str))
    wanted = pd.DataFrame({"row": np.arange(len(municipal)), "municipality": municipal["region_code"].astype("str"),
                           "sex": municipal["sex"].astype("str"), "period": municipal["period"].astype("str")})
    wanted["year"] = _reference_years(wanted["period"])
    wanted["weights_year"] = _nearest_earlier_weights_year(wanted, weights)
    missing = municipal[wanted["weights_year"].isna().to_numpy()]
    if len(missing):
        raise BreakdownError(
            f"{indicator.id}: no {indicator.apportion_by['age_group']} population for "
            f"{missing[['region_code', 'period', 'sex']].drop_duplicates().head(5).to_dict('records')} "
            "in that year or earlier; cannot apportion"
        )
    wanted["weights_year"] = wanted["weights_year"].astype("int64")
    # One row per municipal count and district of its weights, in the order of the weights' districts.
    spread = wanted.merge(weights.rename(columns={"year": "weights_year"}).assign(position=np.arange(len(weights))),
                          on=["municipality", "sex", "weights_year"])
    spread = spread.merge(_share_rates(wanted, shares), on=["row", "region_code"], how="left")
    spread = spread.sort_values(["row", "position"], kind="stable").reset_index(drop=True)
    starts = np.flatnonzero(np.diff(spread["row"].to_numpy(), prepend=-1))
    suppressed = municipal["status"].notna().to_numpy()
    totals = np.where(suppressed, np.nan, municipal["value"].to_numpy(dtype="float64"))
    try:
        result = apportion_groups_by_rate(starts, totals, spread["share"].to_numpy(dtype="float64"),
                                          spread["rate"].to_numpy(dtype="float64"))
    except ApportionmentError as error:
        counts_named = municipal.iloc[spread["row"].to_numpy()[starts[error.groups[:5]]]]
        raise BreakdownError(f"{indicator.id}: cannot apportion the municipal counts "
                             f"{counts_named[['region_code', 'period', 'sex']].to_dict('records')}: {error}") from None
    rows = municipal.iloc[spread["row"].to_numpy()].reset_index(drop=True)
    rows["region_code"] = spread["region_code"].to_numpy()
    rows["region_name"] = spread["region_name"].to_numpy()
    rows["value"] = result.value
    rows["region_level"] = "district"
    for column in ("numerator", "denominator"):
        if column in rows.columns:
            rows[column] = float("nan")
    rows["method"] = np.where(result.by_rate, stats.APPORTIONED_BY_RATE, stats.APPORTIONED)
    rows["is_estimate"] = True
    rows["weights_period"] = spread["weights_year"].astype("str").to_numpy()
    return rows[list(counts.columns) + ["method", "is_estimate", "weights_period"]]


def _reference_years(periods: pd.Series) -> np.ndarray:
    """_reference_year of each period, worked out once per distinct period."""
    distinct = periods.unique()
    return np.array([_reference_year(p) for p in distinct], dtype="int64")[pd.Index(distinct).get_indexer(periods)]


def _nearest_earlier_weights_year(wanted: pd.DataFrame, weights: pd.DataFrame) -> pd.Series:
    """Per row of `wanted` (row, municipality, sex, year): the latest year at or before `year` that has
    district weights for its municipality and sex; null when none has."""
    available = weights[["municipality", "sex", "year"]].drop_duplicates().rename(columns={"year": "weights_year"})
    candidates = wanted[["row", "municipality", "sex", "year"]].merge(available, on=["municipality", "sex"])
    candidates = candidates[candidates["weights_year"] <= candidates["year"]]
    return candidates.groupby("row")["weights_year"].max().reindex(wanted["row"]).reset_index(drop=True)


def _share_rates(wanted: pd.DataFrame, shares: pd.DataFrame | None) -> pd.DataFrame:
    """The related district share each municipal count (row of `wanted`) is weighed by: row, region_code,
    rate. Of the count's own period, else of the nearest earlier one (by last year; of two periods ending
    in the same year, the last in text order). No rows for a count whose share begins later."""
    columns = ["row", "region_code", "rate"]
    if shares is None or shares.empty:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "region_code": pd.Series(dtype="str"),
                             "rate": pd.Series(dtype="float64")})
    shares = shares.astype({"region_code": "str", "sex": "str", "period": "str"})
    periods = shares[["sex", "period", "year"]].drop_duplicates()
    candidates = wanted[["row", "sex", "period", "year"]].merge(periods, on="sex", suffixes=("", "_share"))
    same = candidates["period_share"] == candidates["period"]
    candidates = candidates[same | (candidates["year_share"] <= candidates["year"])].assign(same=same)
    chosen = candidates.sort_values(["row", "same", "year_share", "period_share"]).drop_duplicates("row", keep="last")
    # Of a district given twice for one period, the last row counts.
    rates = shares.drop_duplicates(["region_code", "sex", "period"], keep="last")
    return chosen[["row", "sex", "period_share"]].merge(
        rates.rename(columns={"period": "period_share"}), on=["sex", "period_share"])[columns]


def _population_of(observations: pd.DataFrame, population: pd.DataFrame | None,
                   indicator: Indicator) -> pd.DataFrame:
    """The rows an apportioned indicator is weighed by, within its age band: of the indicator its
    apportion_by names, from `population`, or else the harmonised rows of `observations`."""
    wanted = indicator.apportion_by["indicator_id"]
    if population is None:
        rows = observations
        chosen = text_equals(rows["indicator_id"], wanted).to_numpy() & rows["harmonised"].to_numpy(bool)
    else:
        rows = population
        chosen = text_equals(rows["indicator_id"], wanted).to_numpy()
    # Selected with the band in one pass: the indicator's rows are most of the table, the band's few.
    return rows[chosen & in_age_band(rows["age_group"], indicator.apportion_by["age_group"])]


def breakdown(observations: pd.DataFrame, registry: dict[str, Indicator],
              population: pd.DataFrame | None = None) -> pd.DataFrame:
    """Harmonised observations with method / is_estimate / weights_period, plus the district rows and
    population age bands that apportionment makes. `population`: the rows to weigh by (default: the
    harmonised rows of `observations`, taken only while an age band is made, so a large population table
    is not held twice)."""
    unknown = sorted(set(observations["indicator_id"].unique()) - set(registry))
    if unknown:
        raise BreakdownError(f"indicators not in the registry: {unknown}")
    # Every row keeps its place and gets its method; only the district rows apportionment makes are new.
    # (Selecting each indicator's rows and concatenating them again would copy the whole table twice.)
    district_methods = {i: registry[i].district_method for i in observations["indicator_id"].unique()}
    not_available = [i for i, method in district_methods.items() if method == "not_available"]
    method = pd.Series("observed", index=observations.index, dtype=text_categories(["observed", "not_available"]))
    method[observations["indicator_id"].isin(not_available).to_numpy()
           & ~text_equals(observations["region_level"], "district").to_numpy()] = "not_available"
    parts = [observations.assign(method=method, is_estimate=False,
                                 weights_period=constant_text(None, len(observations)))]
    bands: dict[str, pd.DataFrame] = {}
    for indicator_id, method_name in sorted(district_methods.items()):
        indicator = registry[indicator_id]
        if method_name == "aggregated":
            raise BreakdownError(
                f"{indicator_id}: district_method aggregated (from delbydel/grunnkrets) is not implemented; "
                "only age bands are aggregated, for apportionment"
            )
        if method_name == "apportioned":
            _refuse_unless_count(indicator)
            band = indicator.apportion_by["age_group"]
            if band not in bands:
                bands[band] = aggregate_age_band(_population_of(observations, population, indicator), band)
            counts = observations[text_equals(observations["indicator_id"], indicator_id)]
            parts.append(apportion(counts, indicator, bands[band], _district_shares(observations, indicator)))
    # A band the tables already publish (10826's own 0-17, say) is not added a second time.
    published = set().union(*(map(tuple, part[["indicator_id", "age_group"]].drop_duplicates().astype("str").to_numpy())
                               for part in parts))
    for band, band_rows in bands.items():
        new = band_rows[[(i, band) not in published for i in band_rows["indicator_id"]]]
        parts.append(new[[c for c in parts[0].columns if c in new.columns]].assign(weights_period=None))
    result = concat_compact(parts)
    result["is_estimate"] = result["is_estimate"].astype(bool)
    return result


REPORT_COLUMNS = ["source", "table_id", "indicator_id", "region_code", "period", "sex", "age_group", "n_districts",
                  "district_sum", "total", "difference", "tolerance"]


def check_district_sums(frame: pd.DataFrame, registry: dict[str, Indicator],
                        decimals: dict[str, int] | None = None) -> pd.DataFrame:
    """Where a count is published for the districts (99 included) and their municipality alike, the
    districts must add up to the municipality within the source's rounding: 0.5 * 10**-decimals per
    district (decimals per indicator, default 0). Returns the differences beyond that; empty when all agree.
    Groups with a missing or suppressed district value are not checked.
    """
    decimals = decimals or {}
    counts = [i for i, indicator in registry.items() if indicator.kind == "count"]
    key = observation_key_without("region_code")
    # Only the columns the sums need are copied: the population table alone is millions of rows.
    observed = frame.loc[frame["indicator_id"].isin(counts) & frame["harmonised"] & (frame["method"] == "observed"),
                         [*key, "region_code", "region_level", "value"]]
    is_district = (observed["region_level"] == "district").to_numpy(bool)
    # The municipality of each row: a district's first four digits, else its own code.
    code_of_row, codes = pd.factorize(observed["region_code"], use_na_sentinel=False)
    codes = pd.Series(np.asarray(codes, dtype=object), dtype="str")
    municipality = municipality_numbers(code_of_row, codes.str[:4], codes, is_district)
    sums = district_sums_against_totals(observed, key, municipality, is_district,
                                        (observed["region_level"] == "municipality").to_numpy(bool))
    both = observed.iloc[sums.totals][key].assign(
        region_code=observed["region_code"].iloc[sums.totals].astype("str"), n_districts=sums.districts,
        district_sum=sums.district_sum, total=sums.total)
    both["tolerance"] = [0.5 * 10 ** -decimals.get(i, 0) * n for i, n in zip(both["indicator_id"], both["n_districts"])]
    both["difference"] = both["district_sum"] - both["total"]
    off = both[both["difference"].abs() > both["tolerance"]]
    return off.sort_values([*key, "region_code"], kind="stable")[REPORT_COLUMNS].reset_index(drop=True)
