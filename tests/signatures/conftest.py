"""The review tests' world (a study, two sites, one user per role, all with PASSWORD)."""

from tests.review.conftest import world  # noqa: F401 (the fixture)
