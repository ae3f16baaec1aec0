"""Where asset values live between steps: DataFrames as Parquet, everything else as JSON.

Readable files (not pickles) so a data engineer can open any intermediate asset with DuckDB or pandas:
    <warehouse>/assets/<key/path>.parquet            (unpartitioned DataFrame)
    <warehouse>/assets/<key/path>/<partition>.parquet (one file per partition)
    <warehouse>/assets/<key/path>.json               (dicts and lists)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetKey, ConfigurableIOManager, InputContext, OutputContext

from ci_pipeline.archive import atomic_write, atomic_writer
from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.memory import release_freed_memory


def stored_path(warehouse_root: Path, asset_key: AssetKey) -> Path:
    """Where the value of `asset_key` is stored under the warehouse, before its suffix (and partition)."""
    return warehouse_root / "assets" / Path(*asset_key.path)


def _not_materialised(asset_key: AssetKey, warehouse_root: Path, *looked_for: Path) -> FileNotFoundError:
    return FileNotFoundError(f"asset {asset_key.to_user_string()} has not been materialised under {warehouse_root}"
                             f" (looked for {' and '.join(str(path) for path in looked_for)})")


def read_stored_tables(warehouse_root: Path, asset_keys: Sequence[AssetKey]) -> list[pa.Table]:
    """The stored DataFrames of unpartitioned assets as the Arrow tables their Parquet files hold, for an
    asset that depends on many of them (`deps`) and reads them itself: Dagster loads an input through the
    IO manager with two events of its own, each an instance transaction, so thirty inputs cost more than
    reading the thirty files. No pandas frame is made of each (ci_pipeline.tidy.concat_compact joins the
    tables as they are)."""
    release_freed_memory()
    tables = []
    for key in asset_keys:
        path = stored_path(warehouse_root, key)
        parquet = path.with_name(path.name + ".parquet")
        if not parquet.exists():
            raise _not_materialised(key, warehouse_root, parquet)
        with pq.ParquetFile(parquet) as stored:
            tables.append(stored.read())
    return tables


class WarehouseIOManager(ConfigurableIOManager):
    """Stores asset values under the warehouse root of the `pipeline` resource's settings."""

    pipeline: PipelineResource

    def _root(self) -> Path:
        return self.pipeline.settings.warehouse_root

    def _paths(self, context: OutputContext | InputContext) -> list[Path]:
        base = stored_path(self._root(), context.asset_key)
        if context.has_asset_partitions:
            return [base / f"{key}" for key in context.asset_partition_keys]
        return [base]

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        (path,) = self._paths(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, pd.DataFrame):
            target = path.with_name(path.name + ".parquet")
            with atomic_writer(target) as handle:
                # No min/max statistics: they were half the time of writing a step's output (each text
                # column decoded and compared), and nothing reads an intermediate asset by row-group
                # ranges; DuckDB and pandas read the file the same without them.
                obj.to_parquet(handle, index=False, write_statistics=False)
            context.add_output_metadata({"path": str(target), "rows": len(obj), "dagster/row_count": len(obj)})
        else:
            text = json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
            atomic_write(path.with_name(path.name + ".json"), text.encode("utf-8"))

    def load_input(self, context: InputContext) -> Any:
        # Earlier steps of this process are done with their frames: start this one from what it needs.
        release_freed_memory()
        frames = []
        for path in self._paths(context):
            parquet = path.with_name(path.name + ".parquet")
            if parquet.exists():
                frames.append(pd.read_parquet(parquet))
                continue
            as_json = path.with_name(path.name + ".json")
            if as_json.exists():
                return json.loads(as_json.read_text(encoding="utf-8"))
            raise _not_materialised(context.asset_key, self._root(), parquet, as_json)
        # Arrow's pool keeps the buffers the Parquet reader used; the frame no longer needs them.
        release_freed_memory()
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)
