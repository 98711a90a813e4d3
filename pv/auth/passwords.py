"""Password hashing: argon2id through argon2-cffi (RFC 9106 parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pv.i18n import ngettext

# argon2id with 19 MiB, 2 iterations, 1 lane: OWASP's minimum recommended configuration,
# which keeps a log-in near 20 ms on one core.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def check_strength(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return ngettext(
            "a password needs at least %(num)d character",
            "a password needs at least %(num)d characters",
            MIN_LENGTH,
        )
    return None


# A fixed hash to verify against when the user does not exist, so that the time a
# failed log-in takes does not tell whether the username exists.
DUMMY_HASH = _hasher.hash("not-a-real-password")
