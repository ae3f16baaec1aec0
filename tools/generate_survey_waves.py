"""Regenerate the illustrative survey waves in data/surveys/waves/ (deterministic for a seed).

    python tools/generate_survey_waves.py [--seed N] [--target DIR]

The waves are the ones marked illustrative in assets/surveys/waves.yaml; their files are the embedded
default the pipeline ingests when no real wave has arrived.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from survey_generator import DEFAULT_SEED, write_waves  # tools/ is on sys.path when run as a script

from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import load_codebook


def main() -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--target", type=Path, default=settings.survey_root / "waves")
    args = parser.parse_args()
    codebook = load_codebook(settings.catalogue_root / "surveys")
    for path in write_waves(codebook, args.target, seed=args.seed):
        print(path)


if __name__ == "__main__":
    main()
