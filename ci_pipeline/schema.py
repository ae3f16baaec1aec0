"""The column contract: the tidy observations and every mart, their columns, types and keys, written once.

For each dataset: the columns in order, each with its type (the pandas dtype of the column as the
published Parquet reads back) and a one-line description, and the primary key (the columns that
identify a row). Every reader gets it from here: the code that builds a dataset takes its column list
from it; MartStore writes it into every published Parquet file (each field's description, the table's
grain and primary key) and into catalog.duckdb (a COMMENT on every view and column); the Dagster layer
turns `contract(mart)` into its column schema; docs/DATA_DICTIONARY.md is generated from it
(`python -m ci_pipeline.dictionary`, `--check` exits 1 when stale); tests compare every mart the
pipeline publishes, and every expectation suite in checks/, with it.

Types are what is stored. Builders cast to the pandas types (str, float64, int64, Int64, bool, object), so a
text column that is null in every row of a build is still text; one quirk a reader should know: a bool
column with nulls is object (goal_progress gap_significant, is_estimate). Three types exist only in what is
published: `date` (Parquet DATE: the builder's ISO date text), `timestamp` (TIMESTAMP WITH TIME ZONE, UTC:
the builder's ISO-8601 instants, whichever offset spelling the source used) and `json` (Parquet JSON: the
builder's JSON text). MartStore.publish converts them through `to_arrow` (ci_pipeline.schema_types), refusing a value that does not
parse (naming the mart, column and row) rather than publishing it as null.
"""

from __future__ import annotations

from ci_pipeline.schema_types import (  # noqa: F401 - the contract's building blocks, re-exported
    DTYPES,
    SQL_TYPES,
    Column,
    Contract,
    ContractError,
    to_arrow,
)

# --------------------------------------------------------------------------------- tidy observations

_TIDY = (
    Column("source", "str", "ssb, fhi, oslo (Oslo kommune statistikkbank), reference (reference series), derived "
           "(a count of one table over a count of another) or survey"),
    Column("table_id", "str", "the source's table id (SSB, FHI, Oslo statbank table; reference entry; derived: "
           "numerator table/denominator table)"),
    Column("indicator_id", "str", "registry id (assets/indicators)"),
    Column("region_code", "str", "as the source spells it until harmonised; today's code after"),
    Column("region_level", "str", "country, county, municipality, district or sub_district"),
    Column("period", "str", "2021, 2018-2020 (multi-year), 2024K1, 2024M03 (ci_pipeline.periods)"),
    Column("period_type", "str", "year, multi_year, school_year, quarter or month"),
    Column("sex", "str", "total, male or female"),
    Column("age_group", "str", "total, a band such as 0-5 or 15-29, a single year such as 7, or 67+"),
    Column("value", "float64", "the figure; null when status is set"),
    Column("unit", "str", "persons, percent, nok, per_1000, ..."),
    Column("numerator", "float64", "where the source publishes it (FHI TELLER), or a derived value's count"),
    Column("denominator", "float64", "where the source publishes it (FHI NEVNER), or a derived value's base"),
    Column("status", "str", "null, or `.` `..` `:` `...` `-` `*` (FHI flags 1/2/3 become `..` `.` `:`)"),
    Column("source_updated", "str", "the source's updated / modifiedAt, ISO-8601 UTC"),
    Column("retrieved_at", "str", "when the answer was retrieved, ISO-8601 UTC"),
    Column("snapshot_sha256", "str", "sha256 of the archived body the row came from (derived: of every body "
           "used, comma-separated)"),
    Column("provenance", "str", "recorded, reconstructed or illustrative"),
)
_tidy = {column.name: column for column in _TIDY}

# One observation: what the unique-key expectation, harmonisation and the marts' sort order share.
OBSERVATION_KEY = ["source", "table_id", "indicator_id", "region_code", "period", "sex", "age_group"]

TIDY_OBSERVATIONS = Contract(
    "tidy_observations", "source x table x indicator x region x period x sex x age group, as the source "
    "publishes it (every `staging/<table>` asset)", _TIDY, tuple(OBSERVATION_KEY))


def observation_key_without(*columns: str) -> list[str]:
    """The observation key less some columns, in key order: a series (without period), the regions of
    one figure (without region_code)."""
    unknown = set(columns) - set(OBSERVATION_KEY)
    if unknown:
        raise ValueError(f"{sorted(unknown)} not in the observation key {OBSERVATION_KEY}")
    return [column for column in OBSERVATION_KEY if column not in columns]


