"""The one period type and parser (ci_pipeline.periods), for every kind and every side of a Period."""

from datetime import date

import pytest

from ci_pipeline.periods import PERIOD_KINDS, Period, PeriodError, parse_period


@pytest.mark.parametrize("text, kind, expected", [
    ("2021", None, Period("2021", "year", 2021, 2021)),
    ("2018-2020", None, Period("2018-2020", "multi_year", 2018, 2020)),
    ("2024K3", None, Period("2024K3", "quarter", 2024, 2024, 3)),
    ("2024M03", None, Period("2024M03", "month", 2024, 2024, 3)),
    ("2019-2020", "school_year", Period("2019-2020", "school_year", 2019, 2020)),
    ("2019/20", "school_year", Period("2019/20", "school_year", 2019, 2020)),
    ("1999/00", "school_year", Period("1999/00", "school_year", 1999, 2000)),
    ("2018-2020", "multi_year", Period("2018-2020", "multi_year", 2018, 2020)),
])
def test_parse(text, kind, expected):
    assert parse_period(text, kind) == expected


@pytest.mark.parametrize("text, kind, start, end, reference", [
    ("2021", None, date(2021, 1, 1), date(2022, 1, 1), date(2021, 1, 1)),
    # pooled figures are published on the geography of their last year
    ("2018-2020", None, date(2018, 1, 1), date(2021, 1, 1), date(2020, 1, 1)),
    ("2024K3", None, date(2024, 7, 1), date(2024, 10, 1), date(2024, 7, 1)),
    ("2024K4", None, date(2024, 10, 1), date(2025, 1, 1), date(2024, 10, 1)),
    ("2024M12", None, date(2024, 12, 1), date(2025, 1, 1), date(2024, 12, 1)),
    ("2023-2024", "school_year", date(2023, 8, 1), date(2024, 8, 1), date(2023, 8, 1)),
])
def test_calendar_days_and_reference_date(text, kind, start, end, reference):
    period = parse_period(text, kind)
    assert (period.start, period.end, period.reference_date) == (start, end, reference)


@pytest.mark.parametrize("text, span, time", [
    ("2021", (2021.0, 2022.0), 2021.0),
    ("2018-2020", (2018.0, 2021.0), 2020.0),
    ("2024K3", (2024.5, 2024.75), 2024.5),
    ("2024M01", (2024.0, 2024 + 1 / 12), 2024.0),
])
def test_span_and_time_in_decimal_years(text, span, time):
    period = parse_period(text)
    assert period.span == pytest.approx(span) and period.time == time


def test_a_range_is_multi_year_unless_the_table_says_school_year():
    assert parse_period("2019-2020").kind == "multi_year"
    assert parse_period("2019-2020", "school_year").kind == "school_year"
    assert set(PERIOD_KINDS) == {"year", "multi_year", "school_year", "quarter", "month"}


@pytest.mark.parametrize("text, kind, message", [
    ("last year", None, "'last year' is not a year, YYYY-YYYY, YYYYKn or YYYYMmm"),
    ("2020-2018", None, "'2020-2018' ends before it starts"),
    ("2024M13", None, "is not a year"),
    ("2024K5", None, "is not a year"),
    ("2021", "quarter", "'2021' is not a quarter"),
    ("2018-2020", "school_year", "a school year runs from one year into the next"),
    ("2021", "decade", "period_type 'decade' is not one of"),
])
def test_errors_name_the_period(text, kind, message):
    with pytest.raises(PeriodError, match=message):
        parse_period(text, kind)


def test_a_period_error_is_a_value_error():
    assert issubclass(PeriodError, ValueError)
