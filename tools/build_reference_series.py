"""Build the project's copies of the reference series (data/reference_series/<name>.csv) from the original
files under ../shared/reference, through each series' recipe (data/reference_series/<name>.yaml).

Each original file is checked against the sha256 its YAML names (a changed file is refused, not read);
the CSV is written deterministically and the YAML's `sha256:` line is set to the CSV's digest (the only
line the tool changes). See ci_pipeline/sources/reference_series/ for the recipe and the rules.

    .venv/bin/python tools/build_reference_series.py [--reference ../shared/reference] [--series data/reference_series]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ci_pipeline.archive import atomic_write, sha256_bytes
from ci_pipeline.config import ConfigError
from ci_pipeline.sources.reference_series import ReferenceSeriesError, build_series, load_spec, series_csv

SHA_LINE = re.compile(r'^sha256: "[0-9a-f]{64}"$', re.MULTILINE)


def build_one(yaml_path: Path, reference: Path) -> str:
    """Write <name>.csv beside the YAML and set the YAML's sha256; returns a one-line summary."""
    spec = load_spec(yaml_path)
    built = build_series(spec, reference)
    data = series_csv(built.frame)
    atomic_write(yaml_path.with_suffix(".csv"), data)
    text = yaml_path.read_text(encoding="utf-8")
    if len(SHA_LINE.findall(text)) != 1:
        raise ReferenceSeriesError(f'{yaml_path}: expected exactly one line sha256: "<64 hex digits>"')
    updated = SHA_LINE.sub(f'sha256: "{sha256_bytes(data)}"', text)
    if updated != text:
        atomic_write(yaml_path, updated.encode("utf-8"))
    not_used = ", ".join(f"{count} x {reason}" for reason, count in sorted(built.not_used.items()))
    return f"{spec.name}: {len(built.frame)} rows" + (f"; not used: {not_used}" if not_used else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, default=REPO_ROOT.parent / "shared" / "reference",
                        help="folder of the original files (default: ../shared/reference)")
    parser.add_argument("--series", type=Path, default=REPO_ROOT / "data" / "reference_series",
                        help="folder of the series' YAML files and CSV copies (default: data/reference_series)")
    args = parser.parse_args(argv)
    try:
        for yaml_path in sorted(args.series.glob("*.yaml")):
            print(build_one(yaml_path, args.reference.resolve()))
    except (ConfigError, ReferenceSeriesError) as exc:
        print(f"build_reference_series: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
