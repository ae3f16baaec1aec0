"""Survey weights: each wave's respondents raked, district by district, to the district's residents by age
band and by sex (stats.rake, iterative proportional fitting), with the weights trimmed.

Margins, per wave and district (the survey's age range, e.g. 10-25):
- district x age band: residents of the latest population year not after the wave's (SSB 10826, residents
  on 1 January; the earliest year there is when every year is later, said in a note);
- district x sex: the district's split by sex in the latest year not after the wave's of a table with a
  sex split (Oslo kommune's OK-BEF001, `population_sex_age`), applied to the district x age band total, so
  the two margins describe the same residents (the tables place a handful of residents differently).
  Without any sex split the district is raked to its age bands alone (a note says so).

Raking per district keeps between-district differences in sampling out of the trimming: a district that
was sampled at a tenth of the rate of another is weighted up fully; only weights far from their own
district's mean weight are trimmed, at TRIM_BOUNDS (0.3 to 3 times the district's mean weight: its
residents over its respondents). Cells the bounds cannot represent are collapsed, as survey
statisticians do with sparse cells: an age band whose residents its respondents cannot carry within the
bounds (none, or too few or too many of them) joins the neighbouring band that brings it closest to the
district's mean weight, until every level can be met; a split by sex the bounds cannot meet (a sex
without respondents, or too few of one) is left out, and so is the split by sex when both margins cannot
be met together. Each is noted. Every respondent of one district x sex x age band gets the same weight,
so weights are returned per such cell.

A wave that cannot be raked (a district with respondents but no residents in the table, age margins the
trimming bounds make impossible even when collapsed to one level) raises WeightingError naming the wave and district; the
survey marts then fail with that one line, and nothing is published.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ci_pipeline.stats import Margin, RakingError, kish_effective_n, rake
from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.tidy import distinct_rows

POPULATION_INDICATORS = ("population", "population_sex_age")
TRIM_BOUNDS = (0.3, 3.0)  # x the district's mean weight (its residents / its respondents)
METHOD = "raking"
UNWEIGHTED = "unweighted"


class WeightingError(ValueError):
    """A wave's respondents cannot be weighted to its population; the message names wave and district."""


@dataclass(frozen=True)
class WaveWeights:
    """How one wave was weighted. population_period: the year of the residents (1 January) of the
    district x age band margin; sex_period: the year of the split by sex (None: age bands only)."""

    wave: str
    population_period: str
    sex_period: str | None
    margins: str
    respondents: int
    trimmed: int
    iterations: int
    max_margin_error: float
    design_effect: float

    def metadata(self) -> dict:
        return {"population_period": self.population_period, "sex_period": self.sex_period,
                "margins": self.margins, "respondents": self.respondents, "trimmed": self.trimmed,
                "trim_bounds": list(TRIM_BOUNDS), "iterations": self.iterations,
                "max_margin_error": float(f"{self.max_margin_error:.3g}"),
                "design_effect": round(self.design_effect, 3)}


@dataclass
class SurveyWeights:
    """weights: wave, district_code, sex, age_band, weight (None when no wave could be weighted); waves:
    how each weighted wave was weighted; inputs: the population tables used, for the version manifest."""

    weights: pd.DataFrame | None
    waves: dict[str, WaveWeights] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)


# --- population -----------------------------------------------------------------------------------------


