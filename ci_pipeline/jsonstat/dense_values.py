"""A dense `value` array of numbers and nulls read straight from the JSON text, without a Python object
per cell: `parse_with_dense_values()`.

In an SSB answer of 800,000 cells nearly all the bytes are the `value` array, and turning it into 800,000
Python ints and floats (orjson) and those into a float64 array (Arrow) costs more than everything else
the reader does. Here the array's text is cut out of the document, orjson parses the rest, and Arrow's
CSV reader parses the numbers (its float parser rounds decimal text correctly, as orjson and float() do).

It only answers when it is sure; otherwise it returns None and the caller parses the whole document as
before, which also gives the usual error for a body that is not valid JSON. Sure means:

- the array holds only numbers and nulls in JSON's own syntax: Arrow accepts more ("1.", ".5", "+1",
  "01", "1e400" as infinity), so whatever JSON refuses and Arrow would take is checked for here;
- the array is the document's top-level `value`: the text cut out is replaced by a string made of random
  bytes and the parsed document must hold exactly that string under `value`. An array of the same
  shape met first inside a string or a nested object, or a later duplicate top-level key, does not pass.
"""

from __future__ import annotations

import os
import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv

_WHITESPACE = b" \t\n\r"
_VALUE_ARRAY_START = re.compile(rb'"value"[ \t\n\r]*:[ \t\n\r]*\[')
# JSON allows whitespace around an element only: a run between two non-comma bytes splits one
_SPACE_INSIDE_AN_ELEMENT = re.compile(rb"[^ \t\n\r,][ \t\n\r]+[^ \t\n\r,]")
# The array's elements one a line, for Arrow's CSV reader: every byte that cannot be in a number or null
# becomes a quote (itself one of them), so that one look for a quote tells whether there was any.
_ELEMENTS_TO_LINES = bytes(
    byte if byte in b"0123456789-+.eEnul" else ord("\n") if byte == ord(",") else ord('"')
    for byte in range(256))

_CSV_READ = pa_csv.ReadOptions(column_names=["value"], use_threads=False, block_size=1 << 30)
_CSV_PARSE = pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=False)
_CSV_CONVERT = pa_csv.ConvertOptions(column_types={"value": pa.float64()}, null_values=["null"],
                                     quoted_strings_can_be_null=False)

_NEWLINE, _MINUS, _PLUS, _DOT, _ZERO, _NINE = (ord(c) for c in "\n-+.09")


def parse_with_dense_values(body: bytes) -> tuple[dict, np.ndarray] | None:
    """The document parsed without its top-level `value` array, and that array as float64 (NaN for
    null); None when `body` has no such array this function is sure of (see the module's docstring)."""
    start = _value_array_start(body)
    if start is None:
        return None
    end = body.find(b"]", start)
    if end < 0:
        return None
    values = _numbers(body[start:end])
    if values is None:
        return None
    marker = os.urandom(16).hex()
    try:
        doc = orjson.loads(b"".join((body[:start - 1], b'"', marker.encode(), b'"', body[end + 1:])))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("value") != marker:
        return None
    del doc["value"]
    return doc, values


def _value_array_start(body: bytes) -> int | None:
    """Where the elements of the first `"value": [` begin."""
    position = body.find(b'"value"')
    while position >= 0:
        found = _VALUE_ARRAY_START.match(body, position)
        if found:
            return found.end()
        position = body.find(b'"value"', position + 1)
    return None


def _numbers(text: bytes) -> np.ndarray | None:
    """The elements of a JSON array (the text between its brackets) as float64, NaN for null; None unless
    every element is a JSON number or null."""
    if any(space in text for space in _WHITESPACE) and _SPACE_INSIDE_AN_ELEMENT.search(text):
        return None
    lines = text.translate(_ELEMENTS_TO_LINES, _WHITESPACE)
    if b'"' in lines or not lines or lines.startswith(b"\n") or lines.endswith(b"\n"):
        return None
    characters = np.frombuffer(b"\n" + lines + b"\n", dtype=np.uint8)
    line_ends = characters == _NEWLINE
    if not _json_number_syntax(lines, characters, line_ends):
        return None
    try:
        table = pa_csv.read_csv(pa.py_buffer(lines), read_options=_CSV_READ, parse_options=_CSV_PARSE,
                                convert_options=_CSV_CONVERT)
    except pa.ArrowInvalid:
        # an element Arrow cannot read whole as a number or null ("", "1e", "1-2", "nul"); JSON cannot either
        return None
    values = table.column(0).combine_chunks().to_numpy(zero_copy_only=False, writable=True)
    if len(values) != np.count_nonzero(line_ends) - 1 or np.isinf(values).any():
        # infinity: a number beyond float64, which orjson refuses
        return None
    if b"-0" in lines:
        _integer_zeros_unsigned(values, lines)
    return values


def _json_number_syntax(lines: bytes, characters: np.ndarray, line_ends: np.ndarray) -> bool:
    """Whether the elements (`lines`, one a line; `characters` the same between a leading and a trailing
    newline, `line_ends` its newlines) keep the rules of JSON's number syntax that Arrow's parser does not:
    no leading zero ("01", "-01"), a '.' only between digits ("1.", ".5"), a '+' only after the exponent's
    'e' ("+1")."""
    # where an element's integer part begins, as a mask over characters[1:]: after a newline, or after
    # the '-' that begins an element
    element_starts = line_ends[:-1]
    if b"-" in lines:
        starting_minus = (characters[:-1] == _MINUS) & np.concatenate(([False], line_ends[:-2]))
        element_starts = element_starts | starting_minus
    first_zeros = np.flatnonzero(element_starts & (characters[1:] == _ZERO)) + 1
    if _is_digit(characters[first_zeros + 1]).any():
        return False
    if b"." in lines:
        dots = np.flatnonzero(characters == _DOT)
        if not (_is_digit(characters[dots - 1]) & _is_digit(characters[dots + 1])).all():
            return False
    if b"+" in lines:
        pluses = np.flatnonzero(characters == _PLUS)
        if not np.isin(characters[pluses - 1], (ord("e"), ord("E"))).all():
            return False
    return True


def _is_digit(characters: np.ndarray) -> np.ndarray:
    return (characters >= _ZERO) & (characters <= _NINE)


def _integer_zeros_unsigned(values: np.ndarray, lines: bytes) -> None:
    """"-0" is an integer, which orjson reads as the int 0 (+0.0 as a float), while "-0.0" stays -0.0."""
    negative_zeros = np.flatnonzero((values == 0) & np.signbit(values))
    if not len(negative_zeros):
        return
    elements = lines.split(b"\n")
    for cell in negative_zeros.tolist():
        if not any(mark in elements[cell] for mark in (b".", b"e", b"E")):
            values[cell] = 0.0