# ---------------------------------------------------------------------------------------------- marts

INDICATOR_VALUES = Contract(
    "indicator_values", "source x table x indicator x region x period x sex x age group (the long fact "
    "table over all sources and levels)",
    (
        *(_tidy[name] for name in ("source", "table_id", "indicator_id")),
        Column("region_code", "str", "today's code; the historical region's code where there is no 1:1 successor"),
        Column("region_name", "str", "name (nb) from the regions dimension"),
        _tidy["region_level"],
        Column("original_region_code", "str", "the code as the source spelled it"),
        *(_tidy[name] for name in ("period", "period_type", "sex", "age_group", "value", "unit", "numerator",
                                   "denominator", "status")),
        Column("method", "str", "observed, aggregated, apportioned_by_rate (population x a related district share), "
               "apportioned (population alone, the weaker estimate), derived (a count of one table over a count of "
               "another) or not_available"),
        Column("is_estimate", "bool", "true for apportioned figures (both methods)"),
        Column("weights_period", "str", "the population year an apportioned figure is weighed by"),
        Column("harmonised", "bool", "region_code is today's code"),
        Column("harmonisation_rule", "str", "the named rule that mapped the code (geography.harmonise.RULES)"),
        Column("harmonisation_outcome", "str", "unchanged, respelled, renumbered, not_mapped or collision"),
        Column("aggregate_of_districts", "bool", "an SSB total over districts given the municipality's code"),
        Column("source_updated", "timestamp", "the source's updated / modifiedAt (null: the source gave none, or "
               "none that reads as a time)"),
        Column("retrieved_at", "timestamp", "when the answer was retrieved"),
        *(_tidy[name] for name in ("snapshot_sha256", "provenance")),
    ),
    tuple(OBSERVATION_KEY),
)

REGIONS = Contract(
    "regions", "region code x validity interval (current and historical)",
    (
        Column("code", "str", "0 (Norway), 2-digit county, 4-digit municipality, 6-digit district; `030101@1988` "
               "for an older division that reused today's digits"),
        Column("name_nb", "str", "name in Norwegian"),
        Column("name_en", "str", "name in English (the country only)"),
        Column("level", "str", "country, county, municipality or district"),
        Column("parent_code", "str", "the county of a municipality, the municipality of a district"),
        Column("valid_from", "date", "first day of validity (ISO date); null = since before the history"),
        Column("valid_to", "date", "first day no longer valid (exclusive); null = current"),
        Column("is_current", "bool", "valid today"),
        Column("is_unknown_district", "bool", "the district 99 'unknown' of a municipality"),
        Column("source", "str", "klass, ssb (older divisions from table 10826's labels) or constant"),
        Column("classification_id", "str", "KLASS classification: 131, 104 or 103"),
        Column("classification_versions", "str", "the KLASS versions (or labels) the row comes from"),
        Column("provenance", "str", "recorded, reconstructed or illustrative"),
    ),
    ("code", "valid_from"),
)

INDICATORS = Contract(
    "indicators", "indicator (the registry, assets/indicators/*.yaml)",
    (
        Column("indicator_id", "str", "registry id"),
        Column("name_nb", "str", "name in Norwegian"),
        Column("name_en", "str", "name in English"),
        Column("definition", "str", "what is measured"),
        Column("unit", "str", "persons, percent, nok, per_1000, ..."),
        Column("polarity", "str", "higher_is_better or higher_is_worse"),
        Column("kind", "str", "share, count, rate or amount"),
        Column("sources", "json", "the catalogue entries it comes from, a JSON list"),
        Column("numerator", "str", "what is counted"),
        Column("denominator", "str", "out of what"),
        Column("test", "str", "binomial, poisson or none"),
        Column("pooling_years", "Int64", "years pooled for a figure"),
        Column("suppression_min_numerator", "Int64", "smallest numerator published"),
        Column("suppression_min_denominator", "Int64", "smallest denominator published"),
        Column("district_method", "str", "observed, aggregated, apportioned, derived or not_available"),
        Column("apportion_by_indicator_id", "str", "the population indicator an apportioned count is spread by"),
        Column("apportion_by_age_group", "str", "its age group"),
        Column("apportion_by_share_indicator_id", "str", "the related district share that weighs the population "
               "(null: population alone, the weaker estimate)"),
        Column("apportion_by_share_age_group", "str", "that share's age group"),
        Column("apportionment_assumption", "str", "what the apportioned district figures assume, in words"),
        Column("goals", "str", "goal ids, comma-separated"),
    ),
    ("indicator_id",),
)

