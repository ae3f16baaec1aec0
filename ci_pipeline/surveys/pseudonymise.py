"""Pseudonymisation of respondent ids: a keyed hash (HMAC-SHA256) with a secret from the environment.

The same id gives the same key in every wave (that is what lets change per person be measured), but
without the secret nobody can go from an id to its key or test a guessed id. Real waves are refused when
the secret is missing; only illustrative (synthetic) waves may fall back to a published, non-secret key,
which is fine because their ids are made up.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping

SECRET_ENV_VAR = "CI_SURVEY_PSEUDONYM_KEY"
# Used only for waves marked illustrative in waves.yaml; it is in the source code, so it protects nothing.
ILLUSTRATIVE_KEY = b"ci-pipeline-illustrative-waves-not-a-secret"
MIN_SECRET_BYTES = 16


class PseudonymisationError(RuntimeError):
    """The pipeline refuses to ingest a wave because it cannot pseudonymise it safely."""


def pseudonym_secret(wave_id: str, illustrative: bool, env: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key for a wave: the environment secret, or the illustrative key for an illustrative wave."""
    env = os.environ if env is None else env
    secret = env.get(SECRET_ENV_VAR, "")
    if secret:
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise PseudonymisationError(
                f"{SECRET_ENV_VAR} is shorter than {MIN_SECRET_BYTES} bytes; use a long random secret"
            )
        return secret.encode("utf-8")
    if illustrative:
        return ILLUSTRATIVE_KEY
    raise PseudonymisationError(
        f"wave {wave_id!r} is not marked illustrative and {SECRET_ENV_VAR} is not set: refusing to ingest "
        "real respondent ids without the pseudonymisation secret"
    )


def pseudonymise(respondent_id: str, secret: bytes) -> str:
    """HMAC-SHA256 of the id (stripped of surrounding whitespace), as 64 hex characters."""
    return hmac.new(secret, respondent_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymise_all(respondent_ids: Iterable[str], secret: bytes) -> list[str | None]:
    """Keys for a column of ids; an empty id stays None (validation quarantines the row)."""
    return [pseudonymise(rid, secret) if rid and rid.strip() else None for rid in respondent_ids]
