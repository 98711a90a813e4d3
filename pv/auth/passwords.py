"""Password hashing (argon2id through argon2-cffi, RFC 9106 parameters) and the password
rules, after NIST SP 800-63B section 3.1.1.2: a length of 12 to 256 characters (any
characters, spaces included; no composition rules), refused when it is a commonly used or
easily guessed password (the zxcvbn strength estimator and its lists of common passwords,
words and names), or when it contains the user name or a study id (case-insensitive)."""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pv.i18n import gettext as _
from pv.i18n import ngettext

# argon2id with 19 MiB, 2 iterations, 1 lane: OWASP's minimum recommended configuration,
# which keeps a log-in near 20 ms on one core.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn scores 0 (too guessable) to 4; below 3 ("safely unguessable: moderate protection
# from an offline slow-hash scenario", more than 10^8 guesses) is refused.
MIN_SCORE = 3
# zxcvbn examines at most this many leading characters (its own limit; its matching grows
# quickly with length). A longer password is judged by its start, which is where a weak
# pattern such as a repeated character would show.
ESTIMATE_CHARS = 72
# A user name shorter than this is not looked for inside the password (a one- or
# two-letter name would forbid half the dictionary).
MIN_NAME_IN_PASSWORD = 3


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`. Always runs one argon2 verification, against
    DUMMY_HASH when there is no stored hash, so an account without a password answers in
    the same time as one with a password."""
    try:
        ok = _hasher.verify(stored or DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and bool(stored)


def _estimate(password: str, hints: list[str]) -> dict:  # type: ignore[type-arg]
    from zxcvbn import zxcvbn

    return zxcvbn(password[:ESTIMATE_CHARS], user_inputs=hints)  # type: ignore[no-any-return]


def check_strength(
    password: str, *, username: str | None = None, study_ids: Iterable[str] = ()
) -> str | None:
    """What is wrong with a new password (a translated sentence), or None when it is
    acceptable."""
    if len(password) < MIN_LENGTH:
        return ngettext(
            "a password needs at least %(num)d character",
            "a password needs at least %(num)d characters",
            MIN_LENGTH,
        )
    if len(password) > MAX_LENGTH:
        return ngettext(
            "a password has at most %(num)d character",
            "a password has at most %(num)d characters",
            MAX_LENGTH,
        )
    folded = password.casefold()
    name = (username or "").strip()
    if len(name) >= MIN_NAME_IN_PASSWORD and name.casefold() in folded:
        return _("a password must not contain the user name")
    studies = [s for s in study_ids if s]
    for study in studies:
        if study.casefold() in folded:
            return _("a password must not contain a study id (%(study)s)", study=study)
    result = _estimate(password, [h for h in (name, *studies) if h])
    sequence = result.get("sequence") or []
    if sequence and all(m.get("dictionary_name") == "passwords" for m in sequence):
        return _("this password is on a list of commonly used passwords: choose another")
    if result["score"] < MIN_SCORE:
        return _(
            "this password is too easy to guess (a common word, name, date, repeated "
            "characters, a sequence or a keyboard pattern): a passphrase of several "
            "unrelated words works well"
        )
    return None


# A fixed hash to verify against when the user does not exist, is disabled, locked or has
# no password, so that the time a failed log-in takes does not tell which.
DUMMY_HASH = _hasher.hash("not-a-real-password")
