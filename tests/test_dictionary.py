"""docs/DATA_DICTIONARY.md is generated from the column contract (ci_pipeline.dictionary) and stays so."""

from __future__ import annotations

from pathlib import Path

from ci_pipeline.dictionary import DEFAULT_PATH, main, render
from ci_pipeline.schema import MARTS, SQL_TYPES, TIDY_OBSERVATIONS

REPO = Path(__file__).resolve().parents[1]


def test_the_data_dictionary_is_not_stale():
    assert DEFAULT_PATH == REPO / "docs" / "DATA_DICTIONARY.md"
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), "stale: run python -m ci_pipeline.dictionary"


def test_it_tells_an_analyst_every_mart_row_key_column_query_and_version():
    text = render()
    sections = {name: text.split(f"### {name}\n", 1)[1].split("\n##", 1)[0] for name in MARTS}
    sections[TIDY_OBSERVATIONS.name] = text.split("## For data engineers: the tidy observations", 1)[1]
    for contract in [*MARTS.values(), TIDY_OBSERVATIONS]:
        section = sections[contract.name]
        assert f"One row per\n{contract.grain}" in section or f"One row per {contract.grain}" in section
        assert f"Primary key: ({', '.join(contract.primary_key)})" in section
        for column in contract.columns:
            key = "key" if column.name in contract.primary_key else ""
            row = f"| {column.name} | {column.dtype} | {SQL_TYPES[column.dtype]} | {key} | {column.description} |"
            assert row in section, f"{contract.name}: {row}"
        if contract.name in MARTS:
            assert f"FROM {contract.name}_versions GROUP BY version" in section  # which versions exist
            assert f'pd.read_parquet("data/warehouse/marts/{contract.name}")' in section  # all of them, pandas
            assert f'.sql("FROM {contract.name}").df()' in section
    assert "SET file_search_path" in text and "_LATEST" in text


def test_check_fails_on_a_stale_file_and_writing_repairs_it(tmp_path, capsys):
    path = tmp_path / "DATA_DICTIONARY.md"
    path.write_text(render().replace("| value | float64 | DOUBLE |", "| value | int |"), encoding="utf-8")
    assert main([str(path), "--check"]) == 1
    assert "stale: run python -m ci_pipeline.dictionary" in capsys.readouterr().out
    assert main([str(path)]) == 0
    assert main([str(path), "--check"]) == 0
    assert path.read_text(encoding="utf-8") == render()
    assert main([str(tmp_path / "missing.md"), "--check"]) == 1
