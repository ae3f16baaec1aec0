"""The dimensions of a JSON-stat 2.0 dataset: `id` and `size` checked against `dimension`, each
dimension's name in the table (`value` / `status` renamed), and each dimension read into a `Dimension`:
its category codes in index order (`category.index` as an object of positions, an array, or left out
for a single category), a label for every code, units, extension and `category.child`.
"""

from __future__ import annotations

import warnings
from typing import Any

from ci_pipeline.jsonstat.model import (
    FRAME_COLUMNS,
    RENAMED_SUFFIX,
    Dimension,
    JsonStatError,
    JsonStatWarning,
)


def ids_and_sizes(doc: dict, where: str) -> tuple[list[str], list[int]]:
    """The dataset's `id` and `size`, checked against each other and against `dimension`."""
    ids, sizes, dimension = doc.get("id"), doc.get("size"), doc.get("dimension")
    if not isinstance(ids, list) or not all(isinstance(dim_id, str) for dim_id in ids):
        raise JsonStatError(f"{where}'id' must be a list of dimension ids, got {ids!r}")
    if not isinstance(sizes, list) or not all(isinstance(size, int) and size >= 0 for size in sizes):
        raise JsonStatError(f"{where}'size' must be a list of non-negative integers, got {sizes!r}")
    if len(ids) != len(sizes):
        raise JsonStatError(f"{where}'id' has {len(ids)} dimensions but 'size' has {len(sizes)}")
    if len(set(ids)) != len(ids):
        raise JsonStatError(f"{where}'id' lists a dimension twice: {ids}")
    if not isinstance(dimension, dict):
        raise JsonStatError(f"{where}'dimension' is missing or not an object")
    missing = [dim_id for dim_id in ids if dim_id not in dimension]
    if missing:
        raise JsonStatError(f"{where}dimension(s) {missing} are listed in 'id' but missing from 'dimension'")
    return ids, sizes


def table_names(ids: list[str], where: str) -> dict[str, str]:
    """Each dimension's name in the table: its id, or id + RENAMED_SUFFIX for `value` and `status`."""
    names = {dim_id: dim_id + RENAMED_SUFFIX if dim_id in FRAME_COLUMNS else dim_id for dim_id in ids}
    renamed = {dim_id: name for dim_id, name in names.items() if name != dim_id}
    for dim_id, name in renamed.items():
        if name in names:
            raise JsonStatError(
                f"{where}dimension {dim_id!r} cannot be renamed {name!r} (the frame has its own {dim_id!r} "
                f"column), because the dataset also has a dimension {name!r}")
    if renamed:
        warnings.warn(
            f"{where}dimension(s) {list(renamed)} renamed {list(renamed.values())} in the table: the frame "
            "has its own 'value' and 'status' columns", JsonStatWarning, stacklevel=4)
    return names


def read_dimension(dim_id: str, name: str, spec: Any, size: int, where: str) -> Dimension:
    """Dimension `dim_id` (`name` in the table) from its object in `dimension`, with `size` categories."""
    if not isinstance(spec, dict) or not isinstance(spec.get("category"), dict):
        raise JsonStatError(f"{where}dimension {dim_id!r} has no 'category' object")
    category = spec["category"]
    labels = category.get("label") or {}
    if not isinstance(labels, dict):
        raise JsonStatError(f"{where}dimension {dim_id!r}: category.label must be an object (code -> label)")
    index = category.get("index")
    if index is None:
        if len(labels) != 1:
            raise JsonStatError(
                f"{where}dimension {dim_id!r} has no category.index and {len(labels)} labels; "
                "an index may only be left out for a single category")
        codes = [str(code) for code in labels]
    elif isinstance(index, list):
        codes = [str(code) for code in index]
        if len(set(codes)) != len(codes):
            raise JsonStatError(f"{where}dimension {dim_id!r}: category.index lists a code twice")
    elif isinstance(index, dict):
        codes = _codes_from_positions(dim_id, index, where)
    else:
        raise JsonStatError(f"{where}dimension {dim_id!r}: category.index must be an object or an array")
    if len(codes) != size:
        raise JsonStatError(
            f"{where}dimension {dim_id!r} has {len(codes)} categories but 'size' says {size}")
    return Dimension(
        id=name,
        label=spec.get("label"),
        codes=codes,
        labels=_labels(codes, labels),
        units=dict(category.get("unit") or {}),
        extension=dict(spec.get("extension") or {}),
        children=_children(dim_id, category.get("child"), where),
        renamed_from=dim_id if name != dim_id else None,
    )


def _labels(codes: list[str], labels: dict) -> dict[str, str]:
    """A label for every code: the source's, or the code itself (the spec's default)."""
    given = {str(code): text for code, text in labels.items()}
    return {**{code: given.get(code, code) for code in codes}, **given}


def _children(dim_id: str, child: Any, where: str) -> dict[str, list[str]]:
    if child is None:
        return {}
    if not isinstance(child, dict) or not all(
            isinstance(kids, list) and all(isinstance(kid, str) for kid in kids) for kids in child.values()):
        raise JsonStatError(
            f"{where}dimension {dim_id!r}: category.child must map a category to the list of its child "
            "categories' codes")
    return {str(parent): list(kids) for parent, kids in child.items()}


def _codes_from_positions(dim_id: str, index: dict, where: str) -> list[str]:
    codes: list[str | None] = [None] * len(index)
    for code, position in index.items():
        if not isinstance(position, int) or not 0 <= position < len(index) or codes[position] is not None:
            raise JsonStatError(
                f"{where}dimension {dim_id!r}: category.index gives {code!r} position {position!r}; "
                f"positions must be 0..{len(index) - 1}, each used once")
        codes[position] = str(code)
    return codes  # type: ignore[return-value]
