"""Pseudonymisation of respondent ids: a keyed hash (HMAC-SHA256) with a secret from the environment.

The same id gives the same key in every wave (that is what lets change per person be measured), but
without the secret nobody can go from an id to its key or test a guessed id. Real waves are refused when
the secret is missing or weak; illustrative (synthetic) waves always use a published, non-secret key,
which is fine because their ids are made up.

Each stored wave carries the fingerprint of the key it was pseudonymised with: an HMAC of a constant
under the key, together with the codebook's id normalisation (both decide which key a person gets). It
reveals nothing about the key, but a later wave pseudonymised with another key (or another
normalisation) is recognised and refused, instead of silently becoming a panel of strangers.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import pairwise

SECRET_ENV_VAR = "CI_SURVEY_PSEUDONYM_KEY"
# Used only for waves marked illustrative in waves.yaml; it is in the source code, so it protects nothing.
ILLUSTRATIVE_KEY = b"ci-pipeline-illustrative-waves-not-a-secret"
MIN_SECRET_BYTES = 16
# Estimated entropy of a secret: its length times the Shannon entropy of its characters. A 22-character
# random base64 string has about 120 bits; "passwordpassword" has 44.
MIN_SECRET_BITS = 80
FINGERPRINT_MESSAGE = b"ci_pipeline survey pseudonym key fingerprint v1"
HOW_TO_MAKE_A_KEY = "make one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\""


class PseudonymisationError(RuntimeError):
    """The pipeline refuses to ingest a wave because it cannot pseudonymise it safely."""


def estimated_bits(secret: str) -> float:
    counts = Counter(secret)
    entropy = -sum(c / len(secret) * math.log2(c / len(secret)) for c in counts.values())
    return entropy * len(secret)


def weakness(secret: str) -> str | None:
    """Why `secret` is not a usable pseudonymisation key, or None."""
    if not secret.strip():
        return "is only whitespace"
    if secret != secret.strip():
        return "begins or ends with whitespace (a copy-paste accident would change every key)"
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    steps = [ord(b) - ord(a) for a, b in pairwise(secret)]
    if sum(step in (-1, 0, 1) for step in steps) > len(steps) / 2:
        return "is mostly repeated or consecutive characters (like 'aaaa' or 'abcd')"
    if estimated_bits(secret) < MIN_SECRET_BITS:
        return f"has too little entropy (about {estimated_bits(secret):.0f} bits, at least {MIN_SECRET_BITS} needed)"
    return None


def pseudonym_secret(wave_id: str, illustrative: bool, env: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key for a wave: the illustrative key for an illustrative wave, else the environment secret."""
    if illustrative:
        return ILLUSTRATIVE_KEY
    env = os.environ if env is None else env
    secret = env.get(SECRET_ENV_VAR)
    if secret is None or secret == "":
        raise PseudonymisationError(
            f"wave {wave_id!r} is not marked illustrative and {SECRET_ENV_VAR} is not set: refusing to ingest "
            f"real respondent ids without the pseudonymisation secret ({HOW_TO_MAKE_A_KEY}, and keep it)"
        )
    problem = weakness(secret)
    if problem:
        raise PseudonymisationError(f"{SECRET_ENV_VAR} {problem}: refusing to pseudonymise wave {wave_id!r} "
                                    f"with it; use a long random secret ({HOW_TO_MAKE_A_KEY})")
    return secret.encode("utf-8")


def key_fingerprint(secret: bytes, id_normalisation: str) -> str:
    """HMAC-SHA256 of a constant and the id normalisation rule under the key, as hex: equal for two waves
    exactly when the same person gets the same key in both."""
    return hmac.new(secret, FINGERPRINT_MESSAGE + b"\0" + id_normalisation.encode(), hashlib.sha256).hexdigest()


def pseudonymise(respondent_id: str, secret: bytes) -> str:
    """HMAC-SHA256 of the id (stripped of surrounding whitespace), as 64 hex characters."""
    return hmac.new(secret, respondent_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymise_all(respondent_ids: Iterable[str], secret: bytes) -> list[str | None]:
    """Keys for a column of ids; an empty id stays None (validation quarantines the row)."""
    return [pseudonymise(rid, secret) if rid and rid.strip() else None for rid in respondent_ids]
