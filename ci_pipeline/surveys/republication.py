"""Whether a new file for a wave may replace the responses stored (and so published) before.

A republished wave is a differencing attack waiting to happen: the published cells of the old and the new
version subtract to the answers of exactly the people who were added, removed or changed. So a new file
is admitted only when, in every cell the marts publish (every indicator x district and Oslo x group of
survey_results, every indicator x district and Oslo of survey_change for the wave pairs it is part of),
the number of respondents it touches is 0 or at least the disclosure threshold (10). A respondent is
touched in an indicator's cell when they count for the indicator in one version and not the other, or
their district, sex, age band or answers to that indicator's questions differ between the versions; both
the cells they were in and the cells they are in now count.

Every earlier ingested version of the wave is compared, not only the last one: v3 - v1 is as easy to
compute as v3 - v2.
"""

from __future__ import annotations

import pandas as pd

from ci_pipeline.surveys.change import comparable_pairs
from ci_pipeline.surveys.codebook import Codebook, Indicator

GROUPS = (("total", None), ("sex", "sex"), ("age_band", "age_band"))


def _counted(responses: pd.DataFrame, codebook: Codebook, indicator: Indicator, wave_id: str) -> pd.DataFrame:
    """The respondents who count for the indicator (at least one answer on the scale), indexed by key, with
    their cell and a signature of everything that decides their contribution."""
    questions = [q.id for q in codebook.indicator_questions(indicator, wave_id)]
    answers = responses[questions]
    counted = (answers >= 0).fillna(False).any(axis=1).to_numpy()
    frame = responses.loc[counted, ["respondent_key", "district_code", "sex", "age_band"]]
    signature = frame[["district_code", "sex", "age_band"]].astype(str).agg("|".join, axis=1)
    for question in questions:
        signature = signature + "|" + responses.loc[counted, question].astype("string").fillna("")
    return frame.assign(signature=signature).set_index("respondent_key")


def _touched(old: pd.DataFrame, new: pd.DataFrame) -> pd.Index:
    both = old.index.intersection(new.index)
    changed = both[old.loc[both, "signature"].to_numpy() != new.loc[both, "signature"].to_numpy()]
    return old.index.difference(new.index).union(new.index.difference(old.index)).union(changed)


def _cell_counts(rows: pd.DataFrame, oslo_code: str, groups=GROUPS) -> pd.DataFrame:
    """Distinct touched respondents per district (and Oslo) x group from rows (key index, district, sex, band)."""
    cells = []
    for group_type, column in groups:
        value = rows[column] if column else pd.Series("total", index=rows.index)
        for district in (rows["district_code"], pd.Series(oslo_code, index=rows.index)):
            cells.append(pd.DataFrame({"key": rows.index, "district_code": district.to_numpy(),
                                       "group_type": group_type, "group_value": value.to_numpy()}))
    if not cells:
        return pd.DataFrame(columns=["district_code", "group_type", "group_value", "touched"])
    return (pd.concat(cells).drop_duplicates().groupby(["district_code", "group_type", "group_value"])
            .size().rename("touched").reset_index())


def touched_cells(old: pd.DataFrame, new: pd.DataFrame, codebook: Codebook, wave_id: str,
                  partners: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Respondents touched per published cell between two versions of a wave's stored responses.

    `partners`: stored responses of the other waves (wave id -> frame), for the survey_change cells of
    the wave pairs this wave is part of. Returns table, indicator_id, (from_wave, to_wave), district_code,
    group_type, group_value, touched; only cells with touched > 0."""
    frames = []
    pairs = comparable_pairs(codebook, [wave_id, *partners])
    for indicator in codebook.indicators:
        if not codebook.indicator_questions(indicator, wave_id):
            continue
        before, after = (_counted(f, codebook, indicator, wave_id) for f in (old, new))
        touched = _touched(before, after)
        rows = pd.concat([before.loc[before.index.intersection(touched)],
                          after.loc[after.index.intersection(touched)]])
        counts = _cell_counts(rows, codebook.oslo_code)
        frames.append(counts.assign(table="survey_results", indicator_id=indicator.id, pair=""))
        mine = pairs[(pairs["indicator_id"] == indicator.id)
                     & ((pairs["from_wave"] == wave_id) | (pairs["to_wave"] == wave_id))]
        for pair in mine.itertuples(index=False):
            partner_wave = pair.to_wave if pair.from_wave == wave_id else pair.from_wave
            partner = _counted(partners[partner_wave], codebook, indicator, partner_wave)
            paired = touched.intersection(partner.index)
            # survey_change places a person in the district they gave in the later wave
            located = rows.loc[rows.index.isin(paired)] if pair.to_wave == wave_id else partner.loc[paired]
            counts = _cell_counts(located, codebook.oslo_code, groups=GROUPS[:1])
            frames.append(counts.assign(table="survey_change", indicator_id=indicator.id,
                                        pair=f"{pair.from_wave}->{pair.to_wave}"))
    if not frames:
        return pd.DataFrame(columns=["table", "indicator_id", "pair", "district_code", "group_type",
                                     "group_value", "touched"])
    return pd.concat(frames, ignore_index=True)


def republication_problem(old: pd.DataFrame, new: pd.DataFrame, codebook: Codebook, wave_id: str,
                          partners: dict[str, pd.DataFrame], min_n: int) -> str | None:
    """Why replacing `old` by `new` would reveal fewer than `min_n` people by difference, or None."""
    cells = touched_cells(old, new, codebook, wave_id, partners)
    small = cells[(cells["touched"] > 0) & (cells["touched"] < min_n)]
    if small.empty:
        return None
    names = {codebook.oslo_code: codebook.oslo_name, **codebook.districts}
    examples = [
        f"{row.table} {row.indicator_id}{' ' + row.pair if row.pair else ''} {names.get(row.district_code)} "
        f"({row.group_value}): {row.touched}"
        for row in small.sort_values(["touched", "table", "indicator_id"]).head(3).itertuples(index=False)
    ]
    return (f"it changes the answers of fewer than {min_n} respondents in {len(small)} published cell(s) "
            f"(e.g. {'; '.join(examples)}), which the difference between the published versions would reveal")