_GOALS = (
    Column("goal_id", "str", "goal id"),
    Column("goal_name_nb", "str", "goal name in Norwegian"),
    Column("goal_name_en", "str", "goal name in English"),
    Column("goal_description", "str", "what the goal is about"),
    Column("indicator_id", "str", "registry id, or survey_... for a survey indicator"),
    Column("data_source", "str", "statistics or survey"),
    Column("source", "str", "survey, or the source the goal follows (null: the only one)"),
    Column("age_group", "str", "the age group followed; null = the only one"),
    Column("scope", "str", "city, each_district or gap"),
    Column("headline", "bool", "the goal is judged on this indicator (false: a supporting indicator, shown only)"),
    Column("polarity", "str", "higher_is_better or higher_is_worse"),
    Column("baseline_period", "str", "the period progress is measured from"),
    Column("target_form", "str", "absolute, relative or gap_closing (null: a supporting indicator without target)"),
    Column("target_value", "float64", "absolute: the target, in the indicator's unit (null for the other forms)"),
    Column("target_change_pct", "float64", "relative: percent change from each region's own baseline"),
    Column("target_close_pct", "float64", "gap_closing: percent of the distance to the reference to close"),
    Column("target_reference", "str", "gap_closing: oslo, norway or best_district (its figure at baseline)"),
    Column("target_overrides", "json", "per-region overrides, a JSON object: region code -> target and reason"),
    Column("target_year", "int64", "the year the target is for"),
)
_goal = {column.name: column for column in _GOALS}

GOALS = Contract("goals", "goal x indicator x scope (assets/goals.yaml)", _GOALS, ("goal_id", "indicator_id", "scope"))

