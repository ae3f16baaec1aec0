"""A weighted survey share enters goal progress' tests over its Kish effective n (share x effective n
positives out of effective n); an unweighted one over its respondents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ci_pipeline.goals.series import _survey_series


def test_a_weighted_share_is_counted_over_its_effective_n():
    rows = pd.DataFrame({
        "wave": ["2024-spring", "2024-autumn", "2025-spring"], "wave_date": ["2024-04-15", "2024-10-15", "2025-04-15"],
        "district_code": "0301", "indicator_id": "survey_x", "group_type": "total", "group_value": "total",
        "n": [900, 820, np.nan], "effective_n": [579.6, 549.7, np.nan], "share_positive": [0.64, 0.67, np.nan],
        "ci_low": [0.6, 0.63, np.nan], "ci_high": [0.68, 0.71, np.nan], "weighted": [True, False, True],
        "status": [None, None, ":"], "provenance": "illustrative", "question_set_version": "2024-spring"})
    rows.loc[1, "effective_n"] = 820.0  # unweighted: the effective n is n
    frame = _survey_series(rows, "survey_x", ("0301",))["0301"].frame
    assert frame["denominator"].tolist()[:2] == [579.6, 820.0]
    assert frame["numerator"].tolist()[:2] == [round(0.64 * 579.6), round(0.67 * 820)]
    assert np.isnan(frame["numerator"].iloc[2]) and frame["status"].iloc[2] == ":"
    assert frame["value"].iloc[0] == pytest.approx(64.0)
