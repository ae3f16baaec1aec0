"""Benjamini-Hochberg q-values against statsmodels and the worked example of the original paper, and the
p-value rules for marts and reports."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from ci_pipeline import stats

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=300)

# Benjamini & Hochberg (1995), J R Stat Soc B 57:289-300, section 4: 15 p-values from a trial of
# thrombolytic treatment (Neuhaus et al. 1992); at level 0.05 the procedure rejects the four hypotheses
# with p <= 0.0095. The q-values were worked out by hand: q_(i) = min over j >= i of 15 p_(j) / j.
BH_PAPER_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719,
              0.6528, 0.7590, 1.0000]
BH_PAPER_Q = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571, 0.0638571, 0.0645, 0.0765, 0.486, 0.5811818,
              0.714875, 0.7532308, 0.8132143, 1.0]


def test_benjamini_hochberg_worked_example():
    q = stats.bh_q_values(BH_PAPER_P)
    assert q == pytest.approx(BH_PAPER_Q, abs=5e-8)
    assert (q < 0.05).sum() == 4
    shuffled = np.random.default_rng(0).permutation(len(BH_PAPER_P))
    assert stats.bh_q_values(np.asarray(BH_PAPER_P)[shuffled]) == pytest.approx(np.asarray(BH_PAPER_Q)[shuffled])


@PROPERTY
@given(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.04, 0.05, 1.0])), min_size=1, max_size=60))
def test_q_values_equal_statsmodels_fdr_bh(p_values):
    expected = multipletests(p_values, method="fdr_bh")[1]
    assert stats.bh_q_values(p_values) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_ties_missing_and_empty():
    assert stats.bh_q_values([0.01, 0.01, 0.03, 0.04]) == pytest.approx([0.02, 0.02, 0.04, 0.04])
    # a comparison that was not tested is not in the family: m = 2, and its q stays missing
    q = stats.bh_q_values([0.01, float("nan"), 0.04])
    assert q[0] == pytest.approx(0.02) and math.isnan(q[1]) and q[2] == pytest.approx(0.04)
    assert np.isnan(stats.bh_q_values([float("nan")] * 3)).all()
    assert len(stats.bh_q_values([])) == 0
    with pytest.raises(ValueError, match="within 0-1"):
        stats.bh_q_values([0.2, 1.5])


def test_q_values_within_families():
    frame = pd.DataFrame({
        "indicator_id": ["neet"] * 4 + ["low_income"] * 3,
        "comparison": ["norway", "norway", "oslo", "oslo", "norway", "norway", "norway"],
        "p": [0.01, 0.04, 0.03, float("nan"), 0.001, 0.2, 0.04],
    }, index=[10, 11, 12, 13, 14, 15, 16])
    q = stats.q_values_within(frame, "p", ["indicator_id", "comparison"])
    assert list(q.index) == list(frame.index)
    assert q.loc[[10, 11]].tolist() == pytest.approx(stats.bh_q_values([0.01, 0.04]).tolist())
    assert q.loc[12] == pytest.approx(0.03) and math.isnan(q.loc[13])
    assert q.loc[[14, 15, 16]].tolist() == pytest.approx(stats.bh_q_values([0.001, 0.2, 0.04]).tolist())
    with pytest.raises(ValueError, match="columns"):
        stats.q_values_within(frame, "p", ["family"])


# --- p-values in marts and reports ----------------------------------------------------------------------------


@pytest.mark.parametrize("p, text", [
    (0.0, "p < 0.001"), (4.75e-53, "p < 0.001"), (0.0004, "p < 0.001"), (0.001, "p = 0.001"),
    (0.0042, "p = 0.004"), (0.0321, "p = 0.032"), (0.0496, "p = 0.0496"), (0.04996, "p = 0.0499"),
    (0.05, "p = 0.050"), (0.0999, "p = 0.100"), (0.27, "p = 0.27"), (0.99, "p = 0.99"), (0.994, "p > 0.99"),
    (1.0, "p = 1"), (float("nan"), ""), (None, ""),
])
def test_p_value_display(p, text):
    assert stats.format_p_value(p) == text


def test_p_value_display_in_norwegian():
    assert stats.format_p_value(1e-9, decimal_mark=",") == "p < 0,001"
    assert stats.format_p_value(0.0321, decimal_mark=",") == "p = 0,032"


@PROPERTY
@given(st.one_of(st.floats(0, 1), st.floats(0, 1e-300), st.sampled_from([0.0, 0.001, 0.0495, 0.04999, 0.05, 1.0])))
def test_printed_p_never_reads_zero_or_exponent_and_agrees_with_the_significance_call(p):
    text = stats.format_p_value(p)
    assert "e" not in text and not re.fullmatch(r"p = 0(\.0*)?", text)
    number = float(re.search(r"[\d.]+$", text).group())
    if text.startswith("p = "):
        assert (number < stats.ALPHA) == (p < stats.ALPHA)


def test_p_for_mart():
    assert stats.p_for_mart(0.0) == stats.P_FLOOR > 0
    assert stats.p_for_mart(0.0) == 2.2250738585072014e-308
    assert stats.p_for_mart(0.03) == 0.03
    assert stats.p_for_mart(1 + 1e-12) == 1.0
    assert math.isnan(stats.p_for_mart(None)) and math.isnan(stats.p_for_mart(float("nan")))
    with pytest.raises(ValueError, match="within 0-1"):
        stats.p_for_mart(-0.1)
    with pytest.raises(ValueError, match="within 0-1"):
        stats.format_p_value(1.5)
