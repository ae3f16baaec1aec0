"""Compare the latest version of every mart in two warehouses, cell for cell.

    python tools/compare_marts.py <warehouse A> <warehouse B> [--ignore-column COLUMN ...]

A change that must not alter published figures (a refactoring, a speed-up) is checked by building the
marts before and after it from the same inputs and comparing them with this script. It prints one line
per mart (identical / how it differs) and exits 1 when any mart differs or exists on one side only.
Rows are compared in the order the mart stores them; dtypes count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def latest_frame(warehouse: Path, mart: str) -> pd.DataFrame | None:
    folder = warehouse / "marts" / mart
    for pointer in ("_LATEST", "LATEST"):
        if (folder / pointer).exists():
            version = (folder / pointer).read_text(encoding="utf-8").strip()
            return pd.read_parquet(folder / f"version={version}")
    return None


def marts_in(warehouse: Path) -> set[str]:
    root = warehouse / "marts"
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))} if root.exists() else set()


def compare(left: pd.DataFrame, right: pd.DataFrame, ignore: set[str]) -> list[str]:
    """What differs between two frames, in words (empty when they are identical)."""
    problems = []
    left_columns = [c for c in left.columns if c not in ignore]
    right_columns = [c for c in right.columns if c not in ignore]
    if left_columns != right_columns:
        only_left = [c for c in left_columns if c not in right_columns]
        only_right = [c for c in right_columns if c not in left_columns]
        problems.append(f"columns differ (only in A: {only_left}, only in B: {only_right}, "
                        f"order A: {left_columns}, order B: {right_columns})")
        common = [c for c in left_columns if c in right_columns]
    else:
        common = left_columns
    if len(left) != len(right):
        problems.append(f"row counts differ: {len(left)} vs {len(right)}")
        return problems
    for column in common:
        a, b = left[column], right[column]
        if str(a.dtype) != str(b.dtype):
            problems.append(f"{column}: dtype {a.dtype} vs {b.dtype}")
        a_obj, b_obj = a.astype(object), b.astype(object)
        same = (a_obj == b_obj) | (a.isna().to_numpy() & b.isna().to_numpy())
        if not bool(same.all()):
            where = (~same).to_numpy().nonzero()[0]
            first = int(where[0])
            problems.append(f"{column}: {len(where)} cells differ, first at row {first}: "
                            f"{a.iloc[first]!r} vs {b.iloc[first]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--ignore-column", action="append", default=[])
    args = parser.parse_args(argv)
    ignore = set(args.ignore_column)
    differs = False
    for mart in sorted(marts_in(args.a) | marts_in(args.b)):
        left, right = latest_frame(args.a, mart), latest_frame(args.b, mart)
        if left is None or right is None:
            print(f"{mart}: only in {'B' if left is None else 'A'}")
            differs = True
            continue
        problems = compare(left, right, ignore)
        if problems:
            differs = True
            print(f"{mart}: DIFFERS ({len(left)} vs {len(right)} rows)")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{mart}: identical ({len(left)} rows, {len(left.columns)} columns)")
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