GOAL_PROGRESS = Contract(
    "goal_progress", "goal x indicator x scope x region (Oslo, each bydel, Norway), plus a gap row per gap goal",
    (
        _goal["goal_id"],
        _goal["indicator_id"],
        Column("indicator_name_en", "str", "indicator name in English"),
        Column("indicator_name_nb", "str", "indicator name in Norwegian (null for survey indicators)"),
        _goal["data_source"],
        Column("source", "str", "ssb, fhi, oslo, reference, derived or survey"),
        Column("table_id", "str", "the table the series comes from"),
        Column("region_code", "str", "0 (Norway), 0301 (Oslo) or a bydel 030101-030115"),
        Column("region_name", "str", "region name"),
        Column("region_level", "str", "country, municipality or district"),
        Column("measure", "str", "value, or gap (best vs worst bydel)"),
        _goal["scope"],
        Column("headline", "bool", "a row the goal is judged on (never for a supporting indicator)"),
        Column("target_applies", "bool", "the row has a target: Oslo for a city goal, Oslo and each bydel for an "
               "each_district goal, the gap row for a gap goal"),
        Column("unit", "str", "the indicator's unit"),
        Column("polarity", "str", "higher_is_better or higher_is_worse (gap rows: higher_is_worse)"),
        _goal["baseline_period"],
        Column("baseline_value", "float64", "value in the baseline period"),
        Column("baseline_status", "str", "status symbol of the baseline (null: it has a value)"),
        Column("latest_period", "str", "the latest period with a row"),
        Column("latest_value", "float64", "value in the latest period"),
        Column("latest_status", "str", "status symbol of the latest period (null: it has a value)"),
        Column("latest_numerator", "float64", "numerator of the latest value"),
        Column("latest_denominator", "float64", "denominator of the latest value"),
        Column("latest_ci_low", "float64", "95 % interval, lower bound (Wilson / Garwood)"),
        Column("latest_ci_high", "float64", "95 % interval, upper bound"),
        Column("n_years", "int64", "years pooled in the latest figure (0 for survey waves and gaps)"),
        Column("question_set_version", "str", "survey question set of the latest wave"),
        Column("target_value", "float64", "this region's own target, in the indicator's unit (null: none applies or "
               "it cannot be set)"),
        _goal["target_year"],
        Column("target_form", "str", "absolute, relative, gap_closing, or override (a per-region override set it)"),
        Column("target_reference", "str", "what the target is measured from: own_baseline (relative), oslo, norway "
               "or best_district (gap_closing); null for an absolute target"),
        Column("target_reference_value", "float64", "that reference's figure at baseline"),
        Column("target_note", "str", "how the target was set for this region, or why it could not be"),
        Column("progress_pct", "float64", "share of the baseline-to-target distance covered in the good direction "
               "(100 = reached); null when the baseline already meets the target"),
        Column("progress_display_pct", "float64", "progress_pct capped to -100..100 for display"),
        Column("progress_flag", "str", "above_100 or below_minus_100 where progress_pct was capped"),
        Column("expected_progress_pct", "float64", "the progress a straight line to the target year expects by now"),
        Column("change_direction", "str", "improved, worsened or unchanged since the baseline, by polarity"),
        Column("meets_target", "object", "the latest value meets the target (bool, null without both)"),
        Column("status", "str", "on_track, off_track, target_met_at_baseline (and still met), target_no_longer_met (met at baseline, not now), "
               "insufficient_data or no_target"),
        Column("status_reason", "str", "why, in words"),
        Column("trend_test", "str", "the trend test: quasi_binomial, quasi_poisson, wls_known_se or ols"),
        Column("trend_status", "str", "tested, too_few_points, no_variation, unbounded_slope, not_converged or "
               "estimates_only"),
        Column("trend_n_points", "int64", "periods in the trend test (non-overlapping, estimates left out)"),
        Column("trend_n_estimates_excluded", "int64", "estimate (apportioned) periods left out of the test"),
        Column("trend_slope", "float64", "slope per year on trend_slope_scale"),
        Column("trend_slope_scale", "str", "log_odds (quasi_binomial), log_rate (quasi_poisson: exp = yearly rate "
               "ratio) or value (the indicator's unit)"),
        Column("trend_se", "float64", "standard error of the slope (scaled by the dispersion)"),
        Column("trend_df", "Int64", "residual degrees of freedom of the test"),
        Column("trend_dispersion", "float64", "Pearson chi-squared / df (null for ols); above 1 widens the test"),
        Column("trend_p_value", "float64", "raw p-value of the trend test (never 0: at least 2.2e-308)"),
        Column("trend_q_value", "float64", "Benjamini-Hochberg q-value within goal x indicator x scope x measure"),
        Column("trend_significant", "bool", "tested and q < alpha"),
        Column("trend_direction", "str", "improving, worsening or no_change by the slope and polarity"),
        Column("trend_label", "str", "improving_significant, worsening_significant, not_significant, unconfirmed, "
               "not_tested or illustrative (made-up inputs are never called significant)"),
        Column("trend_reason", "str", "why that label, in words"),
        Column("comparison_oslo", "str", "better, worse (q < alpha), not_significant or not_tested"),
        Column("comparison_oslo_test", "str", "the test used"),
        Column("comparison_oslo_p_value", "float64", "its raw p-value (never 0)"),
        Column("comparison_oslo_q_value", "float64", "Benjamini-Hochberg q-value within goal x indicator x scope"),
        Column("comparison_oslo_reference_area", "str", "rest_of_oslo (Oslo minus the bydel) or oslo (Oslo's figure "
               "taken as fixed, without counts)"),
        Column("comparison_oslo_reference_value", "float64", "the figure tested against: that area's value"),
        Column("comparison_norway", "str", "better, worse (q < alpha), not_significant or not_tested"),
        Column("comparison_norway_test", "str", "the test used"),
        Column("comparison_norway_p_value", "float64", "its raw p-value (never 0)"),
        Column("comparison_norway_q_value", "float64", "Benjamini-Hochberg q-value within goal x indicator x scope"),
        Column("comparison_norway_reference_value", "float64", "Norway's figure, taken as fixed"),
        Column("comparison_note", "str", "why a comparison was not tested"),
        Column("gap_best_region_code", "str", "gap rows: the best bydel"),
        Column("gap_worst_region_code", "str", "gap rows: the worst bydel"),
        Column("gap_n_districts", "Int64", "gap rows: bydeler with a value (null on value rows)"),
        Column("gap_test", "str", "gap rows: the test of best against worst"),
        Column("gap_p_value", "float64", "gap rows: its raw p-value (never 0)"),
        Column("gap_q_value", "float64", "gap rows: its Benjamini-Hochberg q-value"),
        Column("gap_significant", "object", "gap rows: q < alpha (bool, null on value rows)"),
        Column("method", "str", "district method of the latest figure"),
        Column("is_estimate", "object", "the latest figure is an estimate (bool, null without one)"),
        Column("provenance", "str", "the worst provenance of the figures used"),
        Column("alpha", "float64", "significance level of the tests (two-sided)"),
    ),
    ("goal_id", "indicator_id", "scope", "measure", "region_code"),
)

