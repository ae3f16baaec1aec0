"""The dense `value` array read straight from the JSON text (ci_pipeline.jsonstat.dense_values): the same
float64 bits as orjson's numbers, the same error as before for whatever JSON refuses, and the whole-document
parse whenever the array found is not surely the top-level `value` of numbers and nulls."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import reference

from ci_pipeline.jsonstat import JsonStatError, read_jsonstat
from ci_pipeline.jsonstat.dense_values import parse_with_dense_values

HEAD = (b'{"version":"2.0","class":"dataset","label":"t","id":["A"],"size":[%d],'
        b'"dimension":{"A":{"label":"A","category":{"index":[%s]}}},')


def body_with(value_text: bytes, cells: int | None = None, *, head: bytes = b"", tail: bytes = b"") -> bytes:
    """A one-dimension dataset whose `value` is `value_text` as written; `cells` defaults to the number
    of elements in an array."""
    if cells is None:
        cells = value_text.count(b",") + 1 if value_text.strip(b" \n[]") else 0
    index = b",".join(b'"c%d"' % cell for cell in range(cells))
    return HEAD % (cells, index) + head + b'"value":' + value_text + tail + b"}"


def assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal float64 bit for bit, -0.0 and 0.0 told apart; any NaN matches any NaN."""
    assert actual.dtype == expected.dtype == np.float64
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    numbers = ~np.isnan(actual)
    assert np.array_equal(actual[numbers].view(np.int64), expected[numbers].view(np.int64))


def orjson_values(body: bytes) -> np.ndarray:
    """The values as the whole-document parse gives them: each orjson number as a float (int 0 for "-0")."""
    return np.array([np.nan if cell is None else float(cell) for cell in orjson.loads(body)["value"]])


def assert_reads_as_the_parsed_document(body: bytes) -> None:
    """The frame from the text is the frame from orjson's parse of the whole document, values bit for bit."""
    from_text = read_jsonstat(body).frame
    from_document = read_jsonstat(orjson.loads(body)).frame
    pd.testing.assert_frame_equal(from_text, from_document, check_exact=True)
    assert_same_bits(from_text["value"].to_numpy(), from_document["value"].to_numpy())


# ------------------------------------------------------------------------------------------ strictness

NOT_JSON = [b"[01]", b"[-01]", b"[00]", b"[1,00]", b"[1.]", b"[.5]", b"[-.5]", b"[+1]", b"[1e]", b"[1e+]",
            b"[1.5.2]", b"[1e5e5]", b"[1-2]", b"[--1]", b"[-]", b"[NaN]", b"[Infinity]", b"[-Infinity]",
            b"[0x10]", b"[1_000]", b"[1 2]", b"[1\n2]", b"[1,,2]", b"[1,2,]", b"[,1,2]", b"[nul]", b"[nulll]",
            b"[Null]", b"[1null]", b"[null1]", b"[1e400]", b"[-1e400]", b"[1,2"]


@pytest.mark.parametrize("value_text", NOT_JSON)
def test_what_json_refuses_in_the_value_array_is_the_same_error_as_before(value_text):
    body = body_with(value_text, cells=2)
    with pytest.raises(orjson.JSONDecodeError) as from_orjson:
        orjson.loads(body)
    with pytest.raises(JsonStatError) as from_reader:
        read_jsonstat(body, origin="ssb_07459.json")
    assert str(from_reader.value) == f"ssb_07459.json: not valid JSON: {from_orjson.value}"
    assert parse_with_dense_values(body) is None


@pytest.mark.parametrize("value_text", [
    b"[1,2,3]", b"[0,-0,-0.0,0.0,-0e1,0e-5]", b"[1e5,1E5,1e+05,1E-5,-1.5e-3]", b"[null,null,null]",
    b"[ 1 ,\n\t2 ,\r\n null ]", b"[\n  133.3,\n  -5.8,\n  150\n]", b"[10,100,1000,0]",
    b"[1e-400,-1e-400,4.9e-324,2.2250738585072011e-308,1.7976931348623157e308]",
    b"[9007199254740993,9223372036854775807,9223372036854775808,18446744073709551616]",
    b"[123456789012345678901234567890,-9223372036854775809,0.1,0.30000000000000004]",
    b"[1.00000000000000011102230246251565404236316680908203125,7.038531e-26,-0.00001]",
])
def test_numbers_and_nulls_are_read_from_the_text_with_the_bits_of_the_whole_document_parse(value_text):
    body = body_with(value_text)
    parsed = parse_with_dense_values(body)
    assert parsed is not None
    document, values = parsed
    assert "value" not in document and document["size"] == [len(values)]
    assert_same_bits(values, orjson_values(body))
    assert_reads_as_the_parsed_document(body)


