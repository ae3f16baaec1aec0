"""Helpers shared by the survey tests: the synthetic wave generator (tools/, not shipped) and small exports."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SURVEYS = REPO / "assets" / "surveys"
WAVE = "2024-spring"


def _load_generator():
    spec = importlib.util.spec_from_file_location("survey_generator", REPO / "tools" / "survey_generator.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("survey_generator", module)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


def valid_frame(codebook, rows: int = 4, wave: str = WAVE) -> pd.DataFrame:
    """A small valid export: ids R1.., districts by code, ages 12-15, every answer the top value."""
    frame = pd.DataFrame({
        "respondent_id": [f"R{i}" for i in range(1, rows + 1)],
        "district": (["030101", "030102", "030115", "030105"] * rows)[:rows],
        "sex": (["female", "male"] * rows)[:rows],
        "age": ([12, 13, 14, 15] * rows)[:rows],
    })
    for question in codebook.questions_in_wave(wave):
        frame[question.id] = question.scale.values[-1]
    return frame


def write_csv(frame: pd.DataFrame, path: Path, sep=",", encoding="utf-8") -> Path:
    path.write_bytes(frame.to_csv(sep=sep, index=False).encode(encoding))
    return path


def panel_responses(codebook, respondents: int, seed: int, returning: int = 200) -> pd.DataFrame:
    """Stored-shape responses of every wave, `respondents` each, the first `returning` the same people in
    every wave (a panel), so that change per person has pairs."""
    frames = []
    for position, wave in enumerate(w.id for w in codebook.waves):
        frame = generator.synthetic_responses(codebook, wave, respondents, seed=seed + position)
        frame.loc[frame.index < returning, "respondent_key"] = [f"{i:064x}" for i in range(returning)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
