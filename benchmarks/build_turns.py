"""Timing `make run` in several kinds of deployment, the kinds taking turns: what object_storage.py and
instance_storage.py share. Not a benchmark of its own (run_all.py does not run it).

Each run is `python -m ci_pipeline.run` in its own process (what `make run` runs), a full cold build on the
embedded snapshots (replay mode) into a fresh folder per kind and turn. The kinds take turns, so a change in
machine load hits each alike; the best wall time of each is printed with its ratio to the first kind.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline_build import measure


def local_home(root: Path) -> Path:
    """A fresh DAGSTER_HOME under `root` with telemetry off and nothing else: the SQLite instance `make run`
    uses."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def best_of_turns(kinds: Sequence[str], environment: Callable[[str, Path, str], dict[str, str]], *, repeat: int,
                  runs: Sequence[str] = ("cold build",), after_each: Callable[[], None] | None = None
                  ) -> dict[str, float]:
    """The best wall time of each kind (and of each of `runs` in it, one after the other in the same
    deployment), over `repeat` turns. environment(kind, root, name) gives the process environment of a kind
    in the fresh folder `root`; `name` is distinct per kind and turn (for a database of its own).
    `after_each` cleans up what a kind left outside `root`. Keys: the kind, or "kind, run" for several runs."""
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ci-bench-turns-") as folder:
        for turn in range(repeat):
            for number, kind in enumerate(kinds):
                root = Path(folder) / f"{turn}-{number}"
                root.mkdir()
                env = environment(kind, root, f"bench_{turn}_{number}")
                for run in runs:
                    key = kind if len(runs) == 1 else f"{kind}, {run}"
                    wall, _, _ = measure([sys.executable, "-m", "ci_pipeline.run"], env)
                    print(f"turn {turn + 1}: {key}: {wall:.1f} s", flush=True)
                    best[key] = min(best.get(key, wall), wall)
                shutil.rmtree(root)
                if after_each is not None:
                    after_each()
    return best


def print_best_and_ratios(best: dict[str, float], kinds: Sequence[str], *, heading: str,
                          runs: Sequence[str] = ("cold build",)) -> None:
    """Each best time, then each later kind's as a ratio to the first kind's (per run when several)."""
    print(f"\n{heading}:")
    for key, seconds in best.items():
        print(f"  {key}: {seconds:.1f} s")
    baseline, *others = kinds
    for kind in others:
        if len(runs) == 1:
            print(f"ratio {kind} / {baseline}: {best[kind] / best[baseline]:.2f}")
        else:
            for run in runs:
                print(f"ratio {kind} / {baseline}, {run}: {best[f'{kind}, {run}'] / best[f'{baseline}, {run}']:.2f}")