_survey = {column.name: column for column in (
    Column("district_code", "str", "0301 (Oslo) or a bydel"),
    Column("indicator_id", "str", "survey indicator id (survey_...)"),
    Column("status", "str", "null, or `:` (suppressed)"),
    Column("provenance", "str", "recorded or illustrative"),
)}

SURVEY_RESULTS = Contract(
    "survey_results", "wave x district x indicator x group (suppressed cells keep their row)",
    (
        Column("wave", "str", "survey wave id, e.g. 2024-spring"),
        Column("wave_date", "date", "the wave's date"),
        _survey["district_code"],
        Column("district_name", "str", "district name"),
        Column("focus_area", "str", "the codebook's focus area"),
        _survey["indicator_id"],
        Column("question_set_version", "str", "the questions asked; no trend across a change"),
        Column("question_text_nb", "str", "the questions behind the figure as asked in the wave, in Norwegian (the "
                                          "codebook's text_nb; several joined by ' / ')"),
        Column("question_text_en", "str", "the same in English (the codebook's text)"),
        Column("group_type", "str", "total (everyone, as `total` in indicator_values), sex or age_band"),
        Column("group_value", "str", "total, the sex or the age band"),
        Column("n", "Int64", "respondents (null when suppressed)"),
        Column("effective_n", "float64", "the sample size the interval uses: n, or for a weighted cell n over the "
                                         "pooled Kish design effect of its level (wave x indicator; Oslo or the "
                                         "districts); null exactly where n is"),
        Column("share_positive", "float64", "share answering positively, 0-1 (weighted where `weighted`)"),
        Column("mean", "float64", "mean score"),
        Column("ci_low", "float64", "Wilson 95 % interval over effective_n, lower bound, 0-1"),
        Column("ci_high", "float64", "Wilson 95 % interval over effective_n, upper bound, 0-1"),
        Column("weighted", "bool", "weighted to the district's population (the indicator is, and the wave could be)"),
        Column("weighting", "str", "raking (district by district to age band and sex margins, weights trimmed at "
                                   "0.3-3 x the district's mean weight) or unweighted"),
        Column("weighting_margins", "str", "the raking margins and the population tables and dates they come from "
                                           "(null unweighted)"),
        Column("population_period", "str", "the year of the residents (1 January) the weights are raked to (null "
                                           "unweighted)"),
        _survey["status"],
        _survey["provenance"],
    ),
    ("wave", "district_code", "indicator_id", "group_type", "group_value"),
)

SURVEY_CHANGE = Contract(
    "survey_change", "consecutive waves x district x indicator (people who answered both)",
    (
        Column("from_wave", "str", "earlier wave"),
        Column("to_wave", "str", "later wave"),
        _survey["district_code"],
        _survey["indicator_id"],
        Column("n_pairs", "Int64", "people in both waves (null when suppressed)"),
        Column("share_improved", "float64", "share whose answer improved, 0-1"),
        Column("share_unchanged", "float64", "share unchanged"),
        Column("share_worsened", "float64", "share worsened"),
        Column("mean_change", "float64", "mean change in score"),
        _survey["status"],
        _survey["provenance"],
    ),
    ("from_wave", "to_wave", "district_code", "indicator_id"),
)

STORIES = Contract(
    "stories", "story file in assets/stories/ (a partner's account behind a curve)",
    (
        Column("story_id", "str", "the file's name without .md"),
        Column("file", "str", "the file, relative to the repository"),
        Column("sha256", "str", "sha256 of the file"),
        Column("title", "str", "the story's title"),
        Column("kind", "str", "story, strategy or partner_action"),
        Column("goal_id", "str", "the goal it is about (null: only an indicator)"),
        Column("indicator_id", "str", "the indicator it is about (null: the whole goal)"),
        Column("region_code", "str", "0301 (Oslo) or a bydel 030101-030115"),
        Column("region_name", "str", "region name"),
        Column("period", "str", "the period it speaks of: a year, a range of years or a survey wave"),
        Column("partner", "str", "who wrote it"),
        Column("written_on", "date", "when it was written"),
        Column("is_example", "bool", "an example shipped with the project, not a partner's account"),
        Column("body_markdown", "str", "the text, in the safe Markdown subset the report renders"),
    ),
    ("story_id",),
)

