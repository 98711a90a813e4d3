"""Password hashing: argon2id through argon2-cffi (RFC 9106 parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id, 64 MiB, 3 iterations, 4 lanes (argon2-cffi's RFC 9106 low-memory profile).
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
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
        return f"a password needs at least {MIN_LENGTH} characters"
    return None


# A fixed hash to verify against when the user does not exist, so that the time a
# failed log-in takes does not tell whether the username exists.
DUMMY_HASH = _hasher.hash("not-a-real-password")
