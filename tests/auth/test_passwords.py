"""Password rules after NIST SP 800-63B (issue 13, point 2): 12 to 256 characters, not a
common or easily guessed password (zxcvbn), not containing the user name or a study id;
each refusal says what is wrong."""

from __future__ import annotations

import pytest

from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.passwords import check_strength, verify_password
from pv.auth.service import AccountError, create_user, set_password
from pv.db import write_session

GOOD = "lantern otter quarry"


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short pass", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("password1234", "list of commonly used passwords"),
        ("iloveyou1234", "list of commonly used passwords"),
        ("qwertyuiop12", "too easy to guess"),
        ("123456789012", "too easy to guess"),
        ("my name is Inv1 ok", "must not contain the user name"),
        ("trial nct04660565 pass", "must not contain a study id (NCT04660565)"),
    ],
)
def test_refused_passwords_say_what_is_wrong(password: str, says: str) -> None:
    problem = check_strength(password, username="inv1", study_ids=["NCT04660565"])
    assert problem is not None and says in problem


@pytest.mark.parametrize("password", [GOOD, "correct horse battery", "Ünïcode wörds ok 42"])
def test_good_passphrases_are_accepted(password: str) -> None:
    assert check_strength(password, username="inv1", study_ids=["NCT04660565"]) is None


def test_a_short_user_name_is_not_searched_for() -> None:
    # "al" would forbid every password with those two letters in it
    assert check_strength("a calm alpine lake", username="al") is None


def test_the_services_apply_the_rules_with_the_name_and_the_studies(app_env) -> None:
    with write_session(app_env.engine) as s:
        with pytest.raises(AccountError, match="must not contain the user name"):
            create_user(session=s, actor=Actor.system("tests"), username="marguerite",
                        role="officer", password="hello MARGUERITE 77")  # fmt: skip
        with pytest.raises(AccountError, match=r"must not contain a study id \(NCT04660565\)"):
            create_user(session=s, actor=Actor.system("tests"), username="paul",
                        role="officer", password="xNCT04660565x secret")  # fmt: skip
        user = s.get(User, app_env.users["officer"].id)
        with pytest.raises(AccountError, match="commonly used"):
            set_password(session=s, actor=Actor.system("tests"), user=user,
                         password="password1234")  # fmt: skip
        set_password(session=s, actor=Actor.system("tests"), user=user, password=GOOD)
        assert verify_password(user.password_hash, GOOD)