EXCLUSION_COSTS = Contract(
    "exclusion_costs", "cost of exclusion (Utenforregnskapet-style; ci_pipeline/costs.py): people outside x a cited "
    "unit cost, per unit cost x area x year, and the value of reaching each work-attachment goal",
    (
        Column("measure", "str", "cost_of_exclusion (everyone counted in the year) or value_of_reaching_goal (the "
                                 "people fewer outside at the goal's target share)"),
        Column("goal_id", "str", "the goal (value_of_reaching_goal rows; null otherwise)"),
        Column("region_code", "str", "0301 (Oslo) or a bydel 030101-030115"),
        Column("region_name", "str", "region name"),
        Column("region_level", "str", "municipality or district"),
        Column("period", "str", "the year of the count (the goal's latest period on goal rows)"),
        Column("indicator_id", "str", "the indicator whose numerator counts the people"),
        Column("group_nb", "str", "who is counted, in Norwegian"),
        Column("group_en", "str", "who is counted, in English"),
        Column("persons", "float64", "people counted (goal rows: people fewer outside at the target, 0 where met)"),
        Column("target_value", "float64", "goal rows: the area's target share, percent"),
        Column("target_persons", "float64", "goal rows: the people outside at the target share of the latest "
                                            "denominator"),
        Column("unit_cost_id", "str", "the unit cost (assets/exclusion_costs.yaml)"),
        Column("unit_cost_basis", "str", "lifetime_present_value or per_person_year"),
        Column("unit_cost_source_nok", "float64", "the unit cost as the source gives it, NOK of its price base"),
        Column("unit_cost_price_base_year", "int64", "the price base of the source's figure"),
        Column("unit_cost_nok", "float64", "the unit cost in NOK of price_year (CPI-adjusted, to the thousand)"),
        Column("unit_cost_low_nok", "float64", "low end of the unit cost's range, NOK of price_year"),
        Column("unit_cost_high_nok", "float64", "high end of the unit cost's range, NOK of price_year"),
        Column("price_year", "int64", "the price year of every NOK figure in the row"),
        Column("cpi_factor", "float64", "CPI of price_year over CPI of the price base (SSB 03014, annual average)"),
        Column("cost_nok", "float64", "persons x unit_cost_nok"),
        Column("cost_low_nok", "float64", "persons x unit_cost_low_nok"),
        Column("cost_high_nok", "float64", "persons x unit_cost_high_nok"),
        Column("range_basis", "str", "source (the source's range) or assumed (the project's, see range_note)"),
        Column("range_note", "str", "how the range was set"),
        Column("certainty", "str", "low, medium or high: how far the figure can be trusted (all low today: "
                                   "lifetime costs applied to a year's count are upper bounds)"),
        Column("citation", "str", "the unit cost's source: author (year): title, where published, URL"),
        Column("cpi_citation", "str", "the price index used"),
        Column("assumption_nb", "str", "what the unit cost assumes, in Norwegian"),
        Column("assumption_en", "str", "what the unit cost assumes, in English"),
        Column("is_estimate", "bool", "the count is an apportioned estimate"),
        Column("method", "str", "district method of the count"),
        Column("provenance", "str", "the worst provenance of the count and the price index"),
        Column("illustrative", "bool", "made-up inputs: the figure only shows how the mart works"),
    ),
    ("measure", "indicator_id", "unit_cost_id", "region_code", "period", "goal_id"),
)

MARTS: dict[str, Contract] = {contract.name: contract for contract in (
    INDICATOR_VALUES, REGIONS, INDICATORS, GOALS, GOAL_PROGRESS, SURVEY_RESULTS, SURVEY_CHANGE, STORIES,
    EXCLUSION_COSTS)}
CONTRACTS: dict[str, Contract] = {TIDY_OBSERVATIONS.name: TIDY_OBSERVATIONS, **MARTS}

# The column lists the builders use.
TIDY_COLUMNS = TIDY_OBSERVATIONS.names
INDICATOR_VALUE_COLUMNS = INDICATOR_VALUES.names
REGION_COLUMNS = REGIONS.names
INDICATOR_COLUMNS = INDICATORS.names
GOALS_COLUMNS = GOALS.names
PROGRESS_COLUMNS = GOAL_PROGRESS.names
STORY_COLUMNS = STORIES.names


def contract(name: str) -> Contract:
    """The contract of a dataset (a mart, or tidy_observations), for every reader that describes it: the
    Parquet field metadata, the catalogue's comments, the data dictionary, Dagster's column schema."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(f"no contract for {name!r} in ci_pipeline/schema.py (known: {', '.join(CONTRACTS)})") from None
