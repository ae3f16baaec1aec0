"""Pooling of single years into multi-year periods, as FHI does (MEASUREMENT.md 2.4 and 10.3): numerators
and denominators are summed over the period (never an average of rates) and n_years recorded; a period is
suppressed (':') when >= 20 % of its years were suppressed at source (FHI's anon_tot_tol 0.2), and marked
missing ('..') when >= 20 % of its years have no row at all."""

from __future__ import annotations

import pandas as pd

SUPPRESSED_SHARE_LIMIT = 0.2


def pool_years(yearly: pd.DataFrame, window: int, scale: float = 100.0) -> pd.DataFrame:
    """Pool single-year numerators and denominators into moving windows of `window` years.

    yearly has columns year (int), numerator, denominator, status (null or a suppression symbol) for
    one series. Returns one row per window ending at each year from the first complete window on:
    period ("2018-2020"), first_year, last_year, numerator, denominator (sums over the years with
    values), value (numerator / denominator * scale), n_years (years that contributed), n_suppressed,
    n_missing, status (':' when >= 20 % of the window's years were suppressed, '..' when >= 20 % have
    no row, else null).
    """
    if window < 1:
        raise ValueError(f"pooling window must be at least 1 year, got {window}")
    missing_columns = {"year", "numerator", "denominator", "status"} - set(yearly.columns)
    if missing_columns:
        raise ValueError(f"pooling input lacks columns {sorted(missing_columns)}")
    if yearly["year"].duplicated().any():
        duplicated = sorted(yearly.loc[yearly["year"].duplicated(), "year"].tolist())
        raise ValueError(f"pooling input has more than one row for years {duplicated}")
    by_year = yearly.set_index("year")
    has_value = by_year["status"].isna() & by_year["numerator"].notna() & by_year["denominator"].notna()
    bad_values = by_year["status"].isna() & ~has_value
    if bad_values.any():
        raise ValueError(
            f"years {sorted(by_year.index[bad_values].tolist())} have neither a status symbol nor "
            "both numerator and denominator"
        )
    rows = []
    years = sorted(by_year.index)
    for last_year in range(years[0] + window - 1, years[-1] + 1):
        span = range(last_year - window + 1, last_year + 1)
        present = [year for year in span if year in by_year.index]
        contributing = [year for year in present if has_value[year]]
        n_suppressed = len(present) - len(contributing)
        n_missing = window - len(present)
        if n_suppressed / window >= SUPPRESSED_SHARE_LIMIT:
            status = ":"
        elif n_missing / window >= SUPPRESSED_SHARE_LIMIT:
            status = ".."
        else:
            status = None
        numerator = float(by_year.loc[contributing, "numerator"].sum()) if status is None else None
        denominator = float(by_year.loc[contributing, "denominator"].sum()) if status is None else None
        value = None
        if status is None and denominator:
            value = numerator / denominator * scale
        rows.append(
            {
                "period": f"{span[0]}-{last_year}" if window > 1 else str(last_year),
                "first_year": span[0],
                "last_year": last_year,
                "numerator": numerator,
                "denominator": denominator,
                "value": value,
                "n_years": len(contributing) if status is None else 0,
                "n_suppressed": n_suppressed,
                "n_missing": n_missing,
                "status": status,
            }
        )
    pooled = pd.DataFrame(rows, columns=[
        "period", "first_year", "last_year", "numerator", "denominator", "value",
        "n_years", "n_suppressed", "n_missing", "status",
    ]).astype({"numerator": "float64", "denominator": "float64", "value": "float64"})
    # object dtype keeps None for "no symbol" (pandas would turn it into NaN in a string column)
    pooled["status"] = pd.Series([row["status"] for row in rows], dtype=object)
    return pooled
