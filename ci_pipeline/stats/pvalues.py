"""p-values as the marts store them and as the report prints them: never "p = 0", never "4.75e-53".

Marts keep the raw p as a float (analysts re-rank and re-adjust them), with one change: a p-value that
underflowed to 0.0 (an effect so large that the tail probability is below the smallest double) is stored
as P_FLOOR, the smallest positive normal double (2.2e-308), which reads as "at most this" and keeps
-log10(p) and q-values finite. A p-value a hair above 1 from rounding is stored as 1.

The report shows p at a stated precision:
  p < 0.001                                  "p < 0.001"
  0.001 <= p < 0.1                           three decimals, "p = 0.004", "p = 0.032"
  0.1 <= p <= 0.99                           two decimals, "p = 0.27"
  p > 0.99                                   "p > 0.99" (and exactly 1: "p = 1")
with one guard: a p below alpha whose rounding would reach alpha (0.0496 -> "0.050") is shown to four
decimals, truncated ("p = 0.0499"), so the printed number never contradicts the significance call.
decimal_mark="," gives the Norwegian form ("p < 0,001").
"""

from __future__ import annotations

import math
import sys

from ci_pipeline.stats.common import ALPHA

P_FLOOR = sys.float_info.min
SMALLEST_SHOWN = 0.001


def p_for_mart(p: float | None) -> float:
    """The p-value as a mart stores it: NaN when there is none, 0.0 raised to P_FLOOR, 1 + rounding to 1."""
    if p is None or math.isnan(p):
        return math.nan
    if p < 0 or p > 1 + 1e-9:
        raise ValueError(f"a p-value must lie within 0-1, got {p}")
    return min(1.0, max(P_FLOOR, float(p)))


def format_p_value(p: float | None, *, alpha: float = ALPHA, decimal_mark: str = ".") -> str:
    """The p-value for a reader, by the rules in the module docstring; "" when there is no p-value."""
    if p is None or math.isnan(p):
        return ""
    if p < 0 or p > 1 + 1e-9:
        raise ValueError(f"a p-value must lie within 0-1, got {p}")
    if p < SMALLEST_SHOWN:
        text = f"p < {SMALLEST_SHOWN}"
    elif p >= 1:
        text = "p = 1"
    elif p > 0.99:
        text = "p > 0.99"
    else:
        decimals = 3 if p < 0.1 else 2
        shown = f"{p:.{decimals}f}"
        if p < alpha <= float(shown):
            shown = f"{math.floor(p * 10**4) / 10**4:.4f}"
        text = f"p = {shown}"
    return text.replace(".", decimal_mark)