def test_an_element_count_other_than_the_cells_is_the_usual_error():
    with pytest.raises(JsonStatError, match=r"^t: 'value' has 3 cells but the product of 'size' is 4$"):
        read_jsonstat(body_with(b"[1,2,3]", cells=4), origin="t")


# JSON number text: hypothesis draws the grammar's every part, long mantissas and exponents up to the edges
JSON_NUMBER = r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.from_regex(JSON_NUMBER, fullmatch=True), st.just("null")), min_size=1,
                max_size=40))
@example(["2.2250738585072012e-308", "2.4703282292062327e-324", "2.4703282292062328e-324"])
@example(["9007199254740992.5", "9007199254740993.0000000001", "1e23", "8.988465674311580536566680e307"])
def test_any_json_numbers_read_as_float_of_their_text(elements):
    body = body_with(("[" + ",".join(elements) + "]").encode())
    numbers = [element for element in elements if element != "null"]
    if any(abs(float(number)) == float("inf") for number in numbers):
        # beyond float64: orjson refuses the document, and so does the reader, as before
        with pytest.raises(JsonStatError, match="not valid JSON: number is infinity"):
            read_jsonstat(body)
        return
    parsed = parse_with_dense_values(body)
    assert parsed is not None
    expected = np.array([np.nan if element == "null" else float(element) + 0.0
                         if element.lstrip("-").isdigit() else float(element) for element in elements])
    assert_same_bits(parsed[1], expected)
    assert_same_bits(parsed[1], orjson_values(body))


# ---------------------------------------------------------------------------- finding the array safely


@pytest.mark.parametrize("head, tail", [
    # the key's text inside strings, before and after the array
    (b'"note":["\\"value\\": [1, 2]", "value", "\\"value\\":[9]"],', b',"source":"\\"value\\":[3]"'),
    # a dimension called value, and "show": "value" as SSB sends it
    (b'"extension":{"show":"value","value":{"a":1}},', b""),
])
def test_the_key_as_text_elsewhere_does_not_disturb_the_reading(head, tail):
    body = body_with(b"[1.5,null,3]", head=head, tail=tail)
    assert parse_with_dense_values(body) is not None
    assert_reads_as_the_parsed_document(body)


@pytest.mark.parametrize("head, tail", [
    # a nested array of numbers under the key, met first
    (b'"extension":{"value":[7,8,9]},', b""),
    # a duplicate top-level key: orjson keeps the last, and so does the reader
    (b'"value":[7,8,9],', b""),
    (b"", b',"value":[7,8,9]'),
])
def test_an_array_not_surely_the_top_level_value_leaves_the_whole_document_to_orjson(head, tail):
    body = body_with(b"[1.5,null,3]", head=head, tail=tail)
    assert parse_with_dense_values(body) is None
    assert_reads_as_the_parsed_document(body)
    assert_same_bits(read_jsonstat(body).frame["value"].to_numpy(), orjson_values(body))


def test_the_key_written_with_an_escape_is_read_by_orjson():
    body = body_with(b"[1,2]").replace(b'"value":', b'"valu\\u0065":')
    assert parse_with_dense_values(body) is None
    assert read_jsonstat(body).frame["value"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("value_text", [
    b'{"0":1.5,"2":3}', b'[1,"..",3]', b'[1,":",null]', b'["1",2,3]', b"[1,[2],3]", b"[true,1,2]",
])
def test_sparse_objects_and_strings_among_the_numbers_read_as_before(value_text):
    body = body_with(value_text, cells=3)
    assert parse_with_dense_values(body) is None
    if b"[2]" in value_text or b"true" in value_text:
        with pytest.raises(JsonStatError, match="cells must be numbers, null or status strings"):
            read_jsonstat(body)
        return
    assert_reads_as_the_parsed_document(body)


@pytest.mark.reference
@pytest.mark.parametrize("relative", [
    "ssb/ssb_v2_POST_03024_data_jsonstat2.json",
    "ssb/ssb_v2_data_11118_default_jsonstat2_from_beta-bruker-doc.json",
    "ssb/ssb_jsonstat2_KS_resultatTest.json",
])
def test_real_ssb_answers_are_read_from_the_text(relative):
    body = reference(relative).read_bytes()
    assert parse_with_dense_values(body) is not None
    assert_reads_as_the_parsed_document(body)
