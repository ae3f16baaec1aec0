"""Compact text columns (ci_pipeline.tidy): categoricals that behave as text and join without turning into
Python objects, and plain text again where a mart is published."""

import re

import numpy as np
import pandas as pd

from ci_pipeline.tidy import compact, concat_compact, plain, text_equals, text_matches


def _frame(values, numbers):
    return pd.DataFrame({"code": pd.array(values, dtype="str"), "value": numbers})


def test_compact_sorts_and_compares_as_text():
    frame = compact(_frame(["b", "a", None, "c"], [1.0, 2.0, 3.0, 4.0]))
    column = frame["code"]
    assert isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered
    assert list(column.cat.categories) == ["a", "b", "c"]
    assert frame.sort_values("code")["value"].tolist() == [2.0, 1.0, 4.0, 3.0]
    assert (column.min(), column.max()) == ("a", "c")
    assert (column == "b").tolist() == [True, False, False, False]
    # unchanged values, plain text again
    assert plain(frame)["code"].tolist()[:2] == ["b", "a"] and plain(frame)["code"].dtype == "str"


def test_concat_compact_unions_categories_where_pd_concat_gives_objects():
    left = compact(_frame(["x", "y"], [1.0, 2.0]))
    right = compact(_frame(["z", "x", None], [3.0, 4.0, 5.0]))
    assert pd.concat([left, right], ignore_index=True)["code"].dtype != left["code"].dtype
    joined = concat_compact([left, right])
    assert isinstance(joined["code"].dtype, pd.CategoricalDtype)
    assert list(joined["code"].cat.categories) == ["x", "y", "z"]
    assert joined["code"].tolist()[:4] == ["x", "y", "z", "x"] and pd.isna(joined["code"].iloc[4])
    assert joined["value"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    # a plain text frame joins a compact one: same values, compact result
    mixed = concat_compact([left, _frame(["w"], [6.0])])
    assert mixed["code"].tolist() == ["x", "y", "w"]
    assert list(mixed["code"].cat.categories) == ["w", "x", "y"]


def test_concat_compact_joins_arrow_tables_read_from_parquet_as_it_joins_their_frames(tmp_path):
    import pyarrow.parquet as pq

    frames = [compact(_frame(["y", None, "x"], [1.0, np.nan, 3.0])),
              _frame(["w", "y"], [4.0, 5.0]),  # plain text: stored as an Arrow string column
              compact(_frame([], [])),
              compact(pd.DataFrame({"code": pd.array(["z"], dtype="str"), "value": [6.0], "extra": [7.0]}))]
    tables = []
    for number, frame in enumerate(frames):
        frame.to_parquet(tmp_path / f"{number}.parquet", index=False)
        tables.append(pq.read_table(tmp_path / f"{number}.parquet"))
    assert [str(table.schema.field("code").type).split("<")[0] for table in tables] == [
        "dictionary", "large_string", "dictionary", "dictionary"]
    from_frames = concat_compact([pd.read_parquet(tmp_path / f"{number}.parquet") for number in range(len(frames))])
    for parts in (tables, [frames[0], *tables[1:]]):
        joined = concat_compact(parts)
        pd.testing.assert_frame_equal(joined, from_frames, check_exact=True)
        assert joined["code"].array.codes.dtype == from_frames["code"].array.codes.dtype
    assert list(from_frames["code"].cat.categories) == ["w", "x", "y", "z"]
    assert from_frames["extra"].isna().sum() == 5
    # unsigned indices (Arrow allows them; pandas never writes them) with a null among them
    import pyarrow as pa

    unsigned = pa.table({"code": pa.DictionaryArray.from_arrays(pa.array([1, None, 0], pa.uint8()), pa.array(["b", "a"])),
                         "value": [1.0, 2.0, 3.0]})
    joined = concat_compact([unsigned, tables[0]])
    assert joined["code"].isna().tolist()[:3] == [False, True, False]
    assert joined["code"].iloc[[0, 2]].tolist() == ["a", "b"] and list(joined["code"].cat.categories) == ["a", "b", "x", "y"]


def test_text_equals_and_matches_through_categories():
    values = ["0301", "030101", None, "total"]
    for column in (compact(_frame(values, np.zeros(4)))["code"], _frame(values, np.zeros(4))["code"]):
        assert text_equals(column, "0301").tolist() == [True, False, False, False]
        assert text_matches(column, re.compile(r"^\d+$")).tolist() == [True, True, False, False]


def test_distinct_rows_numbers_each_row_by_its_combination_in_order_of_first_occurrence():
    from ci_pipeline.tidy import distinct_rows, group_numbers

    frame = compact(pd.DataFrame({
        "code": ["0301", "030101", "0301", None, None, "030101", "0301"],
        "period": ["2024", "2024", "2023", "2024", "2024", "2024", "2024"],
        "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    }), ["code", "period"])
    distinct, numbers = distinct_rows(frame, ["code", "period"])
    assert distinct.astype("object").where(distinct.notna(), None).values.tolist() == [
        ["0301", "2024"], ["030101", "2024"], ["0301", "2023"], [None, "2024"]]
    assert numbers.tolist() == [0, 1, 2, 3, 3, 1, 0]
    # Spreading the distinct rows back by number gives every row's own combination (null equal to null).
    spread = distinct.iloc[numbers].reset_index(drop=True)
    pd.testing.assert_frame_equal(spread, frame[["code", "period"]].reset_index(drop=True))
    assert (numbers == group_numbers(frame, ["code", "period"])).all()
    # Compact columns are numbered from their codes; plain text columns through pandas: the same numbers.
    assert (numbers == group_numbers(frame.astype({"code": "str", "period": "str"}), ["code", "period"])).all()
    empty, none = distinct_rows(frame.iloc[:0], ["code", "period"])
    assert len(empty) == 0 and len(none) == 0


def test_group_numbers_are_groupby_ngroup_in_order_of_first_occurrence(monkeypatch):
    import ci_pipeline.tidy as tidy

    rng = np.random.default_rng(7)
    size = 2000
    frame = pd.DataFrame({
        "code": compact(pd.DataFrame({"c": pd.array(rng.choice(["0301", "030101", "46", None], size),
                                                    dtype="str")}))["c"],
        "text": pd.array(rng.choice(["a", "b", None], size), dtype="str"),
        "number": rng.choice([1.0, 2.5, np.nan], size),
        "flag": rng.choice([True, False], size),
    })
    columns = ["code", "text", "number", "flag"]
    expected = frame.groupby(columns, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    assert np.array_equal(tidy.group_numbers(frame, columns), expected)
    # numbers folded past the limit are renumbered on the way, with the same result
    monkeypatch.setattr(tidy, "_FOLD_LIMIT", 20)
    assert np.array_equal(tidy.group_numbers(frame, columns), expected)
    assert tidy.group_numbers(frame, []).tolist() == [0] * size


def test_sorted_group_numbers_are_groupby_ngroup_in_key_order(monkeypatch):
    import ci_pipeline.tidy as tidy

    rng = np.random.default_rng(11)
    size = 2000
    frame = pd.DataFrame({
        "code": compact(pd.DataFrame({"c": pd.array(rng.choice(["0301", "030101", "46", None], size),
                                                    dtype="str")}))["c"],
        # a categorical whose categories are not in text order: groupby orders by its categories
        "band": pd.Categorical(rng.choice(["67+", "0-17", None], size), categories=["67+", "0-17"]),
        "text": pd.array(rng.choice(["b", "a", "ø", None], size), dtype="str"),
        "number": rng.choice([2.5, 1.0, np.nan], size),
    })
    columns = ["code", "band", "text", "number"]
    expected = frame.groupby(columns, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    assert np.array_equal(tidy.group_numbers(frame, columns, sort=True), expected)
    monkeypatch.setattr(tidy, "_FOLD_LIMIT", 20)
    assert np.array_equal(tidy.group_numbers(frame, columns, sort=True), expected)