def district_population(population: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Residents per table x year x district x sex x age band from tidy population tables (SSB 10826 and
    Oslo kommune's OK-BEF001 shapes), in the codebook's districts and age range.

    SSB spells the 2004 Oslo districts "030101a"; the same digits without the suffix are the 1988-2003
    division, a different area, so within a table that has suffixed codes only they are used. sex is
    "total" where the table has no sex split."""
    rows = population[[column for column in ("indicator_id", "source", "table_id", "region_code", "period", "sex",
                                             "age_group", "value") if column in population.columns]]
    if "indicator_id" in rows.columns:
        rows = rows[rows["indicator_id"].isin(POPULATION_INDICATORS)]
    rows = rows[rows["value"].notna()]
    # a table without source or table_id columns (a bare frame) is one table named ""; groupby drops nulls
    tables, sources = (_per_distinct(rows[column], lambda values: (values.astype("str").fillna("").to_numpy(),))[0]
                       if column in rows.columns else np.full(len(rows), "", dtype=object)
                       for column in ("table_id", "source"))
    codes, ssb_spelled, in_codebook = _per_distinct(rows["region_code"], lambda values: _district_spelling(
        values, codebook))
    suffixed_tables = pd.unique(tables[ssb_spelled])
    keep = (ssb_spelled | ~pd.Series(tables).isin(suffixed_tables).to_numpy()) & in_codebook
    (ages,) = _per_distinct(rows["age_group"], lambda values: (
        pd.to_numeric(values.astype("str").str.extract(r"^(\d+)\+?$")[0], errors="coerce").to_numpy(),))
    low, high = codebook.age_range
    keep &= (ages >= low) & (ages <= high)
    (years,) = _per_distinct(rows["period"], lambda values: (values.astype("str").str[:4].astype(int).to_numpy(),))
    band_of_age = {age: codebook.age_band_for_age(age) for age in range(low, high + 1)}
    # text is made of the kept rows only: a population table has ten times as many rows outside the survey's
    # districts and ages
    kept = rows.index[keep]
    frame = pd.DataFrame({
        "source": pd.Series(sources[keep], index=kept, dtype="str"),
        "table_id": pd.Series(tables[keep], index=kept, dtype="str"),
        "year": pd.Series(years[keep], index=kept),
        "district_code": pd.Series(codes[keep], index=kept, dtype="str"),
        "sex": rows["sex"][keep].astype("str"),
        "age_band": pd.Series(ages[keep].astype(int), index=kept).map(band_of_age),
        "persons": rows["value"][keep].astype(float),
    })
    return frame.groupby(["source", "table_id", "year", "district_code", "sex", "age_band"], as_index=False)[
        "persons"].sum()


def _per_distinct(values: pd.Series, derive) -> tuple[np.ndarray, ...]:
    """derive(the distinct values), each of its arrays spread back over `values`: a population table repeats
    a few hundred codes over a hundred thousand rows, and pandas' string functions cost per row."""
    distinct, positions = distinct_rows(values.to_frame(), [values.name])
    return tuple(np.asarray(derived)[positions] for derived in derive(distinct[values.name]))


def _district_spelling(region_codes: pd.Series, codebook: Codebook) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(district code, whether SSB spelled it "030101a", whether it is a district of the codebook) per region
    code."""
    codes = region_codes.astype("str").str.strip()
    ssb_spelled = codes.str.fullmatch(r"\d{6}a")
    codes = codes.where(~ssb_spelled, codes.str[:6])
    return (codes.to_numpy(dtype=object), ssb_spelled.to_numpy(dtype=bool),
            codes.isin(list(codebook.districts)).to_numpy(dtype=bool))


def _table_label(rows: pd.DataFrame) -> str:
    source, table = rows[["source", "table_id"]].iloc[0]
    return f"SSB {table}" if source == "ssb" else (table or "population table")


def _pick_year(years: Sequence[int], wave_year: int) -> int:
    earlier = [year for year in years if year <= wave_year]
    return max(earlier) if earlier else min(years)


@dataclass(frozen=True)
class _Margins:
    age: pd.DataFrame  # district_code, age_band, persons
    sex: pd.DataFrame | None  # district_code, sex, persons (scaled to the age margin's district totals)
    age_year: int
    sex_year: int | None
    text: str
    tables: list[pd.DataFrame]


def wave_margins(persons: pd.DataFrame, wave_year: int, sexes: Sequence[str]) -> _Margins:
    """The district x age band and district x sex margins of one wave (rules in the module docstring)."""
    totals = persons[persons["sex"] == "total"]
    split = persons[persons["sex"].isin(list(sexes))]
    by_age = totals if not totals.empty else split
    age_year = _pick_year(sorted(by_age["year"].unique()), wave_year)
    age_rows = by_age[by_age["year"] == age_year]
    age = age_rows.groupby(["district_code", "age_band"], as_index=False)["persons"].sum()
    text = f"district x age band ({_table_label(age_rows)}, residents 1 January {age_year})"
    if split.empty:
        return _Margins(age, None, age_year, None, text, [age_rows])
    sex_year = _pick_year(sorted(split["year"].unique()), wave_year)
    sex_rows = split[split["year"] == sex_year]
    by_sex = sex_rows.groupby(["district_code", "sex"], as_index=False)["persons"].sum()
    shares = by_sex["persons"] / by_sex.groupby("district_code")["persons"].transform("sum")
    district_totals = age.groupby("district_code")["persons"].sum()
    sex = by_sex.assign(persons=shares * by_sex["district_code"].map(district_totals))
    sex = sex[sex["persons"].notna()]
    text += f"; district x sex ({_table_label(sex_rows)}, each district's split by sex on 1 January {sex_year})"
    return _Margins(age, sex, age_year, sex_year, text, [age_rows, sex_rows])


# --- raking -------------------------------------------------------------------------------------------


def _within_bounds(persons: float, respondents: float, total_persons: float, total_respondents: float) -> bool:
    """Whether a level's own mean weight (its residents over its respondents) lies within TRIM_BOUNDS x the
    district's mean weight: otherwise the trimmed weights cannot meet it."""
    if respondents == 0:
        return persons == 0
    ratio = (persons / respondents) / (total_persons / total_respondents)
    return TRIM_BOUNDS[0] <= ratio <= TRIM_BOUNDS[1]


def _collapsed_levels(bands: Sequence[str], respondents: dict[str, int], persons: dict[str, float]
                      ) -> dict[str, str]:
    """Age band -> its raking level. A band whose residents the trimmed weights of its respondents cannot
    represent (none, or too few or too many for the bounds) is joined to the neighbouring level whose
    union comes closest to the district's mean weight, repeatedly, until every level can be met."""
    groups = [[band] for band in bands]
    n_total, persons_total = sum(respondents.values()), _summed(persons[band] for band in sorted(persons))

    def sums(group):
        return _summed(persons.get(band, 0.0) for band in group), float(sum(respondents.get(band, 0) for band in group))

    def distance(group):  # how far the group's mean weight is from the district's, in log terms
        p, r = sums(group)
        return math.inf if r == 0 else abs(math.log(max(p, 1e-9) / r / (persons_total / n_total)))

    while len(groups) > 1:
        off = [i for i, group in enumerate(groups) if not _within_bounds(*sums(group), persons_total, n_total)]
        if not off:
            break
        worst = max(off, key=lambda i: distance(groups[i]))
        neighbours = [i for i in (worst - 1, worst + 1) if 0 <= i < len(groups)]
        neighbour = min(neighbours, key=lambda i: distance(groups[worst] + groups[i]))
        low, high = sorted((worst, neighbour))
        groups[low:high + 1] = [groups[low] + groups[high]]
    return {band: "+".join(group) for group in groups for band in group}


def _summed(values) -> float:
    """A sum as pandas' Series.sum (numpy's pairwise sum) adds up the same values, in the same order."""
    return float(np.sum(np.fromiter(values, dtype="float64")))


@dataclass(frozen=True)
class _District:
    """One district's respondent cells (sex, age band, n; in the order of `cells`) and its margins: residents
    per age band (bands in order) and per sex (in the margin's order; None without a split by sex)."""

    cells: list[tuple[str, str, int]]
    age: dict[str, float]
    sex: dict[str, float] | None


def _rake_district(district: _District, bands: Sequence[str], where: str
                   ) -> tuple[dict[tuple[str, str], float], object, list[str]]:
    """Weights per sex x age band of one district's respondents. Age bands the bounds cannot meet are
    collapsed first; a split by sex they cannot meet (one sex without respondents, or too few of one) is
    left out, and when the two margins cannot be met together within the bounds the district is raked to
    its age bands alone. Each of these is noted."""
    notes = []
    by_band: dict[str, int] = {}
    for _, band, n in district.cells:
        if not pd.isna(band):
            by_band[band] = by_band.get(band, 0) + n
    levels = _collapsed_levels(bands, by_band, district.age)
    merged = sorted({level for level in levels.values() if "+" in level})
    if merged:
        notes.append(f"{where}: age bands collapsed into {', '.join(merged)} (too few respondents for the "
                     "trimming bounds)")
    sexes, cell_bands, counts = (np.array(column, dtype=object) for column in zip(*district.cells))
    counts = counts.astype(int)
    sexes, cell_bands = np.repeat(sexes, counts), np.repeat(cell_bands, counts)
    respondents = pd.DataFrame({"sex": sexes, "age_level": [levels.get(band) for band in cell_bands]}, dtype=object)
    persons_by_band = pd.Series({band: district.age[band] for band in sorted(district.age)}, dtype="float64")
    age_totals = persons_by_band.groupby([levels.get(band) for band in persons_by_band.index]).sum()
    margins = [Margin(("age_level",), age_totals.to_dict())]
    if district.sex is not None:
        sex_total = _summed(district.sex.values())
        if all(_within_bounds(persons, int((sexes == sex).sum()), sex_total, len(respondents))
               for sex, persons in district.sex.items()):
            margins.append(Margin(("sex",), district.sex))
        else:
            notes.append(f"{where}: too few respondents of one sex for the trimming bounds; raked to age bands alone")
    try:
        result = rake(respondents, margins, trim=TRIM_BOUNDS)
    except RakingError:
        if len(margins) == 1:
            raise
        notes.append(f"{where}: age bands and sex cannot both be met within the trimming bounds; raked to age "
                     "bands alone")
        result = rake(respondents, margins[:1], trim=TRIM_BOUNDS)
    weights = result.weights.to_numpy()
    # every respondent of one sex x age band is raked alike: the cell's first respondent's weight is its weight
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ends = starts + counts
    cells: dict[tuple[str, str], list[float]] = {}
    for (sex, band, _), start, end in zip(district.cells, starts, ends):
        cells.setdefault((sex, band), []).extend(weights[start:end].tolist())
    lowest, highest = (np.array([extreme(found) for found in cells.values()]) for extreme in (min, max))
    if not np.isclose(lowest, highest, rtol=1e-9, atol=1e-8).all():
        raise WeightingError(f"{where}: respondents of one sex x age band got different weights")
    return {cell: cells[cell][0] for cell in sorted(cells)}, result, notes


def _by_district(margin: pd.DataFrame, column: str) -> dict[str, dict[str, float]]:
    """district -> {level of `column`: persons} of a margin, in the margin's row order."""
    found: dict[str, dict[str, float]] = {}
    for district, level, persons in zip(margin["district_code"].tolist(), margin[column].tolist(),
                                        margin["persons"].tolist()):
        found.setdefault(district, {})[level] = persons
    return found


def rake_waves(cells: pd.DataFrame, population: pd.DataFrame | None, codebook: Codebook) -> SurveyWeights:
    """Weights for every wave of `cells` (respondents per wave x district x sex x age band, from
    aggregate.respondent_cells), raked per district to `population` (tidy rows of the population tables).

    No population table, or none with the codebook's districts and ages: no wave is weighted (a note).
    Raises WeightingError when a wave cannot be raked (see the module docstring)."""
    if population is None or population.empty:
        return SurveyWeights(None, notes=["no population table given: no indicator is weighted"])
    persons = district_population(population, codebook)
    if persons.empty:
        note = "the population tables have no Oslo district rows in the codebook's age range: no indicator is weighted"
        return SurveyWeights(None, notes=[note])
    bands = [band.band for band in codebook.age_bands]
    weighted: dict[str, list] = {column: [] for column in ("wave", "district_code", "sex", "age_band", "weight")}
    notes, waves, used = [], {}, {}
    for wave_id, wave_cells in cells.groupby("wave", sort=True):
        wave_year = int(codebook.wave(wave_id).date[:4])
        margins = wave_margins(persons, wave_year, codebook.sexes)
        if margins.age_year > wave_year:
            notes.append(f"wave {wave_id}: population of {margins.age_year} used (none for {wave_year} or before)")
        if margins.sex is None:
            notes.append(f"wave {wave_id}: no population table with a split by sex; raked to district x age "
                         "band only")
        for table in margins.tables:
            key = tuple(table[["source", "table_id"]].iloc[0])
            used.setdefault(key, set()).add(int(table["year"].iloc[0]))
        age_of = _by_district(margins.age, "age_band")
        sex_of = None if margins.sex is None else _by_district(margins.sex, "sex")
        sexes, age_bands, counts = (wave_cells[column].tolist() for column in ("sex", "age_band", "n"))
        results, weight_of = [], {}
        for district, rows in wave_cells.groupby("district_code", sort=True).indices.items():
            where = f"wave {wave_id}, district {codebook.districts.get(district, district)}"
            if district not in age_of:
                raise WeightingError(f"{where}: the population table has no residents for it")
            own = _District([(sexes[row], age_bands[row], counts[row]) for row in rows], age_of[district],
                            None if sex_of is None else sex_of.get(district, {}))
            try:
                district_weights, result, district_notes = _rake_district(own, bands, where)
            except RakingError as error:
                raise WeightingError(f"{where}: {error}") from error
            notes.extend(district_notes)
            results.append(result)
            for (sex, band), weight in district_weights.items():
                weight_of[(district, sex, band)] = weight
                for column, value in zip(weighted, (wave_id, district, sex, band, weight)):
                    weighted[column].append(value)
        # the design effect over the wave's raked respondents, in the order of its cells
        keys = zip(wave_cells["district_code"].tolist(), sexes, age_bands)
        cell_weights, cell_counts = (np.array(column) for column in zip(
            *((weight_of[key], n) for key, n in zip(keys, counts) if key in weight_of)))
        waves[wave_id] = WaveWeights(
            wave_id, str(margins.age_year), None if margins.sex_year is None else str(margins.sex_year), margins.text,
            respondents=int(wave_cells["n"].sum()), trimmed=sum(r.n_trimmed for r in results),
            iterations=max(r.iterations for r in results),
            max_margin_error=max(r.max_margin_error for r in results),
            design_effect=float(cell_counts.sum() / kish_effective_n(np.repeat(cell_weights, cell_counts))))
    weights = pd.DataFrame({column: pd.Series(values, dtype="float64" if column == "weight" else "str")
                            for column, values in weighted.items()})
    inputs = _inputs(population, used)
    return SurveyWeights(weights, waves, notes, inputs)


def _inputs(population: pd.DataFrame, used: dict[tuple, set[int]]) -> list[dict]:
    """The population tables the weights came from, as version-manifest inputs."""
    found = []
    # what describes a table repeats on each of its rows
    described = population[[column for column in ("source", "table_id", "snapshot_sha256", "source_updated",
                                                  "provenance") if column in population.columns]].drop_duplicates()
    for (source, table), years in sorted(used.items()):
        rows = described
        if "table_id" in rows.columns:
            rows = rows[(rows["source"].astype("str") == source) & (rows["table_id"].astype("str") == table)]
        entry = {"source": source, "table_id": table, "used_for": "survey weights (raking margins)",
                 "periods": [str(year) for year in sorted(years)]}
        for column in ("snapshot_sha256", "source_updated", "provenance"):
            values = sorted(rows[column].dropna().astype("str").unique()) if column in rows.columns else []
            if values:
                entry[column] = values[0] if len(values) == 1 else values
        found.append(entry)
    return found
