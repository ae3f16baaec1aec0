"""Who answers for which assets: <catalogue root>/owners.yaml, shown by Dagster as each asset's owners.

    default: [team:shared-measurement]    # owners of every asset whose group is not listed below
    groups:                               # asset group (sources, staging, surveys, marts, ...) -> owners
      sources: [team:data-engineering, data@example.org]

An owner is an e-mail address or `team:<name>` (Dagster's two forms). The file is read like every
configuration file (ci_pipeline/config.py): an unknown key or a malformed owner is an error naming the
file and key; a group that no asset belongs to is reported by the Dagster layer, which knows the groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from ci_pipeline.config import ConfigModel, load_model, matching

OWNERS_FILE = "owners.yaml"

Owner = Annotated[str, matching(r"team:[A-Za-z0-9][A-Za-z0-9_.-]*|[^@\s]+@[^@\s]+\.[^@\s]+",
                                "an e-mail address or team:<name>")]
Owners = Annotated[list[Owner], Field(min_length=1)]


class Ownership(ConfigModel):
    default: Owners
    groups: dict[str, Owners] = Field(default_factory=dict)

    def of(self, group: str | None) -> list[str]:
        return list(self.groups.get(group or "", self.default))


def load_ownership(catalogue_root: Path, root: Path | None = None) -> Ownership:
    return load_model(Ownership, Path(catalogue_root) / OWNERS_FILE, root=root)
