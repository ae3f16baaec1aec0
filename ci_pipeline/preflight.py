"""Before any asset runs: can this run work with these settings and this warehouse?

`preflight(settings)` returns one or two lines per problem, each naming the setting (its environment
variable) or the file and what to do; an empty list when the run can start. It is quick (no API call, no
asset) so that a read-only warehouse or a missing snapshot archive is reported in a second, not as a
traceback from the middle of a run. A bad value of a setting (a mode that does not exist, a number that
is not one) is already refused by Settings.from_env, one line per variable.

What is checked:
- the catalogue, the expectation suites and the survey folder are folders that exist;
- in replay mode, the snapshot archive exists and holds snapshots (replay reads nothing else);
- the warehouse folder, its state folder and its catalogue database can be written (tried, not guessed);
- DAGSTER_HOME can be written, and every environment variable its dagster.yaml reads (`env: NAME`, e.g.
  the Postgres password of deploy/dagster.yaml) is set;
- the survey pseudonymisation secret, where one is set, is usable (a weak one would refuse every real wave
  in the middle of the run; unset, only illustrative waves can be ingested and a real one is refused with
  its reason).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ci_pipeline.settings import Settings
from ci_pipeline.surveys.pseudonymise import SECRET_ENV_VAR, weakness

ENV_REFERENCE = re.compile(r"^\s*env:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?\s*$", re.MULTILINE)


def _variable(settings: Settings, name: str) -> str:
    """The environment variable that sets `name` (ci_pipeline/settings.py), for the fix a message names."""
    return str(type(settings).model_fields[name].validation_alias)


def _writable(folder: Path) -> str | None:
    """None when a file can be created in `folder` (created when missing), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".preflight-"):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def _folders(settings: Settings) -> list[str]:
    problems = []
    for name in ("catalogue_root", "checks_root", "survey_root"):
        path = getattr(settings, name)
        if not path.is_dir():
            problems.append(f"{name.removesuffix('_root')}: {path} is not a folder; set "
                            f"{_variable(settings, name)} to the folder, or unset it for the repository's own")
    if settings.mode == "replay":
        root = settings.snapshot_root
        if not root.is_dir() or not any(root.iterdir()):
            problems.append(f"snapshots: replay mode reads the snapshot archive, and {root} "
                            f"{'holds no snapshot' if root.is_dir() else 'does not exist'}; set "
                            f"{_variable(settings, 'snapshot_root')} to an archive, or CI_PIPELINE_MODE=live")
    return problems


def _warehouse(settings: Settings) -> list[str]:
    variable = _variable(settings, "warehouse_root")
    for folder in (settings.warehouse_root, settings.state_root):
        why = _writable(folder)
        if why is not None:
            return [(f"warehouse: cannot write in {folder} ({why}); make it writable for this user, "
                     f"or set {variable} to a folder that is")]
    catalog = settings.catalog_path
    if catalog.exists() and not os.access(catalog, os.W_OK):
        return [(f"warehouse: {catalog} is read-only; make it writable (the run refreshes its views), "
                 f"or set {variable} to another warehouse")]
    return []


def _dagster_home(env: Mapping[str, str]) -> list[str]:
    home = env.get("DAGSTER_HOME")
    if not home:
        return []
    why = _writable(Path(home))
    if why is not None:
        return [(f"DAGSTER_HOME: cannot write in {home} ({why}); make it writable, or point DAGSTER_HOME "
                 "at another folder (the run history lives there)")]
    config = Path(home) / "dagster.yaml"
    if not config.is_file():
        return []
    missing = sorted({name for name in ENV_REFERENCE.findall(config.read_text(encoding="utf-8"))
                      if not env.get(name)})
    return [f"DAGSTER_HOME: {config} reads {name} from the environment, and it is not set; set it "
            "(deploy/README.md lists the instance's variables)" for name in missing]


def _survey_secret(env: Mapping[str, str]) -> list[str]:
    secret = env.get(SECRET_ENV_VAR)
    why = weakness(secret) if secret else None
    if why is None:
        return []
    return [(f"{SECRET_ENV_VAR}: the survey pseudonymisation secret {why}; set a long random value "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) and keep it")]


def preflight(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem that would stop a run with these settings (module docstring); [] when there is none."""
    env = os.environ if env is None else env
    return [*_folders(settings), *_warehouse(settings), *_dagster_home(env), *_survey_secret(env)]
