"""The archive's shared helpers: the one atomic write and the one provenance ranking."""

import math
import os
import stat

import pytest

from ci_pipeline.archive import (
    FILE_MODE, PROVENANCES, atomic_write, atomic_writer, provenance_ranks, worst_provenance,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_the_file_readable_by_the_group(tmp_path):
    path = tmp_path / "new" / "folder" / "answer.json"
    atomic_write(path, b"first")
    atomic_write(path, b"second")
    assert path.read_bytes() == b"second"
    assert mode(path) == FILE_MODE == 0o644
    assert os.listdir(path.parent) == ["answer.json"]


def test_atomic_writer_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "frame.parquet"
    atomic_write(path, b"complete")
    with pytest.raises(RuntimeError, match="half way"), atomic_writer(path) as handle:
        handle.write(b"half")
        raise RuntimeError("half way")
    assert path.read_bytes() == b"complete"
    assert os.listdir(tmp_path) == ["frame.parquet"]


def test_atomic_writer_takes_a_writer_that_wants_a_file(tmp_path):
    import pandas as pd

    path = tmp_path / "frame.parquet"
    with atomic_writer(path) as handle:
        pd.DataFrame({"a": [1, 2]}).to_parquet(handle, index=False)
    assert pd.read_parquet(path)["a"].tolist() == [1, 2]
    assert mode(path) == 0o644


@pytest.mark.parametrize("values, worst", [
    (["recorded"], "recorded"),
    (["recorded", "reconstructed"], "reconstructed"),
    (["reconstructed", "illustrative", "recorded"], "illustrative"),
    ([None, "recorded", math.nan], "recorded"),
])
def test_worst_provenance(values, worst):
    assert worst_provenance(values) == worst


def test_provenances_are_ranked_best_first():
    assert [worst_provenance(PROVENANCES[:n]) for n in (1, 2, 3)] == list(PROVENANCES)


def test_worst_provenance_refuses_unknown_and_empty():
    with pytest.raises(ValueError, match=r"unknown provenance value\(s\) \['guessed'\]"):
        worst_provenance(["recorded", "guessed"])
    with pytest.raises(ValueError, match="every value is null"):
        worst_provenance([None, math.nan])


def test_provenance_ranks_of_the_distinct_values():
    assert provenance_ranks(["illustrative", None, "recorded", "recorded", math.nan]) == {
        "recorded": 0, "illustrative": 2}
    assert provenance_ranks([None]) == {}
    with pytest.raises(ValueError, match=r"unknown provenance value\(s\) \['guessed', 'made up'\]"):
        provenance_ranks(["made up", "recorded", "guessed"])
